"""Rate-limit arithmetic for client-side pacing of submissions (style rule H5).

The service limits job submission to 5 per minute per user (protocol.md §8.4), counted in a
sliding window: :class:`SlidingWindowLimit`. The async wrapper asks
:meth:`SlidingWindowLimit.acquire_delay` how long to sleep, then sleeps. Time is always passed in
(``now``, monotonic seconds), so tests drive it without sleeping. Reservations queue callers in
order; a caller cancelled while waiting gives its slot back with ``refund``.

:class:`SubmissionPacing` decides when each ``POST /jobs`` may go: an optional configured rule,
a rule learned from the service's 429 answers, and a gate that holds everything until the
``Retry-After`` of the last 429 has passed.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass, field

__all__ = ["SlidingWindowLimit", "SubmissionPacing"]

#: A learned window is this much longer (relative, and in seconds) than the one measured.
_LEARNED_MARGIN = 0.01
#: A new estimate replaces a rule only when clearly stricter (this share of its rate or less):
#: estimates near the rule in force measure our own pacing, not the service's limit.
_TIGHTEN_BELOW = 0.8


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

    @property
    def per_second(self) -> float:
        """Admissions per second this rule allows in the long run."""
        return self.limit / self.window

    def reserve(self, now: float) -> float:
        """Reserve the earliest slot at or after ``now`` that keeps every window within the limit.

        Returns the slot's time (what :meth:`refund` takes back).
        """
        # Slots that left every window still open are forgotten.
        self._slots = [slot for slot in self._slots if slot + self.window > now]
        if len(self._slots) < self.limit:
            at = max([now, *self._slots[-1:]])
        else:
            # The slot `limit` admissions back must have left the window first.
            at = max(now, self._slots[-self.limit] + self.window, self._slots[-1])
        self._slots.append(at)
        return at

    def acquire_delay(self, now: float) -> float:
        """Reserve a slot: the seconds to wait before using it (0 when it is free now)."""
        return self.reserve(now) - now

    def record(self, used: list[float]) -> None:
        """Count past admissions at the times ``used`` (oldest first) as taken slots."""
        self._slots = sorted([*used, *self._slots])

    def refund(self, slot: float) -> None:
        """A waiter cancelled before using its slot at time ``slot``: free it."""
        if slot in self._slots:
            self._slots.remove(slot)

    def throttle(self, now: float) -> None:
        """The server said 429: count a use now, so the next admissions space out."""
        self._slots.append(max([now, *self._slots[-1:]]))


@dataclass(frozen=True, slots=True)
class _Episode:
    """What one run of 429s teaches: submissions sent in ``[start, cutoff]`` and accepted fit in
    one window of the service's, which ends at ``reopen``."""

    start: float
    cutoff: float
    reopen: float
    base: SlidingWindowLimit | None  # the rule in force before it
    #: Only an episode that follows another teaches: one 429 alone may be a fault.
    teaches: bool


