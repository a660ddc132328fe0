"""The server's own task group (entered and exited from different tasks) and its in-flight requests.

Why not ``anyio.create_task_group()``: a cancel scope must be exited by the task that entered it,
and the ubiquitous pytest-asyncio fixture (``async with LocalRuntimeServer() as s: yield s``) runs
set-up and tear-down in *different* tasks. So the server owns its background tasks through this
supervisor instead: every task is started here and strongly referenced, a task that crashes is
recorded and re-raised (chained to a ``RuntimeError``) when the server exits, and :meth:`aclose` —
called by ``LocalRuntimeServer.__aexit__`` on every exit path — cancels every task and waits for
all of them. Nothing outlives the context manager.

:class:`InFlight` knows the request handlers running right now, so that shutdown can give them a
short grace and then cancel them (aiohttp alone would wait up to its ``shutdown_timeout`` for a
handler held by a long latency fault, and not at all for one whose client already left).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

__all__ = ["InFlight", "TaskSupervisor"]

logger = logging.getLogger("aioqruntime.server")


class TaskSupervisor:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failures: list[BaseException] = []
        self._closed = False

    def start_soon(
        self, function: Callable[..., Coroutine[Any, Any, Any]], *args: Any, name: str | None = None
    ) -> None:
        if self._closed:
            raise RuntimeError("the server is shutting down")
        coroutine = function(*args)
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        failure = task.exception()
        if failure is not None:
            logger.error("server task %s crashed", task.get_name(), exc_info=failure)
            self._failures.append(failure)

    async def aclose(self, *, raise_failures: bool = True) -> None:
        """Cancel every task, wait for all of them, then raise what crashed (if anything).

        With ``raise_failures=False`` (the server's body is already leaving with an exception)
        crashes are not raised: each was logged when it happened.
        """
        self._closed = True
        while self._tasks:
            pending = list(self._tasks)
            for task in pending:
                task.cancel()
            # Shielded wait: if our caller is cancelled meanwhile, the tasks still finish first.
            await asyncio.shield(asyncio.gather(*pending, return_exceptions=True))
        if self._failures:
            failures, self._failures = self._failures, []
            if not raise_failures:
                return
            raise RuntimeError(
                f"{len(failures)} local runtime server background task(s) failed"
            ) from failures[0]


class InFlight:
    """The tasks running a request handler now, and how many requests latency faults have held."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._held: set[asyncio.Task[Any]] = set()
        #: Requests held by a latency fault right now, and since the start (with bodies read).
        self.held_now = 0
        self.held_total = 0
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._tasks)

    def enter(self) -> asyncio.Task[Any] | None:
        """Register the current task as handling a request (a plain call: it runs per request)."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        return task

    def leave(self, task: asyncio.Task[Any] | None) -> None:
        if task is not None:
            self._tasks.discard(task)

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Wrap the wait of a request held by a latency fault."""
        task = asyncio.current_task()
        if task is not None:
            self._held.add(task)
        self.held_now += 1
        self.held_total += 1
        self._notify()
        try:
            yield
        finally:
            if task is not None:
                self._held.discard(task)
            self.held_now -= 1
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds (re-checked after every hold or release)."""
        while not predicate():
            await self._changed.wait()

    async def stop(self, grace: float, bound: float) -> None:
        """Cancel held requests, give the others ``grace`` seconds, then cancel them too.

        Call it after the listening sockets closed. A request held by a latency fault is only
        waiting on purpose, so it is cancelled at once. Cancelled handlers get ``bound`` seconds
        to finish; one still running after that (it swallowed its cancellation) is logged and
        left to aiohttp's own shutdown.
        """
        cancelled = self._cancel(self._held, set())
        running = self._tasks - cancelled
        if running and grace > 0:
            await asyncio.wait(running, timeout=grace)
        cancelled |= self._cancel(self._tasks, cancelled)
        if not cancelled:
            return
        _, pending = await asyncio.wait(cancelled, timeout=bound)
        if pending:
            logger.warning("%d request handler(s) ignored cancellation at shutdown", len(pending))

    @staticmethod
    def _cancel(
        tasks: set[asyncio.Task[Any]], already: set[asyncio.Task[Any]]
    ) -> set[asyncio.Task[Any]]:
        chosen = {task for task in tasks if not task.done() and task not in already}
        for task in chosen:
            task.cancel()
        return chosen
