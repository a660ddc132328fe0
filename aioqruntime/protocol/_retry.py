"""Retry policy arithmetic (style rule H3, protocol.md §8.3): what to retry and how long to wait.

Pure functions over a frozen :class:`RetryPolicy`; the transport owns the loop and the sleeping.

Which failures are retried:

* a connection that failed **before the request was sent** (refused, DNS): always safe;
* ``429 Too Many Requests``: the service refused the request without processing it, so it is
  retried for every method, after ``Retry-After`` when given;
* a status in ``retry_statuses`` (500, 502, 503, 504, 520, 521, 522, 524), a read timeout or a
  connection dropped after sending: retried for idempotent requests (GET/PUT/DELETE). For
  ``POST``/``PATCH`` they are *ambiguous* (the job may exist): retried only when the caller says
  so with ``retry_ambiguous=True`` (e.g. after reconciling a tagged ``POST /jobs`` by listing jobs
  with its tag, or because it trusts IBM's statement that POST is safe on those codes).

Delays: exponential ``initial·multiplier^(n-1)`` capped at ``max_delay`` with full jitter
(uniform in ``[0, cap]``), or the server's ``Retry-After`` capped at ``max_retry_after``.
The default cap of 8 s matches the official client's backoff after five retries
(0.5·2^4 = 8 s), so six attempts span at most about 15 s before jitter.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Final, Protocol

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "RetryPolicy",
    "UniformSource",
    "backoff_ceiling",
    "parse_retry_after",
    "retry_delay",
    "should_retry",
]

#: Statuses the official client retries (urllib3 ``status_forcelist``), incl. Cloudflare 52x.
DEFAULT_RETRY_STATUSES: Final = frozenset({500, 502, 503, 504, 520, 521, 522, 524})
_TOO_MANY_REQUESTS: Final = 429
# Beyond this exponent the backoff is at its cap anyway; avoids float overflow for huge attempts.
_MAX_EXPONENT: Final = 64


class UniformSource(Protocol):
    """What :func:`retry_delay` needs of a random generator (``random.Random`` fits)."""

    def uniform(self, a: float, b: float) -> float: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry one request. Attempts count the first try."""

    max_attempts: int = 6
    initial: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 8.0
    jitter: bool = True
    retry_statuses: frozenset[int] = field(default=DEFAULT_RETRY_STATUSES)
    #: Upper bound on an honoured ``Retry-After`` (seconds); larger hints are clipped.
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must be >= 0")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that makes exactly one attempt."""
        return cls(max_attempts=1)


def should_retry(
    policy: RetryPolicy,
    attempt: int,
    *,
    idempotent: bool,
    status: int | None = None,
    connection_error: bool = False,
    request_sent: bool = True,
    timeout: bool = False,
    retry_ambiguous: bool = False,
) -> bool:
    """Whether to make another attempt after attempt number ``attempt`` (1-based) failed.

    Describe the failure with ``status`` (a response arrived), or ``connection_error`` (with
    ``request_sent=False`` when it failed before any byte left, e.g. connection refused), or
    ``timeout``.
    """
    if attempt >= policy.max_attempts:
        return False
    repeatable = idempotent or retry_ambiguous
    if connection_error:
        return not request_sent or repeatable
    if timeout:
        return repeatable
    if status is None:
        return False
    if status == _TOO_MANY_REQUESTS:
        return True
    return status in policy.retry_statuses and repeatable


def backoff_ceiling(policy: RetryPolicy, attempt: int) -> float:
    """The un-jittered wait after attempt ``attempt`` (1-based): ``initial·multiplier^(n-1)``."""
    exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
    return min(policy.max_delay, policy.initial * policy.multiplier**exponent)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` in seconds from now, or ``None`` if absent or unreadable.

    ``value`` is delta-seconds (``"2"``, also ``"1.5"``) or an HTTP-date; ``now`` is the current
    wall-clock time as a POSIX timestamp (HTTP dates are wall-clock). Past dates give ``0.0``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_http_date(text, now)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _seconds_until_http_date(text: str, now: float) -> float | None:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, moment.timestamp() - now)


def retry_delay(
    policy: RetryPolicy,
    attempt: int,
    retry_after: str | None = None,
    rng: UniformSource | None = None,
    *,
    now: float | None = None,
) -> float:
    """Seconds to wait before the attempt after ``attempt`` (1-based).

    A readable ``Retry-After`` header wins (capped at ``policy.max_retry_after``, no jitter);
    otherwise the exponential ceiling with full jitter drawn from ``rng``. ``now`` (POSIX time)
    is needed only to read an HTTP-date; without it a date is ignored.
    """
    if retry_after is not None and (now is not None or _is_number(retry_after)):
        hinted = parse_retry_after(retry_after, now if now is not None else 0.0)
        if hinted is not None:
            return min(hinted, policy.max_retry_after)
    ceiling = backoff_ceiling(policy, attempt)
    if not policy.jitter:
        return ceiling
    source: UniformSource = rng if rng is not None else random
    return source.uniform(0.0, ceiling)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
