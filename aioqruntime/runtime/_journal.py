"""The submission journal: a SQLite file that lets a new process find every job again.

Enabled with ``AsyncRuntimeService(journal="path.sqlite")``. Every ``POST /jobs`` is written down
*before* it is sent (client tag, label, program, backend, session) and again when the service has
answered (job id), so a crash at any point leaves either a job id or a client tag that finds the
job (``GET /jobs?tags=...``). A job is marked ``settled`` once its outcome has been delivered to
the process (result fetched and decoded, or the job's error); :meth:`AsyncRuntimeService.resume`
re-attaches every job of the journal that is not settled. Sessions and batches opened through the
service are recorded too (id, mode, backend, label, open/closed).

Storage: stdlib ``sqlite3``, WAL mode, every statement in a worker thread (one at a time, never on
the event loop). A committed row survives the process being killed (SIGKILL included); it is not
guaranteed to survive a power failure (``synchronous=NORMAL``). Credentials are never written.

Times in the journal are wall-clock (``time.time()``): they are compared across processes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import anyio

__all__ = ["Journal", "JournalEntry", "JournalSession"]

#: Job rows: ``submitting`` (POST not answered yet), ``submitted`` (job id known), ``settled``
#: (outcome delivered), ``rejected`` (the service certainly did not create it), ``not_found``
#: (a resumed ``submitting`` row whose tag finds no job: the POST never arrived).
JobState = Literal["submitting", "submitted", "settled", "rejected", "not_found"]
_UNFINISHED: Final = ("submitting", "submitted")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS jobs (
    client_tag   TEXT PRIMARY KEY,
    label        TEXT,
    tags         TEXT NOT NULL,
    program_id   TEXT NOT NULL,
    backend      TEXT NOT NULL,
    session_id   TEXT,
    job_id       TEXT,
    state        TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    updated_at   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
CREATE TABLE IF NOT EXISTS sessions (
    session_id   TEXT PRIMARY KEY,
    mode         TEXT NOT NULL,
    backend      TEXT NOT NULL,
    label        TEXT,
    state        TEXT NOT NULL,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL
);
"""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One submission as the journal knows it."""

    client_tag: str
    label: str | None
    tags: tuple[str, ...]
    program_id: str
    backend: str
    session_id: str | None
    job_id: str | None
    state: str
    submitted_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class JournalSession:
    """One session or batch opened through a journaled service."""

    session_id: str
    mode: str
    backend: str
    label: str | None
    state: str
    created_at: float
    updated_at: float


class Journal:
    """The journal file; open with ``await journal.open()``, close with ``await journal.aclose()``.

    Writes are serialized on one worker thread at a time. :meth:`note_settled` is sync (called from
    a job's settle listener): the mark is buffered and written with the next statement, by
    :meth:`flush`, or at :meth:`aclose`. Losing a buffered mark in a crash only means
    ``resume()`` returns that job once more (its outcome is fetched again).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._limiter = anyio.CapacityLimiter(1)
        self._settled: set[str] = set()
        self._marks_lock = threading.Lock()  # note_settled (loop) vs flushes (worker thread)

    def __repr__(self) -> str:
        return f"<Journal {str(self.path)!r}>"

    # --- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        await anyio.to_thread.run_sync(self._open_blocking, limiter=self._limiter)

    def _open_blocking(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    async def aclose(self) -> None:
        """Write the buffered marks and close the file (bounded and shielded)."""
        with anyio.move_on_after(10, shield=True):
            await anyio.to_thread.run_sync(self._close_blocking, limiter=self._limiter)

    def _close_blocking(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            self._flush_blocking(conn)
        finally:
            conn.close()

    # --- writes --------------------------------------------------------------------------------

    async def submitting(
        self,
        *,
        client_tag: str,
        label: str | None,
        tags: Sequence[str],
        program_id: str,
        backend: str,
        session_id: str | None,
    ) -> None:
        """Before ``POST /jobs``: the tag that finds the job if the answer is lost."""
        now = time.time()
        await self._write(
            "INSERT INTO jobs (client_tag, label, tags, program_id, backend, session_id, job_id,"
            " state, submitted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, NULL, 'submitting', ?, ?)",
            (client_tag, label, json.dumps(list(tags)), program_id, backend, session_id, now, now),
        )

    async def submitted(
        self, client_tag: str, *, job_id: str, backend: str | None, session_id: str | None
    ) -> None:
        """The service accepted the submission (or reconciliation found it)."""
        await self._write(
            "UPDATE jobs SET job_id = ?, backend = COALESCE(?, backend),"
            " session_id = COALESCE(?, session_id), state = 'submitted', updated_at = ?"
            " WHERE client_tag = ? AND state IN ('submitting', 'submitted')",
            (job_id, backend, session_id, time.time(), client_tag),
        )

    async def set_state(self, client_tag: str, state: JobState) -> None:
        await self._write(
            "UPDATE jobs SET state = ?, updated_at = ? WHERE client_tag = ?",
            (state, time.time(), client_tag),
        )

    def note_settled(self, client_tag: str) -> None:
        """The job's outcome reached the process (sync; written with the next statement)."""
        with self._marks_lock:
            self._settled.add(client_tag)

    async def flush(self) -> None:
        await self._call(self._flush_blocking)

    async def session_opened(
        self, session_id: str, *, mode: str, backend: str, label: str | None
    ) -> None:
        now = time.time()
        await self._write(
            "INSERT OR REPLACE INTO sessions (session_id, mode, backend, label, state, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, 'open', ?, ?)",
            (session_id, mode, backend, label, now, now),
        )

    async def session_ended(self, session_id: str, state: str) -> None:
        await self._write(
            "UPDATE sessions SET state = ?, updated_at = ? WHERE session_id = ?",
            (state, time.time(), session_id),
        )

    # --- reads ---------------------------------------------------------------------------------

    async def entries(self, *, unfinished_only: bool = False) -> list[JournalEntry]:
        """Every job row (oldest first), or only those not settled/rejected/not found."""
        where = f" WHERE state IN {_UNFINISHED!r}" if unfinished_only else ""
        rows = await self._read(
            "SELECT client_tag, label, tags, program_id, backend, session_id, job_id, state,"
            f" submitted_at, updated_at FROM jobs{where} ORDER BY submitted_at, rowid"
        )
        return [
            JournalEntry(
                client_tag=row[0],
                label=row[1],
                tags=tuple(json.loads(row[2])),
                program_id=row[3],
                backend=row[4],
                session_id=row[5],
                job_id=row[6],
                state=row[7],
                submitted_at=row[8],
                updated_at=row[9],
            )
            for row in rows
        ]

    async def sessions(self) -> list[JournalSession]:
        rows = await self._read(
            "SELECT session_id, mode, backend, label, state, created_at, updated_at FROM sessions"
            " ORDER BY created_at"
        )
        return [JournalSession(*row) for row in rows]

    # --- plumbing ------------------------------------------------------------------------------

    async def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with conn:  # one transaction: the statement and the buffered settle marks
                conn.execute("BEGIN")
                conn.execute(sql, args)
                self._flush_marks(conn)

        await self._call(run)

    async def _read(self, sql: str) -> list[tuple[Any, ...]]:
        def run(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            self._flush_blocking(conn)
            return list(conn.execute(sql).fetchall())

        return await self._call(run)

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def blocking() -> T:
            if self._conn is None:
                raise RuntimeError("the journal is not open")
            return fn(self._conn)

        return await anyio.to_thread.run_sync(blocking, limiter=self._limiter)

    def _flush_blocking(self, conn: sqlite3.Connection) -> None:
        if not self._settled:
            return
        with conn:
            conn.execute("BEGIN")
            self._flush_marks(conn)

    def _flush_marks(self, conn: sqlite3.Connection) -> None:
        with self._marks_lock:
            marks, self._settled = self._settled, set()
        if not marks:
            return
        now = time.time()
        try:
            conn.executemany(
                "UPDATE jobs SET state = 'settled', updated_at = ? WHERE client_tag = ?",
                [(now, tag) for tag in marks],
            )
        except BaseException:
            with self._marks_lock:
                self._settled |= marks
            raise
