"""``as_completed(jobs)``: iterate over jobs in the order they finish (optional progress bar)."""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, TextIO, final

import anyio
from typing_extensions import Self

from aioqruntime.runtime._job import AsyncRuntimeJob

if TYPE_CHECKING:
    from aioqruntime.runtime._core import SubmissionLimiter

__all__ = ["as_completed"]

_BAR_WIDTH: Final = 24
#: A shown bar is redrawn at least this often (seconds), whether or not a job settled.
_REDRAW_EVERY: Final = 1.0


@final
class as_completed:
    """``async for job in as_completed(jobs)``: each job once, as soon as it is settled.

    An iterator class, not an async generator: it holds no task group or cancel scope between
    items, so breaking out of the loop leaves nothing behind (style C11). Jobs come in the order
    they settled; ``await job`` (or ``job.result_nowait()``) inside the loop gives the result or
    raises the job's error. A job abandoned by its closed owner is yielded too (awaiting it raises).
    Leaving or cancelling the loop cancels no job.

    ``progress``: a one-line progress bar on ``stream`` (default ``sys.stderr``), redrawn each
    time the loop wakes up for a settled job and ended with a newline when every job is settled.
    ``None`` (the default) shows it only when the stream is a terminal; ``True``/``False`` force
    it on or off. It counts failed jobs (a job error, or abandoned) apart, and while the jobs'
    service holds submissions back (client-side pacing, or a 429's ``Retry-After``) it says how
    many wait and for how long.
    """

    def __init__(
        self,
        jobs: Iterable[AsyncRuntimeJob],
        progress: bool | None = None,
        *,
        stream: TextIO | None = None,
    ) -> None:
        self._jobs: list[AsyncRuntimeJob] = list(dict.fromkeys(jobs))
        self._remaining = len(self._jobs)
        self._ready: deque[AsyncRuntimeJob] = deque()
        self._changed = anyio.Event()
        self._listening = False
        out = sys.stderr if stream is None else stream
        show = _is_terminal(out) if progress is None else bool(progress)
        limiters = list({id(job._core.limiter): job._core.limiter for job in self._jobs}.values())
        self._bar = (
            _ProgressBar(out, len(self._jobs), limiters) if show and out is not None else None
        )

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
            if self._bar is not None:
                self._bar.draw()
                # Redrawn now and then too: the clock runs, and pacing may start or end.
                with anyio.move_on_after(_REDRAW_EVERY):
                    await self._changed.wait()
            else:
                await self._changed.wait()
            if self._changed.is_set():
                self._changed = anyio.Event()
        if self._bar is not None:
            self._bar.draw()
        self._remaining -= 1
        return self._ready.popleft()

    def _settled(self, job: AsyncRuntimeJob) -> None:
        self._ready.append(job)
        if self._bar is not None:
            self._bar.count(job)
        self._changed.set()


class _ProgressBar:
    """``jobs [#########...............] 9/24 (1 failed) 12s``, redrawn in place with ``\\r``.

    ``, 15 waiting to be submitted (~36s)`` is appended while the limiters hold submissions back.
    """

    def __init__(
        self, stream: TextIO, total: int, limiters: Iterable[SubmissionLimiter] = ()
    ) -> None:
        self._stream = stream
        self._total = total
        self._limiters = list(limiters)
        self._settled = 0
        self._failed = 0
        self._started = anyio.current_time()
        self._last = ""
        self._finished = False

    def count(self, job: AsyncRuntimeJob) -> None:
        self._settled += 1
        if not job.done() or job.exception() is not None:
            self._failed += 1

    def _backlog(self) -> str:
        queued, wait = 0, 0.0
        for limiter in self._limiters:
            count, seconds = limiter.backlog()
            queued, wait = queued + count, max(wait, seconds)
        return f", {queued} waiting to be submitted (~{wait:.0f}s)" if queued else ""

    def draw(self) -> None:
        """Draw the line if it changed."""
        if self._finished:
            return
        done = self._settled
        filled = _BAR_WIDTH * done // self._total if self._total else _BAR_WIDTH
        failed = f" ({self._failed} failed)" if self._failed else ""
        elapsed = anyio.current_time() - self._started
        backlog = self._backlog()
        line = (
            f"jobs [{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {done}/{self._total}{failed} "
            f"{elapsed:.0f}s{backlog}"
        )
        if line == self._last:
            return
        pad = " " * max(0, len(self._last) - len(line))
        self._last = line
        self._finished = done >= self._total
        end = "\n" if self._finished else ""
        try:
            self._stream.write(f"\r{line}{pad}{end}")
            self._stream.flush()
        except (OSError, ValueError):  # closed or broken stream: progress is best effort
            self._finished = True


def _is_terminal(stream: TextIO | None) -> bool:
    if stream is None:
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
