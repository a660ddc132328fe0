"""Client-side pacing of ``POST /jobs``: :class:`SubmissionLimiter` and the rate it applies.

The arithmetic is sans-I/O (:class:`~aioqruntime.protocol._ratelimit.SubmissionPacing`); this
module only waits on it, and says when submissions are held back.
"""

from __future__ import annotations

import logging
from typing import Final, Literal

import anyio

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.protocol import SlidingWindowLimit
from aioqruntime.protocol._ratelimit import SubmissionPacing
from aioqruntime.runtime._account import is_ibm_host
from aioqruntime.transport import TransportConfig

__all__ = [
    "AUTO",
    "IBM_SUBMISSIONS_PER_MINUTE",
    "NOTICE_AFTER",
    "NOTICE_INTERVAL",
    "WATCHER_RESERVED_CONNECTIONS",
    "SubmissionLimiter",
    "SubmissionRate",
    "resolve_submission_rate",
]

logger = logging.getLogger("aioqruntime.runtime")

#: IBM's documented limit on job submissions per user (protocol.md §8.4).
IBM_SUBMISSIONS_PER_MINUTE: Final = 5.0
#: ``submissions_per_minute`` default: IBM's limit on IBM's hosts, none elsewhere.
AUTO: Final = "auto"
SubmissionRate = float | Literal["auto"] | None
#: Connections per host kept free of submissions for the watcher (one list, results fetches).
WATCHER_RESERVED_CONNECTIONS: Final = 4
# The transport's default pool (a limiter made without one: tests).
_DEFAULT_CONNECTIONS: Final = TransportConfig().max_connections_per_host
#: A submission held back longer than this is said at WARNING (once per backlog)...
NOTICE_AFTER: Final = 1.0
#: ...and not again within this many seconds.
NOTICE_INTERVAL: Final = 60.0


