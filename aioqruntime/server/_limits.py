"""The service's submission rate limit, as a sliding window per instance.

IBM documents "5 jobs per minute per user" for ``POST /jobs`` but not how it is signalled; we answer
429 with ``Retry-After`` (whole seconds until the oldest submission leaves the window), which
is what the official client's urllib3 retry and our own client both understand.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

__all__ = ["SubmissionRateLimiter"]

_WINDOW = 60.0


class SubmissionRateLimiter:
    """At most ``per_minute`` admissions per key in any 60 s window (injectable clock)."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self._clock = clock
        self._admitted: dict[str, deque[float]] = {}

    def try_acquire(self, key: str) -> float | None:
        """Admit one submission for ``key``: ``None`` if admitted, else seconds to wait."""
        now = self._clock()
        window = self._admitted.setdefault(key, deque())
        while window and now - window[0] >= _WINDOW:
            window.popleft()
        if len(window) < self.per_minute:
            window.append(now)
            return None
        return max(0.0, _WINDOW - (now - window[0]))

    @staticmethod
    def retry_after_header(wait: float) -> str:
        """``Retry-After`` takes whole seconds; round up and never say 0."""
        return str(max(1, math.ceil(wait)))
