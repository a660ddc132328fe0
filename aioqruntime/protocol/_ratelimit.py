"""Token-bucket arithmetic for client-side rate limiting (style rule H5).

The service limits job submission to 5 per minute per user (protocol.md §8.4). The bucket holds up
to ``burst`` tokens and refills at ``rate_per_minute``; the async wrapper asks
:meth:`TokenBucket.acquire_delay` how long to sleep, then sleeps. Time is always passed in
(``now``, monotonic seconds), so tests drive it without sleeping.

Reservations: ``acquire_delay`` takes a token even when none is left, letting the balance go
negative, so concurrent callers queue in order (the n-th waiter gets the n-th refill). A caller
cancelled while waiting gives its token back with :meth:`TokenBucket.refund`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["BucketStatistics", "SlidingWindowLimit", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class BucketStatistics:
    """A snapshot for ``statistics()``: tokens may be negative (queued reservations)."""

    tokens: float
    rate_per_minute: float
    burst: int
    throttled: bool


@dataclass(slots=True)
class TokenBucket:
    """A token bucket driven by an injected clock. Not thread-safe: one event loop owns it."""

    rate_per_minute: float
    burst: int = 1
    #: Start full (``None``) or with this many tokens.
    initial_tokens: float | None = None
    _tokens: float = field(init=False)
    _updated_at: float | None = field(default=None, init=False)
    _nominal_rate: float = field(init=False)

    def __post_init__(self) -> None:
        if self.rate_per_minute <= 0:
            raise ValueError(f"rate_per_minute must be > 0, got {self.rate_per_minute}")
        if self.burst < 1:
            raise ValueError(f"burst must be >= 1, got {self.burst}")
        self._tokens = float(self.burst if self.initial_tokens is None else self.initial_tokens)
        self._nominal_rate = self.rate_per_minute

    @property
    def rate_per_second(self) -> float:
        return self.rate_per_minute / 60.0

    def _refill(self, now: float) -> None:
        if self._updated_at is not None and now > self._updated_at:
            elapsed = now - self._updated_at
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_second)
        # A clock that goes backwards adds nothing (and does not move our reference back).
        if self._updated_at is None or now > self._updated_at:
            self._updated_at = now

    def tokens(self, now: float) -> float:
        """Tokens available at ``now`` (negative while reservations are queued)."""
        self._refill(now)
        return self._tokens

    def acquire_delay(self, now: float, tokens: float = 1.0) -> float:
        """Reserve ``tokens`` and return how long to wait before using them (0 if available)."""
        if tokens <= 0:
            raise ValueError(f"tokens must be > 0, got {tokens}")
        self._refill(now)
        self._tokens -= tokens
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate_per_second

    def try_acquire(self, now: float, tokens: float = 1.0) -> bool:
        """Take ``tokens`` only if they are available right now."""
        self._refill(now)
        if self._tokens >= tokens:
            self._tokens -= tokens
            return True
        return False

    def refund(self, now: float, tokens: float = 1.0) -> None:
        """Give back a reservation that will not be used (e.g. the waiter was cancelled)."""
        self._refill(now)
        self._tokens = min(float(self.burst), self._tokens + tokens)

    def throttle(self, now: float, factor: float = 0.5, *, floor_per_minute: float = 1.0) -> None:
        """Slow down after a 429: multiply the rate by ``factor`` (not below the floor)."""
        if not 0 < factor <= 1:
            raise ValueError(f"factor must be in (0, 1], got {factor}")
        self._refill(now)
        self.rate_per_minute = max(
            min(floor_per_minute, self._nominal_rate), self.rate_per_minute * factor
        )

    def restore(self, now: float) -> None:
        """Return to the configured rate (e.g. after a quiet period without 429s)."""
        self._refill(now)
        self.rate_per_minute = self._nominal_rate

    def statistics(self, now: float) -> BucketStatistics:
        return BucketStatistics(
            tokens=self.tokens(now),
            rate_per_minute=self.rate_per_minute,
            burst=self.burst,
            throttled=self.rate_per_minute < self._nominal_rate,
        )


@dataclass(slots=True)
class SlidingWindowLimit:
    """At most ``limit`` admissions in any ``window`` seconds: the service's own rule.

    A token bucket with a burst of ``limit`` lets ``limit`` through at once and then refills, so
    it admits up to twice the limit in the first window; the service counts a sliding window, and
    answers 429 to the excess. :meth:`acquire_delay` reserves the earliest slot that keeps every
    window within the limit (concurrent callers queue in order). Time is passed in, as above.
    """

    limit: int
    window: float
    _slots: list[float] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")
        if not self.window > 0:
            raise ValueError(f"window must be positive, got {self.window}")

    @classmethod
    def per_minute(cls, rate: float) -> SlidingWindowLimit:
        """``rate`` per minute; below one per minute, one per ``60 / rate`` seconds."""
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        limit = max(1, int(rate))
        return cls(limit=limit, window=60.0 * limit / rate)

    def acquire_delay(self, now: float) -> float:
        """Reserve a slot: the seconds to wait before using it (0 when it is free now)."""
        # Slots that left every window still open are forgotten.
        self._slots = [slot for slot in self._slots if slot + self.window > now]
        if len(self._slots) < self.limit:
            at = max([now, *self._slots[-1:]])
        else:
            # The slot `limit` admissions back must have left the window first.
            at = max(now, self._slots[-self.limit] + self.window, self._slots[-1])
        self._slots.append(at)
        return at - now

    def refund(self, slot: float) -> None:
        """A waiter cancelled before using its slot at time ``slot``: free it."""
        if slot in self._slots:
            self._slots.remove(slot)

    def throttle(self, now: float) -> None:
        """The server said 429: count a use now, so the next admissions space out."""
        self._slots.append(max([now, *self._slots[-1:]]))