class SubmissionLimiter:
    """Client-side pacing of ``POST /jobs``: queues submissions instead of failing them.

    The arithmetic is :class:`~aioqruntime.protocol._ratelimit.SubmissionPacing`: the configured
    rule (``per_minute``, the service's own sliding window, so a burst never draws a 429; ``None``
    for none), a gate closed by each 429 until its ``Retry-After``, and the rule learned from
    those 429s. This only waits. ``window`` other than 60 s scales time (tests).

    A wait of more than :data:`NOTICE_AFTER` seconds is said once at WARNING (how many wait, for
    how long), at most once per :data:`NOTICE_INTERVAL`; :meth:`backlog` feeds progress bars.
    """

    def __init__(
        self,
        per_minute: float | None,
        *,
        window: float | None = None,
        connections: int = _DEFAULT_CONNECTIONS,
    ) -> None:
        configured: SlidingWindowLimit | None = None
        if per_minute is not None:
            configured = (
                SlidingWindowLimit(max(1, int(per_minute)), window)
                if window is not None
                else SlidingWindowLimit.per_minute(per_minute)
            )
        self.pacing = SubmissionPacing(configured)
        #: ``POST /jobs`` in flight at once: the pool's connections to the host but a reserve,
        #: so that during a big submission burst the watcher's polls and results fetches do
        #: not queue behind submissions (jobs finishing meanwhile would wait seconds).
        self.sending = anyio.CapacityLimiter(max(1, connections - WATCHER_RESERVED_CONNECTIONS))
        #: Submissions that had to wait (for the rule or a 429's gate).
        self.waits = 0
        # The slot each waiting submission holds (the backlog's length and depth).
        self._held: list[float] = []
        self._changed = anyio.Event()  # rule or gate changed: waiters reserve again
        self._queue_changed = anyio.Event()
        self._noticed_at: float | None = None
        self._noticed_backlog = False

    @property
    def paced(self) -> bool:
        """Whether submissions are paced before any 429 (a configured or learned rule)."""
        return self.pacing.rule is not None

    @property
    def queued(self) -> int:
        """Submissions waiting right now."""
        return len(self._held)

    def backlog(self) -> tuple[int, float]:
        """Submissions waiting now, and seconds until the last of them may go."""
        if not self._held:
            return 0, 0.0
        return len(self._held), max(0.0, max(self._held) - anyio.current_time())

    def queue_changed(self) -> anyio.Event:
        """An event set the next time a submission starts or stops waiting (observability)."""
        return self._queue_changed

    async def acquire(self) -> None:
        """Wait until this submission may be sent (at once when nothing holds it back)."""
        counted = False
        while True:
            now = anyio.current_time()
            generation = self.pacing.generation
            slot = self.pacing.reserve(now)
            if slot <= now:
                return
            if not counted:
                counted = True
                self.waits += 1
                logger.info("rate limit: job submission waits %.1fs", slot - now)
            self._held.append(slot)
            self._queue_changed_now()
            try:
                changed = await self._hold(slot, generation)
            except BaseException:
                # Cancelled while queued: free the reserved slot, then re-raise.
                self.pacing.refund(slot)
                raise
            finally:
                self._held.remove(slot)
                self._queue_changed_now()
            if not changed:
                return
            self.pacing.refund(slot)  # a 429 changed the rules: queue again under the new ones

    async def _hold(self, slot: float, generation: int) -> bool:
        """Wait until ``slot``; True if a 429 changed the rules meanwhile (reserve again)."""
        changed = self._changed
        notice_at = anyio.current_time() + NOTICE_AFTER
        if slot > notice_at:
            with anyio.move_on_after(NOTICE_AFTER):
                await changed.wait()
            if self.pacing.generation != generation:
                return True
            self._notice()
        with anyio.move_on_after(max(0.0, slot - anyio.current_time())):
            await changed.wait()
        return self.pacing.generation != generation

    def _notice(self) -> None:
        now = anyio.current_time()
        if self._noticed_backlog or (
            self._noticed_at is not None and now - self._noticed_at < NOTICE_INTERVAL
        ):
            return
        self._noticed_backlog, self._noticed_at = True, now
        queued, wait = self.backlog()
        rule = self.pacing.rule
        why = (
            f"at most {rule.limit} per {rule.window:.4g}s"
            + (", learned from the service's 429 answers" if self.pacing.learned else "")
            if rule is not None
            else "the service answered 429"
        )
        logger.warning(
            "job submissions are held back client-side (%s): %d waiting, the last expected to be "
            "sent in %.0fs",
            why,
            queued,
            wait,
        )

    def _queue_changed_now(self) -> None:
        if not self._held:
            self._noticed_backlog = False  # the next backlog is said again
        self._queue_changed.set()
        self._queue_changed = anyio.Event()

    def accepted(self, sent_at: float) -> None:
        """The service took a submission sent at ``sent_at`` (``anyio.current_time()``)."""
        generation = self.pacing.generation
        self.pacing.accepted(anyio.current_time(), sent_at)
        if self.pacing.generation != generation:
            self._rules_changed()

    def throttle(self, retry_after: float, sent_at: float | None = None) -> None:
        """The service said 429: hold every submission ``retry_after`` s and learn its rule."""
        self.pacing.rejected(anyio.current_time(), retry_after, sent_at)
        self._rules_changed()

    def _rules_changed(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()


def resolve_submission_rate(value: SubmissionRate, api_url: str) -> float | None:
    """``"auto"``: IBM's documented 5 per minute on IBM's hosts, no client-side pacing elsewhere.

    A number is a rate per minute (``> 0``); ``None`` turns client-side pacing off (429 answers
    are still waited out and learned from).
    """
    if value == "auto":
        return IBM_SUBMISSIONS_PER_MINUTE if is_ibm_host(api_url) else None
    if value is None:
        return None
    given: object = value  # checked as anything: callers are not always type-checked
    if isinstance(given, bool) or not isinstance(given, (int, float)) or not given > 0:
        raise InvalidInputError(
            f"submissions_per_minute must be a positive number, 'auto' or None, got {value!r}"
        )
    return float(value)
