"""SQLite persistence: a write-through journal of the in-memory state, on one dedicated thread.

Design (why): the authoritative state lives in memory (the store), so reads never touch the disk
and never wait. Every mutation is *enqueued* synchronously, in order, to a single writer thread
that owns the only ``sqlite3`` connection; ordering is therefore exactly the order of mutations
(no stale snapshot can overwrite a newer one). The thread commits once per drained batch. A caller
that must not answer before the data is durable (job creation, results) awaits :meth:`flush`,
a barrier resolved by the thread after the commit. At start-up :meth:`load` reads everything back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final, cast

__all__ = ["Database", "LoadedState"]

logger = logging.getLogger("aioqruntime.server.db")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    doc TEXT NOT NULL,
    params TEXT NOT NULL,
    result TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_Op = tuple[str, tuple[object, ...]]
_STOP: Final = object()


class LoadedState:
    """Rows read back at start-up."""

    def __init__(self) -> None:
        #: ``(id, doc, params, result)``
        self.jobs: list[tuple[str, str, str, str | None]] = []
        self.sessions: list[tuple[str, str]] = []
        self.meta: dict[str, str] = {}


class Database:
    """One SQLite file written by one thread; see the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failure: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def open_and_load(self) -> LoadedState:
        """Create the schema and read every row (blocking: call it from a worker thread)."""
        with sqlite3.connect(self.path) as connection:
            connection.executescript(_SCHEMA)
            state = LoadedState()
            state.jobs = list(connection.execute("SELECT id, doc, params, result FROM jobs"))
            state.sessions = list(connection.execute("SELECT id, doc FROM sessions"))
            state.meta = dict(connection.execute("SELECT key, value FROM meta"))
        connection.close()
        return state

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="aioqruntime-server-db", daemon=True)
        self._thread.start()

    def stop_blocking(self) -> None:
        """Drain, commit and stop the writer (blocking: call it from a worker thread)."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None

    # -- writes (non-blocking, ordered) ----------------------------------------------------
    def put_job(self, job_id: str, instance: str, doc: str, params: str) -> None:
        self._queue.put(
            (
                "INSERT INTO jobs (id, instance, doc, params) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                (job_id, instance, doc, params),
            )
        )

    def update_job(self, job_id: str, doc: str) -> None:
        self._queue.put(("UPDATE jobs SET doc = ? WHERE id = ?", (doc, job_id)))

    def set_result(self, job_id: str, result: str | None) -> None:
        self._queue.put(("UPDATE jobs SET result = ? WHERE id = ?", (result, job_id)))

    def delete_job(self, job_id: str) -> None:
        self._queue.put(("DELETE FROM jobs WHERE id = ?", (job_id,)))

    def put_session(self, session_id: str, instance: str, doc: str) -> None:
        self._queue.put(
            (
                "INSERT INTO sessions (id, instance, doc) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                (session_id, instance, doc),
            )
        )

    def put_meta(self, key: str, value: str) -> None:
        self._queue.put(
            (
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        )

    async def flush(self) -> None:
        """Wait until everything enqueued so far is committed."""
        if self._thread is None or self._loop is None:
            return
        if self._failure is not None or not self._thread.is_alive():
            raise RuntimeError("the server's database writer has stopped")
        future: asyncio.Future[None] = self._loop.create_future()
        self._queue.put(future)
        await future

    # -- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        connection = sqlite3.connect(self.path, check_same_thread=True)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            stopping = False
            while not stopping:
                batch = [self._queue.get()]
                while True:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                waiters: list[asyncio.Future[None]] = []
                for item in batch:
                    if item is _STOP:
                        stopping = True
                    elif isinstance(item, asyncio.Future):
                        waiters.append(item)
                    else:
                        sql, args = cast("_Op", item)
                        try:
                            connection.execute(sql, args)
                        except (sqlite3.Error, ValueError) as exc:
                            # One bad row (e.g. text that is not valid UTF-8: ValueError) must
                            # not kill the only writer, or every later flush() would hang.
                            logger.error(
                                "database write failed: %s (%s)", sql.split()[0], type(exc).__name__
                            )
                try:
                    connection.commit()
                except sqlite3.Error as exc:
                    logger.error("database commit failed (%s)", type(exc).__name__)
                for waiter in waiters:
                    self._resolve(waiter)
        except BaseException as exc:
            self._failure = exc
            raise
        finally:
            connection.close()
            self._release_waiters()

    def _release_waiters(self) -> None:
        """After the writer stopped: nobody may wait forever for a flush it will never do."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, asyncio.Future):
                self._resolve(item, failed=True)

    def _resolve(self, waiter: asyncio.Future[None], *, failed: bool = False) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        setter: Callable[[asyncio.Future[None]], None] = _set_failed if failed else _set_done
        # The loop may close between the check and the call.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(setter, waiter)


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _set_failed(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(RuntimeError("the server's database writer has stopped"))
