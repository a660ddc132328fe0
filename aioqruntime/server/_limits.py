"""The service's submission rate limit, as a sliding window per instance.

IBM documents "5 jobs per minute per user" for ``POST /jobs`` but not how it is signalled; we answer
429 with ``Retry-After`` (whole seconds until the oldest submission leaves the window), which
our own client honours (the official client 0.51.0 does not retry a 429 on ``POST /jobs``: it
raises ``IBMRuntimeError``).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

__all__ = ["SubmissionRateLimiter"]


class SubmissionRateLimiter:
    """At most ``per_minute`` admissions per key in any ``window`` seconds (injectable clock).

    ``window`` is 60 s like the service's; a shorter one scales time (benchmarks run "5 per minute"
    at 30x as 5 per 2 s).
    """

    def __init__(
        self,
        per_minute: int,
        *,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        if not window > 0:
            raise ValueError("window must be positive")
        self.per_minute = per_minute
        self.window = window
        self._clock = clock
        self._admitted: dict[str, deque[float]] = {}

    def try_acquire(self, key: str) -> float | None:
        """Admit one submission for ``key``: ``None`` if admitted, else seconds to wait."""
        now = self._clock()
        admitted = self._admitted.setdefault(key, deque())
        while admitted and now - admitted[0] >= self.window:
            admitted.popleft()
        if len(admitted) < self.per_minute:
            admitted.append(now)
            return None
        return max(0.0, self.window - (now - admitted[0]))

    @staticmethod
    def retry_after_header(wait: float) -> str:
        """``Retry-After`` takes whole seconds; round up and never say 0."""
        return str(max(1, math.ceil(wait)))
