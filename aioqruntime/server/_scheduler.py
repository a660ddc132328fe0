"""Scheduling like a QPU: lanes per backend, session priority, TTL clocks, fault hooks.

Policy, per backend (``lanes`` jobs at a time, 1 by default, like a real device):

1. nothing starts on a paused backend (test hook :meth:`Scheduler.pause`);
2. queued jobs of an *active dedicated* session go first (the session holds priority on its
   device), oldest session activation first, then submission order;
3. otherwise first-in first-out by submission order, which also runs a batch's jobs in order.

A session's clocks use wall time (they must survive a restart): it becomes ``active`` when its
first job starts, ``inactive`` when ``interactive_ttl`` passes with none of its jobs running or
queued, and ``closed`` at ``max_ttl`` after activation (its queued jobs are cancelled, running ones
finish). A session into which no job was submitted for ``session_idle_timeout`` (30 min by default,
counted from creation or the last submission) stops accepting jobs and closes once its jobs are
done, like a ``PATCH accepting_jobs=false``. One dispatcher task and one timekeeper task live in
the server's task supervisor; each job runs in its own task there, holding a cancel scope so that
``POST /jobs/{id}/cancel`` and the maximum execution time can stop it.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio

from aioqruntime.protocol._states import (
    RAN_TOO_LONG_REASON_CODE,
    ServerJobState,
    SessionMode,
    SessionState,
)
from aioqruntime.server._config import ServerConfig
from aioqruntime.server._executor import SimulationPool
from aioqruntime.server._records import JobRecord, SessionRecord, utcnow
from aioqruntime.server._store import Store
from aioqruntime.server._tasks import TaskSupervisor
from aioqruntime.server._worker import dumps_error

__all__ = ["FAILED_REASON_CODE", "BackendInfo", "Scheduler"]

logger = logging.getLogger("aioqruntime.server")

#: Reason code of a job whose execution raised (the official client shows "Error code 1517; ...").
FAILED_REASON_CODE = 1517

_Q, _R = ServerJobState.QUEUED, ServerJobState.RUNNING


@dataclass(frozen=True)
class BackendInfo:
    """What the server knows about a device it serves."""

    name: str
    configuration: Mapping[str, Any]
    properties: Mapping[str, Any] | None
    list_entry_extra: Mapping[str, Any]
    target: Any

    @property
    def n_qubits(self) -> int:
        return int(self.configuration.get("n_qubits", 0))


class Scheduler:
    def __init__(
        self,
        store: Store,
        pool: SimulationPool,
        backends: Mapping[str, BackendInfo],
        config: ServerConfig,
    ) -> None:
        self.store = store
        self.pool = pool
        self.backends = backends
        self.config = config
        self._tg: TaskSupervisor | None = None
        self._wake = anyio.Event()
        self._clock_wake = anyio.Event()
        self._paused: set[str] = set()
        self._paused_all = False
        self._fail_next: dict[str, deque[tuple[str, int]]] = {}
        self._running: dict[str, anyio.CancelScope] = {}
        store.on_change = self.wake

    # -- hooks -----------------------------------------------------------------------------
    def wake(self) -> None:
        """Something changed: re-run dispatch and re-read the session clocks."""
        self._wake.set()
        self._clock_wake.set()

    def pause(self, backend: str | None = None) -> None:
        if backend is None:
            self._paused_all = True
        else:
            self._paused.add(backend)

    def resume(self, backend: str | None = None) -> None:
        if backend is None:
            self._paused_all = False
            self._paused.clear()
        else:
            self._paused.discard(backend)
        self.wake()

    def is_paused(self, backend: str) -> bool:
        return self._paused_all or backend in self._paused

    def fail_next_job(self, backend: str, reason: str, reason_code: int) -> None:
        self._fail_next.setdefault(backend, deque()).append((reason, reason_code))

    def queue_length(self, backend: str) -> int:
        return sum(1 for j in self.store.jobs.values() if j.backend == backend and j.status is _Q)

    # -- tasks -----------------------------------------------------------------------------
    def start(self, tg: TaskSupervisor) -> None:
        self._tg = tg
        tg.start_soon(self._dispatch_loop, name="aioqruntime-server-dispatcher")
        tg.start_soon(self._timekeeper_loop, name="aioqruntime-server-session-clock")

    async def _dispatch_loop(self) -> None:
        while True:
            self._wake = anyio.Event()
            self._dispatch()
            await self._wake.wait()

    def _dispatch(self) -> None:
        assert self._tg is not None
        for name in self.backends:
            if self.is_paused(name):
                continue
            busy = sum(1 for j in self.store.jobs.values() if j.backend == name and j.status is _R)
            while busy < max(1, self.config.lanes):
                job = self._pick(name)
                if job is None:
                    break
                busy += 1
                self._start_job(job)
                self._tg.start_soon(self._execute, job, name=f"aioqruntime-job-{job.id}")

    def _pick(self, backend: str) -> JobRecord | None:
        queued = self.store.queued(backend)
        if not queued:
            return None
        sessions = self.store.sessions

        def priority(job: JobRecord) -> tuple[int, datetime, int]:
            session = sessions.get(job.session_id or "")
            if (
                session is not None
                and session.mode is SessionMode.DEDICATED
                and session.state is SessionState.ACTIVE
                and session.activated_at is not None
            ):
                return (0, session.activated_at, job.sequence)
            return (1, datetime.min.replace(tzinfo=queued[0].created.tzinfo), job.sequence)

        return min(queued, key=priority)

    def _start_job(self, job: JobRecord) -> None:
        self.store.move_job(job, _R)
        session = self.store.sessions.get(job.session_id or "")
        if session is not None:
            session.last_job_started = job.running_at
            if not self.store.move_session(session, SessionState.ACTIVE, "job started"):
                self.store.save_session(session)

    def _time_limit(self, job: JobRecord) -> float:
        limits = [x for x in (job.cost, self.config.max_execution_time) if x is not None]
        return float(min(limits)) if limits else math.inf

    async def _execute(self, job: JobRecord) -> None:
        backend = self.backends[job.backend]
        started = time.monotonic()
        timed_out = False
        outcome: tuple[bool, str, dict[str, Any]] | None = None
        failure = self._fail_next.get(job.backend)
        try:
            with anyio.CancelScope() as scope:
                self._running[job.id] = scope
                if failure:
                    reason, code = failure.popleft()
                    self.store.move_job(
                        job,
                        ServerJobState.FAILED,
                        reason=reason,
                        reason_code=code,
                        result=dumps_error(f"JobFailure: {reason} (error code {code})"),
                    )
                    return
                with anyio.move_on_after(self._time_limit(job)) as timeout:
                    if self.config.execution_delay > 0:
                        await anyio.sleep(self.config.execution_delay)
                    noise = (
                        (dict(backend.configuration), backend.properties)
                        if self.config.noise and backend.properties
                        else None
                    )
                    try:
                        outcome = await self.pool.run_job(
                            job.program_id,
                            job.params_text,
                            noise_device=noise,
                            # A mock (dry-run) device simulates nothing, as the service's.
                            dry_run=backend.list_entry_extra.get("class") == "mock",
                        )
                    except Exception as exc:  # e.g. a worker died: the job fails, not the server
                        logger.warning("simulation of job %s failed: %r", job.id, exc)
                        outcome = (False, dumps_error(f"{type(exc).__name__}: {exc}"), {})
                timed_out = timeout.cancelled_caught
        finally:
            self._running.pop(job.id, None)
            self._after_job(job, time.monotonic() - started, timed_out, outcome)

    def _after_job(
        self,
        job: JobRecord,
        seconds: float,
        timed_out: bool,
        outcome: tuple[bool, str, dict[str, Any]] | None,
    ) -> None:
        if job.status is _R:
            job.qpu_seconds = seconds
            if timed_out:
                limit = self._time_limit(job)
                self.store.move_job(
                    job,
                    ServerJobState.CANCELLED,
                    reason="RAN TOO LONG",
                    reason_code=RAN_TOO_LONG_REASON_CODE,
                    result=dumps_error(
                        f"RuntimeJobMaxTimeoutError: the job ran longer than its maximum "
                        f"execution time of {limit:g} s and was cancelled"
                    ),
                )
            elif outcome is not None:
                ok, text, stats = outcome
                if "seconds" in stats:
                    # Charge the simulation and the emulated QPU time, not worker start-up.
                    job.qpu_seconds = float(stats["seconds"]) + self.config.execution_delay
                job.circuits_execution_time_ns = int(float(stats.get("seconds", 0.0)) * 1e9)
                job.qiskit_version = stats.get("qiskit_version")
                if ok:
                    self.store.move_job(job, ServerJobState.COMPLETED, result=text)
                else:
                    last = text.strip().splitlines()[-1] if text.strip() else "unknown error"
                    self.store.move_job(
                        job,
                        ServerJobState.FAILED,
                        reason=f"Error while running the job: {last}",
                        reason_code=FAILED_REASON_CODE,
                        result=text,
                    )
            # else: the server is shutting down; the job stays Running in the journal and is
            # re-queued at the next start.
        session = self.store.sessions.get(job.session_id or "")
        if session is not None and job.final:
            session.last_job_completed = job.finished_at
            session.elapsed_time += seconds
            self.store.save_session(session)
            self.store.finish_session_if_drained(session)
        self.wake()

    def cancel_running(self, job_id: str) -> None:
        scope = self._running.get(job_id)
        if scope is not None:
            scope.cancel()

    # -- session clocks --------------------------------------------------------------------
    async def _timekeeper_loop(self) -> None:
        while True:
            self._clock_wake = anyio.Event()
            delay = self._tick(utcnow())
            with anyio.move_on_after(delay):
                await self._clock_wake.wait()

    def _tick(self, now: datetime) -> float:
        """Apply every expired session clock; return seconds until the next deadline."""
        next_deadline: datetime | None = None
        for session in list(self.store.sessions.values()):
            if session.closed:
                continue
            for deadline, action in self._deadlines(session):
                if deadline <= now:
                    action(session)
                elif next_deadline is None or deadline < next_deadline:
                    next_deadline = deadline
        if next_deadline is None:
            return math.inf
        return max(0.0, (next_deadline - now).total_seconds())

    def _deadlines(self, session: SessionRecord) -> list[tuple[datetime, Any]]:
        out: list[tuple[datetime, Any]] = []
        if session.activated_at is not None:
            out.append((session.activated_at + timedelta(seconds=session.max_ttl), self._expire))
        idle_timeout = self.config.session_idle_timeout
        if idle_timeout is not None and session.accepting_jobs:
            submitted = session.last_job_submitted or session.created
            out.append((submitted + timedelta(seconds=idle_timeout), self._idle_close))
        if session.state is SessionState.ACTIVE and not self.store.session_jobs(session.id, _Q, _R):
            idle_since = session.last_job_completed or session.activated_at or session.created
            out.append((idle_since + timedelta(seconds=session.interactive_ttl), self._deactivate))
        return out

    def _deactivate(self, session: SessionRecord) -> None:
        self.store.move_session(session, SessionState.INACTIVE, "interactive TTL expired")

    def _idle_close(self, session: SessionRecord) -> None:
        """No job submitted for ``session_idle_timeout``: close it as ``PATCH`` would."""
        if session.closed or not session.accepting_jobs:
            return
        session.accepting_jobs = False
        session.state_reason = "no job submitted within the idle timeout"
        self.store.save_session(session)
        self.store.changed("session_idle", session.id, session.state_reason)
        self.store.finish_session_if_drained(session)

    def _expire(self, session: SessionRecord) -> None:
        if session.closed:
            return
        session.accepting_jobs = False
        self.store.cancel_queued(
            self.store.session_jobs(session.id, _Q), "Session max TTL expired; job cancelled"
        )
        self.store.move_session(session, SessionState.CLOSED, "max TTL expired")
