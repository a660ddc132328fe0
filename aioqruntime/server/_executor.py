"""The simulation pool: worker processes that run Aer so the event loop never blocks.

Workers are started with the ``spawn`` context: a fork of a process that runs an event loop and
threads is unsafe, and ``forkserver`` talks to its server over a Unix socket (which socket guards
in test suites refuse). A fresh interpreter imports qiskit once per worker (:func:`warm_up`).
Only text and builtins cross the boundary. Workers never need the user's ``__main__`` (they run
:mod:`_worker` functions on text), so it is hidden from them while they start: a first script
without an ``if __name__ == "__main__":`` guard that starts a server (``AsyncRuntimeService()``
with no account) works instead of re-running itself in every worker.

A pool can be shared by several servers (tests start many); whoever creates it closes it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import multiprocessing
import multiprocessing.context
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from aioqruntime.server import _worker

__all__ = ["SimulationPool"]


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """While a worker starts, ``__main__`` has no file or spec, so spawn does not re-import it."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    with _MAIN_LOCK:
        saved: dict[str, Any] = {
            k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__
        }
        main.__dict__.pop("__file__", None)
        main.__dict__["__spec__"] = None
        try:
            yield
        finally:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


class _WorkerProcess(multiprocessing.context.SpawnProcess):
    def start(self) -> None:
        with _main_module_hidden():
            super().start()


class _WorkerContext(multiprocessing.context.SpawnContext):
    Process = _WorkerProcess


class SimulationPool:
    """A process pool for :func:`_worker.run_job` (``workers=0``: one thread, for debugging)."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._executor: concurrent.futures.Executor | None = None

    def _ensure(self) -> concurrent.futures.Executor:
        if self._executor is None:
            if self.workers <= 0:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="aioqruntime-sim"
                )
            else:
                self._executor = concurrent.futures.ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=_WorkerContext(),
                )
        return self._executor

    async def warm_up(self) -> None:
        """Start the workers and import qiskit in each (so the first job is not slow)."""
        executor = self._ensure()
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(executor, _worker.warm_up) for _ in range(max(1, self.workers)))
        )

    async def run_job(
        self,
        program_id: str,
        params_text: str,
        *,
        noise_device: tuple[Mapping[str, Any], Mapping[str, Any] | None] | None = None,
        dry_run: bool = False,
    ) -> _worker.JobOutcome:
        """Simulate one job in a worker; cancelling the await abandons (not kills) the run.

        ``dry_run``: random data of the right shape instead (a mock device's job).
        """
        loop = asyncio.get_running_loop()
        call = functools.partial(
            _worker.run_job,
            program_id,
            params_text,
            noise_device=noise_device,
            dry_run=dry_run,
        )
        return await loop.run_in_executor(self._ensure(), call)

    def close(self, *, wait: bool = True) -> None:
        """Shut the workers down (blocking when ``wait``: call it from a thread)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)
