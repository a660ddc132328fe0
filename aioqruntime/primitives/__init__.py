"""``AsyncSampler`` and ``AsyncEstimator``: the Runtime V2 primitives, async; ``AsyncExecutor``
and the executor-based ``AsyncExecutorSampler`` / ``AsyncExecutorEstimator``."""

from __future__ import annotations

from aioqruntime.primitives._executor import (
    AsyncExecutor,
    QuantumProgram,
    QuantumProgramResult,
)
from aioqruntime.primitives._executor_estimator import AsyncExecutorEstimator
from aioqruntime.primitives._executor_options import (
    ExecutorEstimatorOptions,
    ExecutorOptions,
    ExecutorSamplerOptions,
)
from aioqruntime.primitives._executor_sampler import AsyncExecutorSampler
from aioqruntime.primitives._option_classes import EstimatorOptions, SamplerOptions
from aioqruntime.primitives._primitives import AsyncEstimator, AsyncSampler

__all__ = [
    "AsyncEstimator",
    "AsyncExecutor",
    "AsyncExecutorEstimator",
    "AsyncExecutorSampler",
    "AsyncSampler",
    "EstimatorOptions",
    "ExecutorEstimatorOptions",
    "ExecutorOptions",
    "ExecutorSamplerOptions",
    "QuantumProgram",
    "QuantumProgramResult",
    "SamplerOptions",
]
