"""``AsyncSampler`` and ``AsyncEstimator``: the Runtime V2 primitives, async."""

from __future__ import annotations

from aioqruntime.primitives._option_classes import EstimatorOptions, SamplerOptions
from aioqruntime.primitives._primitives import AsyncEstimator, AsyncSampler

__all__ = ["AsyncEstimator", "AsyncSampler", "EstimatorOptions", "SamplerOptions"]
