"""The simulation pool: worker processes that run Aer so the event loop never blocks.

Each worker is our own subprocess, ``python -m aioqruntime.server._worker_main``, spoken to over
its stdin/stdout pipes (the protocol is described there). Not ``multiprocessing``: its ``spawn``
method re-imports the user's ``__main__`` in every worker (a script without a main guard ran
twice and its jobs failed), ``fork`` is unsafe in a process with an event loop and threads, and
``forkserver`` talks over a Unix socket (which socket guards in test suites refuse) and leaves a
resource tracker behind. Only text and JSON-able builtins cross the boundary.

Workers start when the pool is created and import qiskit and Aer at once, in parallel with
whatever the parent does meanwhile, so the first job rarely waits for them. A worker exits at end
of file on its stdin, i.e. when the pool closes it or when the parent dies (even by SIGKILL).
A worker that dies (a crash in a simulation) fails the job it was running and is replaced.

Each call runs in a thread of a small thread pool (one per worker; the threads only block on the
pipes), so the pool is not tied to one event loop: several servers, on several loops, can share
it (tests start many); whoever creates it closes it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from aioqruntime.server import _worker
from aioqruntime.server._worker_protocol import encode_header, read_message, write_message

__all__ = ["SimulationPool", "WorkerCrashedError"]

logger = logging.getLogger("aioqruntime.server")

#: Seconds a closed worker gets to exit on its own before it is killed.
_EXIT_GRACE = 5.0


class WorkerCrashedError(RuntimeError):
    """A simulation worker process died (or stopped answering) during a call."""


class _WorkerProcess:
    """One worker subprocess and its pipes; one call at a time (callers hold ``lock``)."""

    def __init__(self) -> None:
        if not sys.executable:
            raise RuntimeError("no Python executable to start simulation workers with")
        self.lock = threading.Lock()
        self.qiskit_version: str | None = None
        #: Set once a call failed half-way: the pipes are out of step, the worker is dropped.
        self.broken = False
        self._process = subprocess.Popen(
            [sys.executable, "-m", "aioqruntime.server._worker_main"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_worker_environment(),
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._requests: IO[bytes] = self._process.stdin
        self._replies: IO[bytes] = self._process.stdout

    @property
    def pid(self) -> int:
        return self._process.pid

    def _receive(self) -> tuple[dict[str, Any], bytes]:
        try:
            message = read_message(self._replies)
        except (OSError, ValueError) as exc:  # a cut-short message, or pipes closed under us
            self.broken = True
            raise WorkerCrashedError(f"simulation worker {self.pid} failed: {exc}") from exc
        if message is None:
            self.broken = True
            code = self._process.wait()
            raise WorkerCrashedError(f"simulation worker {self.pid} exited (code {code})")
        return message

    def wait_ready(self) -> str:
        """Wait for the worker's imports (callers hold ``lock``); the qiskit version."""
        if self.qiskit_version is None:
            header, _ = self._receive()
            if not header.get("ready"):
                self.broken = True  # it cannot simulate: replaced, and the error says why
                raise WorkerCrashedError(f"simulation worker failed to start:\n{header['error']}")
            self.qiskit_version = str(header["qiskit_version"])
        return self.qiskit_version

    def run_job(
        self,
        program_id: str,
        params_text: str,
        noise_device: tuple[Mapping[str, Any], Mapping[str, Any] | None] | None,
        dry_run: bool = False,
    ) -> _worker.JobOutcome:
        self.wait_ready()
        # Encoded first: what JSON cannot carry fails here (TypeError) before anything is sent.
        header = encode_header(
            {
                "call": "run_job",
                "program_id": program_id,
                "noise_device": noise_device,
                "dry_run": dry_run,
            }
        )
        try:
            write_message(self._requests, header, params_text.encode())
        except (OSError, ValueError) as exc:
            self.broken = True
            raise WorkerCrashedError(f"simulation worker {self.pid} is gone: {exc}") from exc
        reply, body = self._receive()
        return bool(reply["ok"]), body.decode(), dict(reply["stats"])

    def stop(self) -> None:
        """Ask the worker to exit (end of file on its stdin); a running simulation is abandoned."""
        with contextlib.suppress(OSError):  # a broken pipe: the worker is already gone
            self._requests.close()

    def reap(self) -> None:
        """Wait for the worker to exit (killing it after a grace period) and close the pipes."""
        self.stop()
        try:
            self._process.wait(timeout=_EXIT_GRACE)
        except subprocess.TimeoutExpired:
            logger.warning("simulation worker %s did not exit; killing it", self.pid)
            self._process.kill()
            self._process.wait()
        with self.lock:  # a caller still reading has seen end of file by now
            self._replies.close()


