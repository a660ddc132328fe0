"""aioqruntime: an asyncio-native client for IBM Qiskit Runtime.

Importing the package is cheap: qiskit, numpy and aiohttp are loaded only when a name that needs
them is first used (the public names below are resolved lazily).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from aioqruntime._exceptions import (
    AmbiguousSubmissionError,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CodecError,
    ConflictError,
    InsecureTransportWarning,
    InternalServerError,
    InvalidInputError,
    JobCancelledError,
    JobError,
    JobFailedError,
    JobNotDoneError,
    JobRanTooLongError,
    JobTimeoutError,
    JobTrackingError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProtocolError,
    QRuntimeError,
    RateLimitError,
    ServiceClosedError,
    SessionClosedError,
    SessionError,
)
from aioqruntime._version import __version__

# The official client's names for the same situations (docs/PORTING.md, "Errors"): catching the
# official name catches ours. RuntimeInvalidStateError has no single twin (see the guide).
IBMInputValueError = InvalidInputError
IBMNotAuthorizedError = AuthenticationError
RuntimeJobFailureError = JobFailedError
RuntimeJobTimeoutError = JobTimeoutError

if TYPE_CHECKING:
    from aioqruntime.primitives import (
        AsyncEstimator,
        AsyncExecutor,
        AsyncSampler,
        EstimatorOptions,
        ExecutorOptions,
        QuantumProgram,
        QuantumProgramResult,
        SamplerOptions,
    )
    from aioqruntime.runtime import (
        AsyncBatch,
        AsyncRuntimeJob,
        AsyncRuntimeService,
        AsyncSession,
        BackendStatusInfo,
        JobStatusReading,
        ServiceBackend,
        as_completed,
        job_label,
    )
    from aioqruntime.server import LocalRuntimeServer

# Public name -> module that defines it; imported on first access.
_LAZY = {
    "AsyncRuntimeService": "aioqruntime.runtime",
    "AsyncSession": "aioqruntime.runtime",
    "AsyncBatch": "aioqruntime.runtime",
    "AsyncRuntimeJob": "aioqruntime.runtime",
    "as_completed": "aioqruntime.runtime",
    "job_label": "aioqruntime.runtime",
    "ServiceBackend": "aioqruntime.runtime",
    "BackendStatusInfo": "aioqruntime.runtime",
    "JobStatusReading": "aioqruntime.runtime",
    "AsyncSampler": "aioqruntime.primitives",
    "AsyncEstimator": "aioqruntime.primitives",
    "SamplerOptions": "aioqruntime.primitives",
    "EstimatorOptions": "aioqruntime.primitives",
    "AsyncExecutor": "aioqruntime.primitives",
    "ExecutorOptions": "aioqruntime.primitives",
    "QuantumProgram": "aioqruntime.primitives",
    "QuantumProgramResult": "aioqruntime.primitives",
    "LocalRuntimeServer": "aioqruntime.server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aioqruntime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    if module == "aioqruntime.runtime":
        # The primitives register the decoders of their programs' results, so a job found again
        # by id (service.job, resume) decodes as its submitter meant it (runtime/_decoders.py).
        importlib.import_module("aioqruntime.primitives")
    globals()[name] = value
    return value


__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AmbiguousSubmissionError",
    "AsyncBatch",
    "AsyncEstimator",
    "AsyncExecutor",
    "AsyncRuntimeJob",
    "AsyncRuntimeService",
    "AsyncSampler",
    "AsyncSession",
    "AuthenticationError",
    "BackendStatusInfo",
    "BadRequestError",
    "CodecError",
    "ConflictError",
    "EstimatorOptions",
    "ExecutorOptions",
    "IBMInputValueError",
    "IBMNotAuthorizedError",
    "InsecureTransportWarning",
    "InternalServerError",
    "InvalidInputError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobNotDoneError",
    "JobRanTooLongError",
    "JobStatusReading",
    "JobTimeoutError",
    "JobTrackingError",
    "LocalRuntimeServer",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
    "QRuntimeError",
    "QuantumProgram",
    "QuantumProgramResult",
    "RateLimitError",
    "RuntimeJobFailureError",
    "RuntimeJobTimeoutError",
    "SamplerOptions",
    "ServiceBackend",
    "ServiceClosedError",
    "SessionClosedError",
    "SessionError",
    "__version__",
    "as_completed",
    "job_label",
]
