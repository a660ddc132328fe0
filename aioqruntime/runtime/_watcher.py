"""``JobWatcher``: one background task that settles every pending job of its owner.

One watcher runs per service (job-mode jobs, ``service.job(id)`` handles) and one per session or
batch, each inside its owner's task group. A tick costs a bounded number of requests whatever the
number of jobs:

1. per session id among the pending jobs, usually one request: the newest page of finished jobs
   (``GET /jobs?pending=false&session_id=…``, newest created first); every tracked job on it has
   finished. That list is ordered by creation, not by finish, so a job finishing out of order can
   land below the page: its ``count`` tells how many finished since the last tick, and when fewer
   new ones are on the page, the tick reads the whole pending list instead (a reconciliation,
   also done every ``PollSchedule.reconcile_every`` × pages ticks, on a session's first look and
   after tracking a job read before, for status changes and vanished jobs):
   ``GET /jobs?pending=true&…`` pages, read at once, at most ``max_pages_per_tick``; every tracked
   job missing from them has probably finished;
2. the probable finishers are confirmed with ``GET /jobs?pending=false&session_id=…`` pages
   (newest first, so recent jobs come first) and, for the few not found there, a per-job
   ``GET /jobs/{id}`` (at most :data:`MAX_SINGLE_GETS` per tick);
3. each finished job costs one ``GET /jobs/{id}/results`` (for Completed, and for Failed to get the
   error text), decoded in a worker thread; then the job is settled and its callbacks are called.
   A fetch that fails (after the transport's own retries) never settles the job with an error:
   the job goes back to pending and its fetch is tried again at a later tick, no sooner than an
   exponential backoff per job (the service's ``RetryPolicy``), for as long as the watcher runs.
   The decoded result is kept on the job object for as long as it lives.

Ticks are spaced start to start by the pace of :class:`PollSchedule` (its owner's); a wake (each
submission sets an ``anyio.Event``) cuts the pace short but never the budget: the requests per
second actually sent stay under the schedule's ``max_requests_per_second``, a reconciliation's
extra pages paid back by stretching the ticks after it.

A service without the list form (an emulation answering 404/405/501 to ``GET /jobs``, or one
whose pages cannot be read :data:`MALFORMED_BEFORE_FALLBACK` ticks in a row) is followed job by
job instead: each tick reads the :data:`MAX_SINGLE_GETS` jobs looked at longest ago with
``GET /jobs/{id}``, under the same ceiling, and the list is tried again every
:data:`LIST_RETRY_INTERVAL` seconds. When that cannot answer either (405/501, or one job's answer
malformed :data:`MALFORMED_BEFORE_GIVING_UP` times in a row), the jobs concerned are settled with
:class:`JobTrackingError` instead of being waited for forever.
"""

from __future__ import annotations

import builtins
import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

import anyio
from anyio.abc import TaskGroup, TaskStatus

from aioqruntime._exceptions import (
    APIError,
    APIStatusError,
    CodecError,
    JobError,
    JobTrackingError,
    NotFoundError,
    ProtocolError,
    QRuntimeError,
)
from aioqruntime.protocol import (
    Job,
    JobList,
    PollSchedule,
    ServerJobState,
    backoff_ceiling,
    is_final,
    is_server_terminal,
    job_outcome,
    parse_server_job_state,
)
from aioqruntime.runtime._decoders import result_decoder_for
from aioqruntime.runtime._state import JobState

if TYPE_CHECKING:
    from aioqruntime.runtime._core import ServiceCore

#: A job's state as the watcher holds it (the handle type does not matter here).
State = JobState[Any]
#: A done-callback or listener, called with the job's handle.
Callback = Callable[[Any], object]

__all__ = ["MAX_SINGLE_GETS", "JobWatcher"]

logger = logging.getLogger("aioqruntime.runtime")

