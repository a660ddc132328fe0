"""The executor-based sampler, as ``qiskit_ibm_runtime.executor_sampler``: ``AsyncSampler``.

Client-side preparation (twirling with samplomatic) and post-processing around one ``executor``
job; ``await job`` gives qiskit's ``PrimitiveResult``. See
:mod:`aioqruntime.primitives._executor_sampler`.
"""

from __future__ import annotations

from aioqruntime.primitives._executor_options import ExecutorSamplerOptions as SamplerOptions
from aioqruntime.primitives._executor_sampler import AsyncExecutorSampler as AsyncSampler

__all__ = ["AsyncSampler", "SamplerOptions"]
