"""When to poll next, and how many requests one tick may cost (style rule C2).

The shared poller refreshes all pending jobs of a session with ``GET /jobs`` (up to
:data:`MAX_JOBS_PAGE` jobs per request) and asks :class:`PollSchedule` how long to sleep. It wakes
early on its own when a job is submitted; this only decides the idle pace:

* right after a submission, every ``fast_interval`` (jobs on the local server finish in
  milliseconds, and a fresh job is the one a caller is most likely awaiting);
* otherwise from ``session_interval`` (an active session means the service runs our jobs next) or
  ``job_interval`` (job mode, where the official client polls every 0.5 s), growing by ``backoff``
  for each tick on which nothing changed, up to ``session_ceiling`` / ``max_interval``;
* never faster than the request budget allows: a steady tick costs one request (the newest
  finished page), a full one (reconciliation, every ``reconcile_every`` × pages ticks)
  ``ceil(pending / page_size)`` more for the pending list (:meth:`requests_per_tick`), and ticks
  are spaced so that at most ``max_requests_per_second`` are sent, whatever the number of jobs
  (default 10: a tick every 0.1 s; ``PollSchedule(max_requests_per_second=20)`` halves the
  resolve delay at twice the rate). :meth:`next_delay` spaces full ticks; the watcher spaces
  ticks by :meth:`pace` and the requests it actually sent.

Every delay lies in ``[fast_interval, max(max_interval, budget floor)]``, and it never shrinks
when the time since the last submission, the number of idle ticks or the number of pending jobs
grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_JOBS_PER_LIST_REQUEST", "PollSchedule"]

#: Server cap on ``GET /jobs?limit=`` (protocol.md §9), hence jobs covered by one bulk request.
MAX_JOBS_PER_LIST_REQUEST: Final = 200
# Backoff exponent beyond which every delay is at its ceiling (avoids float overflow).
_MAX_IDLE_EXPONENT: Final = 64


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """Pure pacing of the shared poller; all times in seconds."""

    fast_interval: float = 0.05
    #: How long after a submission polling stays at ``fast_interval``.
    fast_window: float = 2.0
    session_interval: float = 0.1
    #: In a session our jobs run next: never slower than this, so a finished job is seen
    #: within half a second even after a long quiet run.
    session_ceiling: float = 0.5
    job_interval: float = 0.5
    max_interval: float = 5.0
    backoff: float = 1.5
    max_requests_per_second: float = 10.0
    page_size: int = MAX_JOBS_PER_LIST_REQUEST
    #: Pages of the pending list one tick reads at most (the watcher's ``MAX_PENDING_PAGES``).
    max_pages_per_tick: int = 10
    #: Between full reads of the pending list (reconciliation: status changes, vanished jobs),
    #: at least this many ticks read only the newest page of finished jobs. The full read's
    #: extra pages are paid for by stretching the ticks after it, so the average stays in budget.
    reconcile_every: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.fast_interval <= self.session_interval <= self.session_ceiling:
            raise ValueError("need 0 < fast_interval <= session_interval <= session_ceiling")
        if not self.fast_interval <= self.job_interval <= self.max_interval:
            raise ValueError("need fast_interval <= job_interval <= max_interval")
        if self.session_ceiling > self.max_interval:
            raise ValueError("session_ceiling must not exceed max_interval")
        if self.backoff < 1 or self.max_requests_per_second <= 0 or self.fast_window < 0:
            raise ValueError("need backoff >= 1, max_requests_per_second > 0, fast_window >= 0")
        if not 1 <= self.page_size <= MAX_JOBS_PER_LIST_REQUEST:
            raise ValueError(f"page_size must be 1..{MAX_JOBS_PER_LIST_REQUEST}")
        if self.max_pages_per_tick < 1 or self.reconcile_every < 1:
            raise ValueError("max_pages_per_tick and reconcile_every must be at least 1")

    def requests_per_tick(self, pending: int) -> int:
        """Status requests a tick costs for ``pending`` jobs (0 when none are pending): the
        pending list, ``ceil(pending / page_size)`` pages but at most ``max_pages_per_tick``
        (the watcher's cap), and the newest page of finished jobs it reads alongside."""
        if pending <= 0:
            return 0
        return min(math.ceil(pending / self.page_size), self.max_pages_per_tick) + 1

    def budget_floor(self, pending: int) -> float:
        """The shortest delay that keeps a tick's requests under ``max_requests_per_second``."""
        return self.requests_per_tick(pending) / self.max_requests_per_second

    def next_delay(
        self,
        *,
        since_submission: float | None,
        pending: int,
        session_active: bool,
        idle_ticks: int = 0,
    ) -> float:
        """Seconds to sleep before the next tick.

        ``since_submission`` is the time since the last job was submitted (``None``: never);
        ``idle_ticks`` counts consecutive ticks on which no job changed (reset it to 0 on change).
        """
        pace = self.pace(
            since_submission=since_submission,
            pending=pending,
            session_active=session_active,
            idle_ticks=idle_ticks,
        )
        return pace if pending <= 0 else max(pace, self.budget_floor(pending))

    def pace(
        self,
        *,
        since_submission: float | None,
        pending: int,
        session_active: bool,
        idle_ticks: int = 0,
    ) -> float:
        """:meth:`next_delay` before the request budget is applied: the watcher applies the
        budget itself, from the requests its ticks actually sent (most read one page)."""
        if pending <= 0:
            # Nothing to refresh: the poller sleeps until a submission wakes it; this is a cap.
            return self.max_interval
        if since_submission is not None and since_submission < self.fast_window:
            pace = self.fast_interval
        else:
            start, ceiling = (
                (self.session_interval, self.session_ceiling)
                if session_active
                else (self.job_interval, self.max_interval)
            )
            exponent = min(max(idle_ticks, 0), _MAX_IDLE_EXPONENT)
            pace = min(ceiling, start * self.backoff**exponent)
        return pace
