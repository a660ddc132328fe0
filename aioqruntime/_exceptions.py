"""The single error tree of aioqruntime.

Every exception the package raises on purpose derives from :class:`QRuntimeError`::

    QRuntimeError
    ├── InvalidInputError (also a ValueError)     bad input, raised before anything is sent
    ├── CodecError (also a ValueError)            a wire document could not be encoded or decoded
    ├── ProtocolError                             the server sent something we cannot understand
    ├── APIError                                  an HTTP exchange with the service failed
    │   ├── APIStatusError                        the server answered with a non-2xx status
    │   │   ├── BadRequestError            400
    │   │   ├── AuthenticationError        401
    │   │   ├── PermissionDeniedError      403
    │   │   ├── NotFoundError              404
    │   │   ├── ConflictError              409
    │   │   ├── PayloadTooLargeError       413
    │   │   ├── RateLimitError             429
    │   │   └── InternalServerError        5xx
    │   ├── APIConnectionError                    no (complete) answer at all
    │   │   └── APITimeoutError
    │   └── AmbiguousSubmissionError              POST /jobs failed after the body may have arrived
    ├── JobError                                  the job ran on the service and did not succeed
    │   ├── JobFailedError                        state Failed
    │   ├── JobCancelledError                     state Cancelled
    │   └── JobRanTooLongError                    Cancelled, reason code 1305 (max time)
    ├── JobNotDoneError                           result() asked of a job that is not final yet
    │   └── JobTimeoutError (also a TimeoutError) result(timeout=)/wait_for_final_state ran out
    ├── JobTrackingError                          the service cannot say how the job is doing
    └── SessionError                              the session cannot take this request
        └── SessionClosedError                    closed or cancelled (here or by the server)
            └── ServiceClosedError                the service itself is closed or not entered
                                                  (also a RuntimeError): nothing can be sent

One warning category lives here too: :class:`InsecureTransportWarning` (a ``UserWarning``), emitted
when TLS certificate verification is turned off with ``verify=False``.

Transport failures (:class:`APIError`) and job outcomes (:class:`JobError`) are separate branches
so that callers can catch them in different places. Causes are always chained.
Messages never contain credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AmbiguousSubmissionError",
    "AuthenticationError",
    "BadRequestError",
    "CodecError",
    "ConflictError",
    "InsecureTransportWarning",
    "InternalServerError",
    "InvalidInputError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobNotDoneError",
    "JobRanTooLongError",
    "JobTimeoutError",
    "JobTrackingError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
    "QRuntimeError",
    "RateLimitError",
    "ServiceClosedError",
    "SessionClosedError",
    "SessionError",
]


class QRuntimeError(Exception):
    """Root of every error aioqruntime raises on purpose."""


class InvalidInputError(QRuntimeError, ValueError):
    """The caller passed a value we refuse; nothing was sent."""


class CodecError(QRuntimeError, ValueError):
    """A wire document could not be encoded or decoded.

    ``path`` names where in the document it failed, as a JSON-pointer-like string
    (for example ``/__value__/pub_results/0/__value__/data``).
    """

    def __init__(self, message: str, *, path: str = "") -> None:
        self.path = path
        super().__init__(f"{message} (at {path or '/'})")


class ProtocolError(QRuntimeError):
    """The server sent a response we cannot understand (missing field, wrong type...)."""


class APIError(QRuntimeError):
    """An HTTP exchange with the service failed."""

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        self.method = method
        self.url = url
        super().__init__(message)


class APIStatusError(APIError):
    """The server answered with a non-2xx status.

    Attributes carry what the server said: ``status``, the IBM error ``code`` and ``server_message``
    from the ``errors[]`` body (when present), the raw ``body`` text and the ``request_id`` (trace).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        server_message: str | None = None,
        body: str = "",
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        method: str = "",
        url: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.server_message = server_message
        self.body = body
        self.request_id = request_id
        self.headers: Mapping[str, str] = dict(headers or {})
        super().__init__(message, method=method, url=url)


class BadRequestError(APIStatusError):
    """400: the server refused the request as invalid."""


class AuthenticationError(APIStatusError):
    """401: missing, bad or expired credentials."""


class PermissionDeniedError(APIStatusError):
    """403: the credentials do not allow this."""


