"""The authoritative in-memory state (jobs, sessions, results), journaled to SQLite.

All mutations happen on the event loop (single-threaded, so no locks) through the methods here,
which apply the lifecycle table, journal the change (:mod:`._db`) and wake whoever waits
(:meth:`Store.wait_for`). The scheduler decides *when* jobs move; the store decides *how*.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

import anyio

from aioqruntime.protocol._states import ServerJobState, SessionState
from aioqruntime.server._db import Database, LoadedState
from aioqruntime.server._records import JobRecord, SessionRecord, utcnow

__all__ = ["Store"]

logger = logging.getLogger("aioqruntime.server")

_QUEUED = ServerJobState.QUEUED
_RUNNING = ServerJobState.RUNNING


class Store:
    def __init__(self, db: Database | None) -> None:
        self.jobs: dict[str, JobRecord] = {}
        self.sessions: dict[str, SessionRecord] = {}
        self.results: dict[str, str] = {}
        self._db = db
        self._sequence = itertools.count(1)
        self._changed = anyio.Event()
        #: ``(event, id, detail)`` in the order things happened, for tests (scheduling order...).
        self.events: list[tuple[str, str, str]] = []
        self.on_change: Callable[[], None] = lambda: None

    # -- loading ---------------------------------------------------------------------------
    def load(self, state: LoadedState) -> list[str]:
        """Restore rows; jobs Running when the server died are re-queued (their ids returned)."""
        requeued: list[str] = []
        for session_id, doc in state.sessions:
            self.sessions[session_id] = SessionRecord.from_row(doc)
        for job_id, doc, params, result in sorted(
            state.jobs, key=lambda row: json.loads(row[1]).get("sequence", 0)
        ):
            job = JobRecord.from_row(doc, params)
            if job.status is _RUNNING:
                # The simulation died with the process; nothing was returned, so run it again.
                job.status = _QUEUED
                job.running_at = None
                job.log("server restarted while the job was running; re-queued")
                requeued.append(job_id)
                self._journal_job(job)
            self.jobs[job_id] = job
            if result is not None:
                self.results[job_id] = result
        top = max((job.sequence for job in self.jobs.values()), default=0)
        self._sequence = itertools.count(top + 1)
        return requeued

    # -- change notification ---------------------------------------------------------------
    def changed(self, event: str, ident: str, detail: str = "") -> None:
        self.events.append((event, ident, detail))
        self._changed.set()
        self._changed = anyio.Event()
        self.on_change()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds (re-checked after every change; no polling)."""
        while not predicate():
            await self._changed.wait()

    async def flush(self) -> None:
        if self._db is not None:
            await self._db.flush()

    # -- jobs ------------------------------------------------------------------------------
    def add_job(self, job: JobRecord) -> None:
        job.sequence = next(self._sequence)
        job.log(f"job created: program {job.program_id}, backend {job.backend}")
        self.jobs[job.id] = job
        if self._db is not None:
            self._db.put_job(job.id, job.instance, job.to_row(), job.params_text)
        self.changed("job_queued", job.id, job.backend)

    def save_job(self, job: JobRecord) -> None:
        self._journal_job(job)

    def _journal_job(self, job: JobRecord) -> None:
        if self._db is not None:
            self._db.update_job(job.id, job.to_row())

    def move_job(
        self,
        job: JobRecord,
        target: ServerJobState,
        *,
        reason: str | None = None,
        reason_code: int | None = None,
        result: str | None = None,
    ) -> None:
        job.move(target, reason=reason, reason_code=reason_code)
        if result is not None:
            self.results[job.id] = result
            if self._db is not None:
                self._db.set_result(job.id, result)
        self._journal_job(job)
        self.changed(f"job_{target.value.lower()}", job.id, job.backend)

    def delete_job(self, job: JobRecord) -> None:
        del self.jobs[job.id]
        self.results.pop(job.id, None)
        if self._db is not None:
            self._db.delete_job(job.id)
        self.changed("job_deleted", job.id)

    def queued(self, backend: str | None = None) -> list[JobRecord]:
        return sorted(
            (
                j
                for j in self.jobs.values()
                if j.status is _QUEUED and (backend is None or j.backend == backend)
            ),
            key=lambda j: j.sequence,
        )

    def session_jobs(self, session_id: str, *states: ServerJobState) -> list[JobRecord]:
        return [
            j
            for j in self.jobs.values()
            if j.session_id == session_id and (not states or j.status in states)
        ]

    # -- sessions --------------------------------------------------------------------------
    def add_session(self, session: SessionRecord) -> None:
        self.sessions[session.id] = session
        self.save_session(session)
        self.changed("session_created", session.id, session.backend)

    def save_session(self, session: SessionRecord) -> None:
        if self._db is not None:
            self._db.put_session(session.id, session.instance, session.to_row())

    def move_session(self, session: SessionRecord, target: SessionState, reason: str) -> bool:
        moved = session.move(target, reason=reason)
        if moved:
            self.save_session(session)
            self.changed(f"session_{target.value}", session.id, reason)
        return moved

    def cancel_queued(self, jobs: Iterable[JobRecord], reason: str) -> None:
        for job in list(jobs):
            if job.status is _QUEUED:
                self.move_job(job, ServerJobState.CANCELLED, reason=reason)

    def finish_session_if_drained(self, session: SessionRecord) -> None:
        """A session that no longer accepts jobs closes once none of its jobs is pending."""
        if session.closed or session.accepting_jobs:
            return
        if self.session_jobs(session.id, _QUEUED, _RUNNING):
            return
        self.move_session(session, SessionState.CLOSED, session.state_reason or "closed")

    def touch_session(self, session: SessionRecord, *, started: datetime | None = None) -> None:
        if started is not None:
            session.last_job_started = started
        self.save_session(session)

    @staticmethod
    def now() -> datetime:
        return utcnow()