@dataclass(slots=True)
class SubmissionPacing:
    """When each ``POST /jobs`` may be sent; learns the service's limit from its 429 answers.

    * ``configured``: the caller's own rule (``submissions_per_minute``), or ``None``;
    * a 429 closes a gate until its ``Retry-After`` has passed (nothing is sent before); one
      that follows another (within ``lookback``) teaches a rule too (a lone 429 may be a fault):
      the submissions *sent* since the gate last opened (within ``lookback``)
      and before the refused one, and accepted, fit in one window, which ends when the service
      takes the next one. Acceptances count by send time, as their answers may arrive after the
      429 (a refusal is quick, a creation is not), so the estimate is revised as they arrive
      until the gate opens. A learned rule is used only when clearly stricter than the one in
      force before, so estimates only tighten: a rule still too generous draws another 429. An
      estimate the record contradicts (the service took more than its count in a span as long,
      within ``lookback``) is dropped: that 429 was a fault or another client's use, not the
      limit, and following it would slow every later submission for nothing.

    ``reserve`` returns the time a submission may go (callers queue in order); every change of
    the gate or the rule bumps ``generation``, so waiters holding an older reservation give it
    back with ``refund`` and reserve again. Time is passed in (monotonic seconds), as above.
    """

    configured: SlidingWindowLimit | None = None
    #: How far back accepted submissions count when a 429 teaches the service's rule.
    lookback: float = 60.0
    #: Bumped whenever the gate or the rule changed.
    generation: int = field(default=0, init=False)
    #: The rule reservations follow (configured or learned; ``None``: no limit but the gate).
    rule: SlidingWindowLimit | None = field(default=None, init=False)
    learned: bool = field(default=False, init=False)
    rejections: int = field(default=0, init=False)
    _gate: float = field(default=-math.inf, init=False)
    _episode_start: float = field(default=-math.inf, init=False)
    _episode: _Episode | None = field(default=None, init=False)
    _accepted: list[float] = field(default_factory=list, init=False)  # send times, sorted

    def __post_init__(self) -> None:
        if not self.lookback > 0:
            raise ValueError(f"lookback must be positive, got {self.lookback}")
        self.rule = self.configured

    def reserve(self, now: float) -> float:
        """The time (``>= now``) this submission may be sent; the slot is taken."""
        if self._episode is not None and now >= self._episode.reopen:
            self._episode = None  # its estimate is final: the next 429 starts from it
        earliest = max(now, self._gate)
        return earliest if self.rule is None else self.rule.reserve(earliest)

    def refund(self, slot: float) -> None:
        """A reservation will not be used (its waiter was cancelled, or must reserve again)."""
        if self.rule is not None:
            self.rule.refund(slot)

    def accepted(self, now: float, sent_at: float | None = None) -> None:
        """The service took a submission (sent at ``sent_at``, default ``now``)."""
        sent = now if sent_at is None else min(sent_at, now)
        bisect.insort(self._accepted, sent)
        horizon = now - self.lookback
        if self._accepted[0] < horizon:
            del self._accepted[: bisect.bisect_left(self._accepted, horizon)]
        episode = self._episode
        if episode is not None and episode.start <= sent <= episode.cutoff:
            self._learn(episode)

    def rejected(self, now: float, retry_after: float, sent_at: float | None = None) -> None:
        """The service answered 429 at ``now`` (to a request sent at ``sent_at``, default ``now``)
        and will take another in ``retry_after`` seconds."""
        self.rejections += 1
        self.generation += 1
        reopen = now + max(0.0, retry_after)
        sent = now if sent_at is None else min(sent_at, now)
        if now >= self._gate:  # not a further 429 of requests already in flight: a new episode
            start = max(self._episode_start, now - self.lookback)
            follows = self._gate > now - self.lookback  # the previous gate opened recently
            self._episode = _Episode(start, sent, reopen, self.rule, follows)
        elif self._episode is not None:
            episode = self._episode
            self._episode = dataclasses.replace(
                episode, cutoff=max(episode.cutoff, sent), reopen=max(episode.reopen, reopen)
            )
        self._gate = max(self._gate, reopen)
        # Accepted submissions count towards the next estimate from when the gate opens.
        self._episode_start = self._gate
        if self._episode is not None:
            self._learn(self._episode)

    def _learn(self, episode: _Episode) -> None:
        low = bisect.bisect_left(self._accepted, episode.start)
        high = bisect.bisect_right(self._accepted, episode.cutoff)
        recent = self._accepted[low:high]
        rule = episode.base
        measured = episode.reopen - recent[0] if recent else 0.0
        # The service took more than that in a window this long before: a refusal that says
        # nothing about its limit (a fault, another client's use), not a rule to follow.
        if episode.teaches and recent and _most_in_span(self._accepted, measured) <= len(recent):
            # A little longer than measured: our clock and the service's are apart by a
            # network delay, and a slot right at the window's edge would draw another 429.
            window = measured * (1 + _LEARNED_MARGIN) + _LEARNED_MARGIN
            candidate = SlidingWindowLimit(len(recent), window)
            if rule is None or candidate.per_second < _TIGHTEN_BELOW * rule.per_second:
                candidate.record(self._accepted[low:])
                rule = candidate
        if rule is not self.rule:
            self.rule = rule
            self.learned = rule is not self.configured
            self.generation += 1


def _most_in_span(times: list[float], span: float) -> int:
    """The most of the sorted ``times`` that fit in a half-open interval ``span`` long."""
    most = first = 0
    for last, at in enumerate(times):
        while at - times[first] >= span:
            first += 1
        most = max(most, last - first + 1)
    return most