class NotFoundError(APIStatusError):
    """404: no such job, session or backend (for this instance)."""


class ConflictError(APIStatusError):
    """409: the resource is not in a state that allows this (e.g. cancelling a finished job)."""


class PayloadTooLargeError(APIStatusError):
    """413: the request body is larger than the service accepts."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` holds the server's hint in seconds, if any."""

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("Retry-After") or self.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class InternalServerError(APIStatusError):
    """5xx: the service failed."""


class APIConnectionError(APIError):
    """No (complete) answer: connection refused, reset or dropped.

    ``request_sent`` says whether the request may have reached the server (``False``: it
    certainly did not, e.g. connection refused), which decides whether a request with an effect
    may be repeated; ``retryable`` is ``False`` when another attempt cannot help (a rejected
    certificate).
    """

    def __init__(
        self, message: str, *, request_sent: bool = True, retryable: bool = True, **kwargs: Any
    ) -> None:
        self.request_sent = request_sent
        self.retryable = retryable
        super().__init__(message, **kwargs)


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class AmbiguousSubmissionError(APIError):
    """``POST /jobs`` failed in a way that leaves open whether the job was created.

    The runtime never resubmits blindly: after such a failure it looks the job up by its client tag
    (``GET /jobs?tags=...``) and submits again only once the job is known not to exist. This error
    reaches the caller only when that reconciliation itself kept failing past the retry budget.
    ``job_tag`` is the client tag the submission carried, which finds the job if the server did
    create it.
    """

    def __init__(self, message: str, *, job_tag: str | None = None, **kwargs: Any) -> None:
        self.job_tag = job_tag
        super().__init__(message, **kwargs)


class JobError(QRuntimeError):
    """The job ran on the service and did not succeed."""

    def __init__(
        self,
        message: str,
        *,
        job_id: str,
        status: str,
        reason: str | None = None,
        reason_code: int | None = None,
    ) -> None:
        self.job_id = job_id
        self.status = status
        self.reason = reason
        self.reason_code = reason_code
        super().__init__(message)


class JobFailedError(JobError):
    """The job failed (server state ``Failed``)."""


class JobCancelledError(JobError):
    """The job was cancelled (server state ``Cancelled``)."""


class JobRanTooLongError(JobError):
    """The job exceeded its maximum execution time (``Cancelled`` with reason code 1305)."""


class JobNotDoneError(QRuntimeError):
    """``result()`` was called on a job that has not reached a final state; await it instead."""


class JobTimeoutError(JobNotDoneError, TimeoutError):
    """``result(timeout=)`` or ``wait_for_final_state(timeout=)`` ended before the job was final.

    The job itself still runs (the official ``RuntimeJobTimeoutError``).
    """


class JobTrackingError(QRuntimeError):
    """The service cannot tell how this job is doing, so waiting for it would never end.

    Raised to the job's waiters when neither form of status request answers: the job list
    (``GET /jobs``) is missing (404/405/501) or malformed again and again, and the per-job
    ``GET /jobs/{id}`` is missing too or keeps answering what cannot be read. The job itself
    may still run on the service: ``job_id`` finds it. The cause is chained.
    """

    def __init__(self, message: str, *, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(message)


class SessionError(QRuntimeError):
    """The session cannot take this request."""


class SessionClosedError(SessionError):
    """The session is closed or cancelled; it accepts no more jobs."""


class ServiceClosedError(SessionClosedError, RuntimeError):
    """The :class:`~aioqruntime.AsyncRuntimeService` is closed (or was never entered).

    Raised by anything that would need to talk to the service after its ``async with`` block
    ended: ``service.backend()``, ``session.run()``, and the handles it left behind
    (``job.cancel()``, ``refresh()``, ``logs()``, ``metrics()``, ``update_tags()``...). A closed
    service closes every session of it, hence a :class:`SessionClosedError`; it is also a
    ``RuntimeError`` (what earlier versions raised). The jobs themselves keep running on the
    service: find them again with ``service.job(id)`` from a new service.
    """


class InsecureTransportWarning(UserWarning):
    """TLS certificate verification was turned off (``verify=False``): anyone on the path can
    read and change the traffic, credentials included."""
