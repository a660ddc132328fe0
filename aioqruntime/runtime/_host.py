"""``LifespanHost``: an async context manager entered and exited inside one task of its own.

A service used without ``async with`` (the official client's style), or in a notebook where every
cell runs as its own task, cannot keep its task group in the caller's task: anyio's cancel scopes
must be exited by the task that entered them, and the caller's task may be gone (a finished
cell) when the service closes. So the lifespan runs in a host task created here: it enters the
lifespan, says it is ready, waits for the stop event and exits the lifespan in that same task.

asyncio only (``asyncio.get_running_loop().create_task``): under another anyio backend there is
no running asyncio loop, and the caller keeps writing ``async with``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from aioqruntime._exceptions import ServiceClosedError

__all__ = ["LifespanHost", "asyncio_running"]

#: asyncio holds tasks weakly: a host task is held here until it ends (the idiom of asyncio's
#: docs), so a service nothing else holds is never torn down mid-run.
_RUNNING_HOSTS: set[asyncio.Task[None]] = set()


def asyncio_running() -> bool:
    """Whether the caller runs on an asyncio loop (not trio, nor outside any loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class LifespanHost:
    """Runs ``lifespan()`` in a task of its own from the first :meth:`open` to :meth:`close`.

    Concurrent :meth:`open` calls share one opening; a failure to open is raised to each of them
    unchanged and the next :meth:`open` tries again. :meth:`close` may come from any task.
    """

    def __init__(
        self, lifespan: Callable[[], AbstractAsyncContextManager[Any]], *, name: str
    ) -> None:
        self._lifespan = lifespan
        self._name = name
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._stop: asyncio.Event | None = None
        self._closed = False

    @property
    def started(self) -> bool:
        """Whether a host task was started and has not failed to open (open, or closing)."""
        return self._task is not None

    @property
    def failure(self) -> BaseException | None:
        """What ended the host task while open (``None`` while it runs, or if it ended well)."""
        task = self._task
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception()

    async def open(self) -> None:
        """Start the host task unless started; return once the lifespan is entered."""
        if self._closed:
            raise ServiceClosedError("the service is closed")
        if self._task is None:
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[None] = loop.create_future()
            self._ready, self._stop = ready, asyncio.Event()
            self._task = loop.create_task(self._host(ready, self._stop), name=self._name)
            _RUNNING_HOSTS.add(self._task)
            self._task.add_done_callback(_RUNNING_HOSTS.discard)
        assert self._ready is not None
        # Shielded: a caller cancelled while waiting leaves the opening going for the others.
        await asyncio.shield(self._ready)

    async def _host(self, ready: asyncio.Future[None], stop: asyncio.Event) -> None:
        try:
            async with self._lifespan():
                ready.set_result(None)
                await stop.wait()
        except BaseException as exc:
            if ready.done():  # it failed while open or closing: close() raises it
                raise
            self._task = self._ready = self._stop = None  # the next open() tries again
            if isinstance(exc, Exception):
                ready.set_exception(exc)
            else:  # cancelled (the loop is ending) or interrupted while opening
                ready.set_exception(ServiceClosedError("the service was stopped while opening"))
            ready.exception()  # delivered to the waiters; none left (all cancelled) is no error
            if not isinstance(exc, Exception):
                raise

    async def close(self) -> None:
        """Stop the host task and wait until the lifespan has exited; idempotent.

        What ended the lifespan badly (an error on the way out, a watcher's failure) is raised
        here, once. A caller cancelled while waiting leaves the closing going.
        """
        self._closed = True
        task, stop = self._task, self._stop
        if task is None or stop is None:
            return
        stop.set()
        try:
            if not task.cancelled():  # cancelled: the loop ended it, and its lifespan exited
                await asyncio.shield(task)
        finally:
            if task.done():
                self._task = self._ready = self._stop = None
