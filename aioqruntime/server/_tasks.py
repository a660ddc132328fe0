"""The server's own task group, which may be entered and exited from different tasks.

Why not ``anyio.create_task_group()``: a cancel scope must be exited by the task that entered it,
and the ubiquitous pytest-asyncio fixture (``async with LocalRuntimeServer() as s: yield s``) runs
set-up and tear-down in *different* tasks. So the server owns its background tasks through this
supervisor instead: every task is started here and strongly referenced, a task that crashes is
recorded and re-raised (chained to a ``RuntimeError``) when the server exits, and :meth:`aclose` —
called by ``LocalRuntimeServer.__aexit__`` on every exit path — cancels every task and waits for
all of them. Nothing outlives the context manager.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["TaskSupervisor"]

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