def _worker_environment() -> dict[str, str]:
    """The parent's environment, with this very ``aioqruntime`` first on the path.

    The worker must import the same package as the parent, even when the parent found it through
    a ``sys.path`` edit; ``PYTHONSAFEPATH`` keeps the current directory's modules from shadowing
    anything (Python 3.11+; older versions ignore it).
    """
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # the directory holding aioqruntime/
    env["PYTHONPATH"] = os.pathsep.join(part for part in (root, env.get("PYTHONPATH", "")) if part)
    env["PYTHONSAFEPATH"] = "1"
    return env


class SimulationPool:
    """Worker processes for :func:`_worker.run_job` (``workers=0``: one thread, for debugging)."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._idle: list[_WorkerProcess] = []
        self._all: list[_WorkerProcess] = []
        self._ensure()

    def _ensure(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=max(1, self.workers), thread_name_prefix="aioqruntime-sim"
                )
                for _ in range(max(0, self.workers)):
                    self._spawn_locked()
            return self._executor

    def _spawn_locked(self) -> _WorkerProcess:
        worker = _WorkerProcess()
        self._all.append(worker)
        self._idle.append(worker)
        return worker

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        with self._lock:
            return [worker.pid for worker in self._all]

    def _checkout(self) -> _WorkerProcess:
        with self._lock:
            if self._executor is None:  # closed while this call was starting
                raise WorkerCrashedError("the simulation pool is closed")
            if not self._idle:  # a crashed worker was dropped: start its replacement
                self._spawn_locked()
            return self._idle.pop()

    def _checkin(self, worker: _WorkerProcess) -> None:
        with self._lock:
            if not worker.broken and worker in self._all:
                self._idle.append(worker)
                return
            if worker in self._all:
                self._all.remove(worker)
        worker.reap()

    def _call(
        self,
        program_id: str,
        params_text: str,
        noise_device: tuple[Mapping[str, Any], Mapping[str, Any] | None] | None,
        dry_run: bool,
    ) -> _worker.JobOutcome:
        worker = self._checkout()
        try:
            with worker.lock:
                return worker.run_job(program_id, params_text, noise_device, dry_run)
        finally:
            self._checkin(worker)

    async def warm_up(self) -> None:
        """Wait until every worker has imported qiskit (so the first job is not slow)."""
        executor = self._ensure()
        loop = asyncio.get_running_loop()
        if self.workers <= 0:
            await loop.run_in_executor(executor, _worker.warm_up)
            return
        with self._lock:
            workers = list(self._all)

        def ready(worker: _WorkerProcess) -> str:
            with worker.lock:
                return worker.wait_ready()

        await asyncio.gather(*(loop.run_in_executor(None, ready, worker) for worker in workers))

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
        executor = self._ensure()
        loop = asyncio.get_running_loop()
        if self.workers <= 0:
            call = functools.partial(
                _worker.run_job,
                program_id,
                params_text,
                noise_device=noise_device,
                dry_run=dry_run,
            )
        else:
            call = functools.partial(self._call, program_id, params_text, noise_device, dry_run)
        return await loop.run_in_executor(executor, call)

    def close(self, *, wait: bool = True) -> None:
        """Stop the workers, abandoning running simulations (blocking: call it from a thread).

        Queued calls are cancelled; ``wait`` also waits for the calls in progress to return
        (each fails with :class:`WorkerCrashedError`, as its worker is gone).
        """
        with self._lock:
            executor, self._executor = self._executor, None
            workers, self._all, self._idle = self._all, [], []
        if executor is None:
            return
        executor.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.reap()
        executor.shutdown(wait=wait)
