"""The executor-based estimator, as ``qiskit_ibm_runtime.executor_estimator``: ``AsyncEstimator``.

Client-side preparation (qiskit-mitigation tasks, TREX calibration) and post-processing
(readout-mitigated expectation values) around one ``executor`` job; ``await job`` gives qiskit's
``PrimitiveResult``. See :mod:`aioqruntime.primitives._executor_estimator`.
"""

from __future__ import annotations

from aioqruntime.primitives._executor_estimator import AsyncExecutorEstimator as AsyncEstimator
from aioqruntime.primitives._executor_options import ExecutorEstimatorOptions as EstimatorOptions

__all__ = ["AsyncEstimator", "EstimatorOptions"]
