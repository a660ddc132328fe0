"""``as_completed(jobs)``: iterate over jobs in the order they finish."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import final

import anyio
from typing_extensions import Self

from aioqruntime.runtime._job import AsyncRuntimeJob

__all__ = ["as_completed"]


@final
class as_completed:
    """``async for job in as_completed(jobs)``: each job once, as soon as it is settled.

    An iterator class, not an async generator: it holds no task group or cancel scope between
    items, so breaking out of the loop leaves nothing behind (style C11). Jobs come in the order
    they settled; ``await job`` (or ``job.result()``) inside the loop gives the result or raises
    the job's error. A job abandoned by its closed owner is yielded too (awaiting it raises).
    Leaving or cancelling the loop cancels no job.
    """

    def __init__(self, jobs: Iterable[AsyncRuntimeJob]) -> None:
        self._jobs: list[AsyncRuntimeJob] = list(dict.fromkeys(jobs))
        self._remaining = len(self._jobs)
        self._ready: deque[AsyncRuntimeJob] = deque()
        self._changed = anyio.Event()
        self._listening = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> AsyncRuntimeJob:
        if not self._listening:
            self._listening = True
            for job in self._jobs:
                job.add_settle_listener(self._settled)
        while not self._ready:
            if self._remaining == 0:
                raise StopAsyncIteration
            await self._changed.wait()
            self._changed = anyio.Event()
        self._remaining -= 1
        return self._ready.popleft()

    def _settled(self, job: AsyncRuntimeJob) -> None:
        self._ready.append(job)
        self._changed.set()