#: Per tick, at most this many per-job ``GET /jobs/{id}`` confirmations (the rest wait a tick).
MAX_SINGLE_GETS = 20
#: Results fetched at once.
RESULT_FETCH_CONCURRENCY = 8
#: ``GET /jobs`` answers meaning the service has no list form (an emulation without it).
_LIST_MISSING: Final = frozenset({404, 405, 501})
#: ``GET /jobs/{id}`` answers meaning it has no per-job form either (404 is: no such job).
_GET_MISSING: Final = frozenset({405, 501})
#: Ticks in a row whose job list could not be read before following jobs one by one.
MALFORMED_BEFORE_FALLBACK = 3
#: Unreadable answers in a row to one job's ``GET /jobs/{id}`` before that job is given up.
MALFORMED_BEFORE_GIVING_UP = 3
#: While following jobs one by one, the list is tried again this often (seconds).
LIST_RETRY_INTERVAL = 300.0


class JobWatcher:
    """Tracks pending jobs and settles them; run :meth:`run` in the owner's task group."""

    def __init__(
        self,
        core: ServiceCore,
        *,
        name: str,
        session_scoped: bool = False,
        schedule: PollSchedule | None = None,
    ) -> None:
        self._core = core
        self.name = name
        self._schedule = schedule or core.poll_schedule
        self._jobs: dict[str, State] = {}
        # Known final, outcome being fetched by a settle task (not polled any more).
        self._settling: dict[str, State] = {}
        self._settle_group: TaskGroup | None = None
        self._wake = anyio.Event()
        self._idle = anyio.Event()
        self._idle.set()
        self._due: deque[tuple[Callback, Any]] = deque()
        self._session_scoped = session_scoped
        self._last_submission: float | None = None
        self._idle_ticks = 0
        self._changes = 0
        self._running = False
        self._fetch_limiter = anyio.CapacityLimiter(RESULT_FETCH_CONCURRENCY)
        self._tick_done = anyio.Event()
        # Outcome fetches that failed: per job, how many times, and not to retry before when.
        self._fetch_failures: dict[str, int] = {}
        self._retry_fetch_at: dict[str, float] = {}
        #: Outcome fetches that failed and were put back for a later tick.
        self.fetch_failures = 0
        #: Ticks run, status requests (list/get: what the rate ceiling bounds) and results
        #: fetches (one per finished job, whatever the cadence).
        self.ticks = 0
        self.requests = 0
        self.result_requests = 0
        #: Status requests made by each of the last ticks (most recent last).
        self.requests_per_tick: deque[int] = deque(maxlen=64)
        # Following jobs one by one (the list cannot answer) since this time, or None.
        self._lists_failed_at: float | None = None
        self._malformed_lists = 0
        self._malformed_gets: dict[str, int] = {}
        self._looked_at: dict[str, float] = {}
        #: Ticks that followed jobs one by one because the job list could not answer.
        self.fallback_ticks = 0
        #: Ticks that read the whole pending list (reconciliation) rather than only the newest
        #: page of finished jobs.
        self.reconcile_ticks = 0
        # Pacing (see _plan_next_tick): no tick before _budget_until, the next one at _next_tick.
        self._budget_until = float("-inf")
        self._next_tick = float("-inf")
        self._budget_debt = 0.0
        self._groups = 1
        # Per session id: the newest page of finished jobs as last read (its count, its ids).
        self._newest_finished: dict[str | None, tuple[int, frozenset[str]]] = {}
        self._ticks_since_reconcile = 0
        self._reconcile_due = False

    # --- registry (sync) -----------------------------------------------------------------------

    def track(self, state: State) -> None:
        """Watch the job until it settles (this watcher becomes its one); wakes for a first look."""
        if state.done:
            return
        state.watcher = self
        self._jobs[state.job_id] = state
        if state.last_seen is not None:
            # Read from the service before (service.job, a listing, resume): it may have finished
            # long ago, below the newest finished page; only the full read finds it.
            self._reconcile_due = True
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
        self.wake(urgent=True)

    def release_all(self) -> list[State]:
        """Stop watching every pending job and return them (to hand them to another watcher)."""
        jobs = [*self._jobs.values(), *self._settling.values()]
        self._jobs.clear()
        self._settling.clear()
        self._fetch_failures.clear()
        self._retry_fetch_at.clear()
        self._idle.set()
        return [state for state in jobs if not state.done]

    def abandon_all(self, error_for: Callable[[str], QRuntimeError]) -> None:
        """Stop watching and make every waiter raise ``error_for(job_id)``."""
        for state in self.release_all():
            state.abandon(error_for(state.job_id))

    @property
    def schedule(self) -> PollSchedule:
        """The cadence of this watcher (its owner's: the service's or a session's)."""
        return self._schedule

    @property
    def pending(self) -> int:
        return len(self._jobs) + len(self._settling)

    def call_soon(self, fn: Callback, handle: Any) -> None:
        """Run ``fn(handle)`` at the watcher's next step (callbacks added to a done job)."""
        self._due.append((fn, handle))
        self._wake.set()

    async def refresh(self, state: State) -> None:
        """Read the job now (``job.refresh()``); a final status is settled at the next tick."""
        # Not a tick's request (statistics count the watcher's own polling only).
        state.apply(await self._core.client.jobs.get(state.job_id))
        if is_final(state.status):
            self.wake()

    def wake(self, *, urgent: bool = False) -> None:
        """Poll now instead of at the end of the current delay."""
        if urgent:
            self._last_submission = anyio.current_time()
            self._idle_ticks = 0
        self._wake.set()

    async def wait_for_tick(self) -> None:
        """Return after the next tick has completed (observability and tests)."""
        await self._tick_done.wait()

    def statistics(self) -> dict[str, int]:
        """Pending jobs, ticks run and requests made so far."""
        return {
            "pending": len(self._jobs),
            "ticks": self.ticks,
            "requests": self.requests,
            "result_requests": self.result_requests,
            "fetch_failures": self.fetch_failures,
            "fallback_ticks": self.fallback_ticks,
        }

    async def wait_idle(self) -> None:
        """Return once no job is pending (used by a session's normal exit)."""
        while self._jobs or self._settling:
            await self._idle.wait()

    # --- the task ------------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The watcher loop; runs until cancelled. Callback errors end it (and its task group)."""
        self._running = True
        try:
            # Outcomes are fetched in tasks of this group, so a slow results download never
            # delays the next status tick; callback errors raised there end the watcher too.
            async with anyio.create_task_group() as settle_group:
                self._settle_group = settle_group
                task_status.started()
                await self._loop()
        finally:
            self._settle_group = None
            self._running = False

    async def _loop(self) -> None:
        while True:
            self._run_due_callbacks()
            if self._jobs and anyio.current_time() >= self._budget_until:
                started = anyio.current_time()
                before, self._changes = self.requests, 0
                await self._tick()
                requests = self.requests - before
                self.ticks += 1
                self.requests_per_tick.append(requests)
                self._tick_done.set()
                self._tick_done = anyio.Event()
                # Back off while nothing moves; any change resets the pace.
                self._idle_ticks = 0 if self._changes else self._idle_ticks + 1
                self._plan_next_tick(started, requests)
            self._run_due_callbacks()
            await self._sleep()

    def _plan_next_tick(self, started: float, requests: int) -> None:
        """Space ticks start to start: the pace of the schedule, never faster than the budget.

        A tick that read more than its steady cost (a full read of the pending list, per-job
        confirmations) leaves a debt, paid back over the next ``reconcile_every`` ticks by
        stretching them, so one costly tick does not stall detection for a whole second while
        the requests per second stay under the ceiling on average.
        """
        schedule = self._schedule
        rps = schedule.max_requests_per_second
        steady = requests if self._lists_failed_at is not None else min(requests, self._groups)
        self._budget_debt += (requests - steady) / rps
        floor = steady / rps + self._budget_debt / schedule.reconcile_every
        since = (
            None if self._last_submission is None else anyio.current_time() - self._last_submission
        )
        pace = schedule.pace(
            since_submission=since,
            pending=len(self._jobs),
            session_active=self._session_scoped,
            idle_ticks=self._idle_ticks,
        )
        gap = max(pace, floor)
        # Whatever the gap holds beyond the steady cost pays the debt back.
        self._budget_debt = max(0.0, self._budget_debt - (gap - steady / rps))
        self._budget_until = started + floor
        self._next_tick = started + gap

    async def _sleep(self) -> None:
        if not self._jobs and not self._due:
            # Nothing to watch: sleep until a job is tracked or a callback is due. No polling.
            await self._wake.wait()
            self._wake = anyio.Event()
            self._next_tick = self._budget_until
            return
        with anyio.move_on_after(max(0.0, self._next_tick - anyio.current_time())):
            await self._wake.wait()
        if self._wake.is_set():
            # A wake (a submission, a due callback) cuts the pace short, never the budget.
            self._wake = anyio.Event()
            self._next_tick = self._budget_until

    def _run_due_callbacks(self) -> None:
        errors: list[BaseException] = []
        while self._due:
            fn, handle = self._due.popleft()
            try:
                fn(handle)
            except Exception as exc:  # surfaced below, never swallowed
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        if errors:
            group: Any = getattr(builtins, "ExceptionGroup", None)
            if group is None:  # pragma: no cover  (3.10: the first error, the rest logged)
                for extra in errors[1:]:
                    logger.error("another done-callback failed", exc_info=extra)
                raise errors[0]
            raise group("done-callbacks failed", errors)

    # --- one tick ------------------------------------------------------------------------------

    async def _tick(self) -> None:
        finished: list[Job] = []
        if self._lists_usable():
            finished = await self._tick_lists()
        if not self._lists_usable():  # known before, or found out just now
            known = {item.id for item in finished}
            finished.extend(await self._tick_one_by_one(known))
        if finished:
            await self._settle(finished)

    def _lists_usable(self) -> bool:
        failed_at = self._lists_failed_at
        return failed_at is None or anyio.current_time() - failed_at >= LIST_RETRY_INTERVAL

    async def _tick_lists(self) -> list[Job]:
        groups: dict[str | None, set[str]] = {}
        for job_id, state in self._jobs.items():
            groups.setdefault(state.session_id, set()).add(job_id)
        finished: list[Job] = []
        malformed = answered = False
        self._groups = len(groups)
        # Every reconcile_every-th tick (more rarely when the pending list spans several pages,
        # so that its reading stays a small share of the budget) reads the whole pending list.
        pages = -(-len(self._jobs) // self._schedule.page_size)
        every = self._schedule.reconcile_every * max(
            1, min(pages, self._schedule.max_pages_per_tick)
        )
        reconcile = self._reconcile_due or self._ticks_since_reconcile + 1 >= every
        self._reconcile_due = False
        self._ticks_since_reconcile = 0 if reconcile else self._ticks_since_reconcile + 1
        for session_id, ids in groups.items():
            try:
                finished.extend(await self._refresh_group(session_id, ids, reconcile=reconcile))
                answered = True
            except APIStatusError as exc:
                if exc.status in _LIST_MISSING:
                    self._fall_back(f"the job list answered {exc.status}")
                    return finished
                logger.warning("watcher %s: refreshing jobs failed: %s", self.name, exc)
            except (APIError, ProtocolError) as exc:
                # Transient either way (a failed or a malformed answer): the next tick asks again.
                malformed = malformed or isinstance(exc, ProtocolError)
                logger.warning("watcher %s: refreshing jobs failed: %s", self.name, exc)
        self._malformed_lists = self._malformed_lists + 1 if malformed else 0
        if self._malformed_lists >= MALFORMED_BEFORE_FALLBACK:
            self._fall_back(
                f"the job list could not be read {self._malformed_lists} times in a row"
            )
        elif self._lists_failed_at is not None and answered:
            logger.info("watcher %s: the job list answers again", self.name)
            self._lists_failed_at = None
        return finished

    def _fall_back(self, why: str) -> None:
        again = self._lists_failed_at is not None  # a periodic retry of the list failed
        self._lists_failed_at = anyio.current_time()
        self._malformed_lists = 0
        logger.log(
            logging.DEBUG if again else logging.WARNING,
            "watcher %s: %s; following each job with GET /jobs/{id} instead (at most %d per "
            "tick), the list is tried again in %.0fs",
            self.name,
            why,
            MAX_SINGLE_GETS,
            LIST_RETRY_INTERVAL,
        )

    async def _tick_one_by_one(self, known: set[str]) -> list[Job]:
        """``GET /jobs/{id}`` for the jobs looked at longest ago; settle what cannot be followed."""
        self.fallback_ticks += 1
        looked_at = self._looked_at
        self._looked_at = looked_at = {k: v for k, v in looked_at.items() if k in self._jobs}
        self._malformed_gets = {k: v for k, v in self._malformed_gets.items() if k in self._jobs}
        candidates = sorted(
            (job_id for job_id in self._jobs if job_id not in known),
            key=lambda job_id: looked_at.get(job_id, float("-inf")),
        )
        found: list[Job] = []
        unsupported: dict[str, APIStatusError] = {}
        answered = 0

        async def follow(job_id: str) -> None:
            nonlocal answered
            looked_at[job_id] = anyio.current_time()
            try:
                item = await self._get(job_id)
            except NotFoundError as exc:
                state = self._jobs.pop(job_id, None)
                if state is not None:
                    self._fire(state.settle(error=_missing(job_id, exc)), state)
                return
            except APIStatusError as exc:
                if exc.status in _GET_MISSING:
                    unsupported[job_id] = exc
                    return
                logger.warning("watcher %s: reading job %s failed: %s", self.name, job_id, exc)
                return
            except ProtocolError as exc:
                self._malformed_gets[job_id] = times = self._malformed_gets.get(job_id, 0) + 1
                logger.warning("watcher %s: reading job %s failed: %s", self.name, job_id, exc)
                if times >= MALFORMED_BEFORE_GIVING_UP:
                    self._give_up(job_id, f"its status could not be read {times} times", exc)
                return
            except APIError as exc:  # transient: asked again at a later tick
                logger.warning("watcher %s: reading job %s failed: %s", self.name, job_id, exc)
                return
            answered += 1
            self._malformed_gets.pop(job_id, None)
            tracked = self._jobs.get(job_id)
            if tracked is not None:
                self._changes += tracked.apply(item)
            if is_server_terminal(item.status):
                found.append(item)

        async with anyio.create_task_group() as tg:
            for job_id in candidates[:MAX_SINGLE_GETS]:
                tg.start_soon(follow, job_id)
        if unsupported:
            # Neither the list nor the per-job form exists: waiting would never end.
            doomed = list(self._jobs) if not answered else list(unsupported)
            cause = next(iter(unsupported.values()))
            for job_id in doomed:
                if job_id not in known:
                    self._give_up(job_id, _no_status_form(cause), unsupported.get(job_id, cause))
        return found

    def _give_up(self, job_id: str, why: str, cause: BaseException) -> None:
        state = self._jobs.pop(job_id, None)
        if state is None:
            return
        error = JobTrackingError(
            f"cannot follow job {job_id}: {why}; it may still run on the service "
            f"(service.job({job_id!r}) reads it again)",
            job_id=job_id,
        )
        error.__cause__ = cause
        self._fire(state.settle(error=error), state)

    async def _refresh_group(
        self, session_id: str | None, ids: set[str], *, reconcile: bool
    ) -> list[Job]:
        """The jobs of ``ids`` (one session's) that finished since the last tick.

        Usually one request: the newest page of finished jobs (newest created first). Jobs
        finishing out of creation order may land below it; the page's ``count`` says how many
        finished since the last read, so when fewer new ones are on the page than that, or on a
        reconciliation tick, or on the first look, the whole pending list is read instead.
        """
        last = self._newest_finished.get(session_id)
        if reconcile or last is None:
            return await self._reconcile_group(session_id, ids)
        page = await self._list(pending=False, session_id=session_id, offset=0)
        finished = self._finished_on(page, ids)
        self._newest_finished[session_id] = _page_mark(page)
        last_count, last_ids = last
        new = sum(1 for item in page.jobs if item.id not in last_ids)
        if new >= page.count - last_count:
            return finished
        logger.debug(
            "watcher %s: %d jobs finished since the last tick, %d on the newest page: "
            "reading the pending list",
            self.name,
            page.count - last_count,
            new,
        )
        return await self._reconcile_group(session_id, ids)

    def _finished_on(self, page: JobList, ids: set[str]) -> list[Job]:
        return [item for item in page.jobs if item.id in ids and is_server_terminal(item.status)]

    async def _pending_pages(self, session_id: str | None, first: JobList) -> list[JobList]:
        """The pending list after its first page, its pages read at once (up to the cap)."""
        pages: list[JobList | None] = [None] * max(
            0,
            min(
                -(-first.count // self._schedule.page_size),
                self._schedule.max_pages_per_tick,
            )
            - 1,
        )
        if not first.jobs or len(first.jobs) >= first.count:
            return []

        async def read(index: int) -> None:
            offset = len(first.jobs) + index * self._schedule.page_size
            pages[index] = await self._list(pending=True, session_id=session_id, offset=offset)

        async with anyio.create_task_group() as tg:
            for index in range(len(pages)):
                tg.start_soon(read, index)
        return [page for page in pages if page is not None]

    async def _reconcile_group(self, session_id: str | None, ids: set[str]) -> list[Job]:
        self.reconcile_ticks += 1
        finished: dict[str, Job] = {}
        first: list[JobList] = []
        errors: list[APIError | ProtocolError] = []

        async def first_pending_page() -> None:
            try:
                first.append(await self._list(pending=True, session_id=session_id, offset=0))
            except (APIError, ProtocolError) as exc:  # re-raised below, unwrapped
                errors.append(exc)

        async def newest_finished_page() -> None:
            try:
                page = await self._list(pending=False, session_id=session_id, offset=0)
            except (APIError, ProtocolError) as exc:
                errors.append(exc)
                return
            self._newest_finished[session_id] = _page_mark(page)
            finished.update((item.id, item) for item in self._finished_on(page, ids))

        # Both first pages in one round trip: what is still pending, and what just finished
        # (newest first, so jobs we submitted recently are on it).
        async with anyio.create_task_group() as tg:
            tg.start_soon(first_pending_page)
            tg.start_soon(newest_finished_page)
        if errors:
            raise errors[0]
        pages = [first[0], *await self._pending_pages(session_id, first[0])]
        still_pending: set[str] = set()
        for page in pages:
            for item in page.jobs:
                state = self._jobs.get(item.id)
                if state is not None and item.id in ids and item.id not in finished:
                    self._changes += state.apply(item)
                    still_pending.add(item.id)
        if sum(len(page.jobs) for page in pages) < first[0].count:
            # Too many pending jobs for one tick: settle only what is known to be final.
            return list(finished.values())
        remaining = ids - still_pending - finished.keys()
        if remaining:
            finished.update(await self._confirm_finished(session_id, remaining))
        return list(finished.values())

    async def _confirm_finished(
        self, session_id: str | None, candidates: set[str]
    ) -> dict[str, Job]:
        found: dict[str, Job] = {}
        remaining = set(candidates)
        if len(remaining) > 2:
            # Older finished jobs: further pages of the finished list, newest first.
            offset = 0
            pages = -(-len(remaining) // self._schedule.page_size) + 1
            for _ in range(pages):
                page = await self._list(pending=False, session_id=session_id, offset=offset)
                for item in page.jobs:
                    if item.id in remaining and is_server_terminal(item.status):
                        found[item.id] = item
                        remaining.discard(item.id)
                offset += len(page.jobs)
                if not remaining or not page.jobs or offset >= page.count:
                    break

        async def confirm(job_id: str) -> None:
            try:
                item = await self._get(job_id)
            except NotFoundError as exc:
                state = self._jobs.pop(job_id, None)
                if state is not None:
                    self._fire(state.settle(error=_missing(job_id, exc)), state)
                return
            except (APIError, ProtocolError) as exc:  # transient: the next tick asks again
                logger.warning("watcher %s: reading job %s failed: %s", self.name, job_id, exc)
                return
            tracked = self._jobs.get(job_id)
            if tracked is not None:
                self._changes += tracked.apply(item)
            if is_server_terminal(item.status):
                found[job_id] = item

        async with anyio.create_task_group() as tg:
            for job_id in list(remaining)[:MAX_SINGLE_GETS]:
                tg.start_soon(confirm, job_id)
        return found

    async def _list(self, *, pending: bool, session_id: str | None, offset: int) -> JobList:
        self.requests += 1
        # include_mocks: jobs on mock (dry-run) devices are ours to watch too.
        return await self._core.client.jobs.list(
            limit=self._schedule.page_size,
            offset=offset,
            pending=pending,
            session_id=session_id,
            include_mocks=True,
        )

    async def _get(self, job_id: str) -> Job:
        self.requests += 1
        return await self._core.client.jobs.get(job_id)

    # --- settling ------------------------------------------------------------------------------

    async def _settle(self, finished: Iterable[Job]) -> None:
        self._changes += 1
        group = self._settle_group
        assert group is not None
        now = anyio.current_time()
        for item in finished:
            if self._retry_fetch_at.get(item.id, now) > now:
                continue  # its last fetch failed: back off (it stays pending meanwhile)
            state = self._jobs.pop(item.id, None)
            if state is not None:
                self._settling[item.id] = state
                group.start_soon(self._settle_one, state, item)

    async def _settle_one(self, state: State, item: Job) -> None:
        state.apply(item)
        try:
            result, error = await self._outcome(state, item)
        except APIError as exc:
            # Transient: back to pending; a later tick tries again, after a per-job backoff.
            failures = self._fetch_failures.get(item.id, 0) + 1
            self._fetch_failures[item.id] = failures
            delay = backoff_ceiling(self._core.transport.retry, failures)
            self._retry_fetch_at[item.id] = anyio.current_time() + delay
            self.fetch_failures += 1
            logger.warning(
                "watcher %s: fetching job %s (session %s) failed (%d times, next try in %.2fs): %s",
                self.name,
                item.id,
                state.session_id,
                failures,
                delay,
                exc,
            )
            if self._settling.pop(item.id, None) is not None:
                self._jobs[item.id] = state
                self._wake.set()  # the loop may be asleep with nothing left to poll
            return
        self._fetch_failures.pop(item.id, None)
        self._retry_fetch_at.pop(item.id, None)
        if self._settling.pop(item.id, None) is None:
            return  # released meanwhile
        self._fire(state.settle(result=result, error=error), state)
        self._run_due_callbacks()

    async def settle_now(self, state: State, item: Job | None = None) -> None:
        """Fetch the outcome of a job already known to be final and settle it (no tracking)."""
        item = item or state.last_seen
        if item is None or state.done:
            return
        state.apply(item)
        result, error = await self._outcome(state, item)
        self._jobs.pop(item.id, None)
        self._fire(state.settle(result=result, error=error), state)
        self._wake.set()

    def is_tracking(self, state: State) -> bool:
        job_id = state.job_id
        return self._jobs.get(job_id) is state or self._settling.get(job_id) is state

    async def _outcome(self, state: State, item: Job) -> tuple[Any, Exception | None]:
        """The result or error of a final job: one ``/results`` fetch when there is one to read."""
        server_state = parse_server_job_state(item.status)
        if server_state is ServerJobState.COMPLETED:
            async with self._fetch_limiter:
                text = await self._results_text(item.id)
            try:
                decoder = state.result_decoder or result_decoder_for(state.program_id)
                return await self._core.offload.decode_result(text, decoder), None
            except (CodecError, ProtocolError) as exc:
                # A result we cannot read is this job's failure, not the watcher's.
                return None, exc
        error_text = None
        if server_state is ServerJobState.FAILED:
            # Like the official client: the results document holds the traceback.
            try:
                async with self._fetch_limiter:
                    error_text = _last_traceback(await self._results_text(item.id))
            except APIError as exc:
                logger.debug("no error text for job %s: %s", item.id, exc)
        return None, job_outcome(
            item.id, item.status, item.reason, item.reason_code, error_text=error_text
        )

    async def _results_text(self, job_id: str) -> str:
        self.result_requests += 1
        return await self._core.client.jobs.results(job_id)

    def _fire(self, callbacks: list[Callback], state: State) -> None:
        # Called at the moment of the transition, in registration order; errors via _due.
        self._due.extend((fn, state.handle) for fn in callbacks)
        if not self._jobs and not self._settling:
            self._idle.set()


def _page_mark(page: JobList) -> tuple[int, frozenset[str]]:
    """What a tick remembers of the newest finished page: how many there were, which."""
    return page.count, frozenset(item.id for item in page.jobs)


def _missing(job_id: str, exc: NotFoundError) -> JobError:
    error = JobError(
        f"job {job_id} no longer exists on the service (deleted?)", job_id=job_id, status="Unknown"
    )
    error.__cause__ = exc
    return error


def _no_status_form(cause: APIStatusError) -> str:
    return (
        f"the service has neither the job list nor GET /jobs/{{id}} "
        f"(GET /jobs/{{id}} answered {cause.status})"
    )


def _last_traceback(text: str) -> str | None:
    index = text.rfind("Traceback")
    text = text[index:] if index >= 0 else text
    return text.strip() or None
