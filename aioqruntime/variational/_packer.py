"""``EstimatorPacker``: one packer per session that several evaluators share, so the PUBs of K
concurrent optimizers (multi-start VQE, QAOA over several graphs or depths) travel together in
one multi-PUB estimator job instead of K jobs.

Each :class:`EstimatorEvaluator` built on the packer (``EstimatorEvaluator(packer, circuit,
observable)``) still coalesces its own concurrent points into one broadcast PUB; the packer then
takes the PUBs arriving from all evaluators within ``window`` seconds of the oldest (at most
``max_pubs``) and submits them as one job, whose ``i``-th pub result goes back to the ``i``-th
PUB's evaluator. One submission is in progress at a time: while it waits (for the service's
submission pacing, say), arrivals join the next job, so jobs per iteration stay about one
whatever K, under the 5-per-minute limit.

Error routing: a failed submission or job fails exactly the PUBs of that job (their evaluators'
callers get the error); cancellation of the packer propagates, and every PUB still waiting then
fails with :class:`EvaluatorClosedError`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus
from typing_extensions import Self

from aioqruntime._exceptions import InvalidInputError, QRuntimeError
from aioqruntime.primitives import AsyncEstimator
from aioqruntime.variational._coalescer import EvaluatorClosedError, check_count

__all__ = ["EstimatorPacker", "PackedShare", "PackerStatistics"]


@dataclass(frozen=True)
class PackerStatistics:
    """What a packer has done so far (a snapshot)."""

    #: Jobs accepted by the service.
    jobs_submitted: int
    #: PUBs sent in those jobs.
    pubs: int
    #: PUBs waiting to be sent right now.
    queued: int

    @property
    def mean_pubs_per_job(self) -> float:
        return self.pubs / self.jobs_submitted if self.jobs_submitted else math.nan


class PackedShare:
    """One PUB's place in a packed job. Awaiting it gives ``[pub_result]`` (a one-item result,
    as a one-PUB job's would be) or raises the job's error."""

    __slots__ = ("_done", "_error", "_job_id", "_result")

    def __init__(self) -> None:
        self._done = anyio.Event()
        self._result: list[Any] | None = None
        self._error: BaseException | None = None
        self._job_id = ""

    def job_id(self) -> str:
        """The id of the job that carries this PUB (empty until it is submitted)."""
        return self._job_id

    def _resolve(self, pub_result: Any) -> None:
        if not self._done.is_set():
            self._result = [pub_result]
            self._done.set()

    def _fail(self, error: BaseException) -> None:
        if not self._done.is_set():
            self._error = error
            self._done.set()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._wait().__await__()

    async def _wait(self) -> list[Any]:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


class EstimatorPacker(anyio.AsyncContextManagerMixin):
    """Packs PUBs from the evaluators that share it into multi-PUB estimator jobs.

    ``estimator_or_mode`` is an :class:`AsyncEstimator` (its options apply to every packed job)
    or a mode for a new one (an ``AsyncSession``, ``AsyncBatch`` or a backend). Use it as
    ``async with EstimatorPacker(session) as packer:`` around the evaluators built on it; leaving
    normally sends what is queued and waits for the jobs in flight.
    """

    def __init__(self, estimator_or_mode: Any, *, window: float = 0.02, max_pubs: int = 64) -> None:
        check_count("max_pubs", max_pubs, minimum=1)
        if isinstance(window, bool) or not isinstance(window, (int, float)):
            raise InvalidInputError(f"window must be a number >= 0, got {window!r}")
        if not math.isfinite(window) or window < 0:
            raise InvalidInputError(f"window must be a finite number >= 0, got {window!r}")
        self._estimator = (
            estimator_or_mode
            if isinstance(estimator_or_mode, AsyncEstimator)
            else AsyncEstimator(estimator_or_mode)
        )
        self._window = float(window)
        self._max_pubs = max_pubs
        self._pending: list[tuple[Any, PackedShare, float]] = []
        self._waiting: set[PackedShare] = set()
        self._wakeup = anyio.Event()
        self._jobs = 0
        self._pubs = 0
        self._state = "new"  # -> "open" -> "closing" -> "closed"

    @property
    def estimator(self) -> AsyncEstimator:
        return self._estimator

    def statistics(self) -> PackerStatistics:
        return PackerStatistics(self._jobs, self._pubs, len(self._pending))

    def submit(self, pub: Any) -> PackedShare:
        """Queue one estimator PUB (a tuple ``EstimatorPub.coerce`` accepts, its precision in
        it); await the returned share for its pub result."""
        if self._state != "open":
            raise EvaluatorClosedError(
                "the packer is not open: use 'async with' around its use"
                if self._state == "new"
                else "the packer is closed"
            )
        share = PackedShare()
        self._pending.append((pub, share, anyio.current_time()))
        self._waiting.add(share)
        self._wakeup.set()
        return share

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self]:
        if self._state != "new":
            raise RuntimeError("an EstimatorPacker can be entered only once")
        body_error: BaseException | None = None
        try:
            async with anyio.create_task_group() as tg:
                self._state = "open"
                await tg.start(self._collect, tg)
                try:
                    yield self
                except BaseException as exc:
                    body_error = exc
                    tg.cancel_scope.cancel()
                else:
                    self._state = "closing"
                    self._wakeup.set()
        finally:
            self._state = "closed"
            for share in self._waiting:
                share._fail(EvaluatorClosedError("the packer closed before this PUB's job ended"))
            self._waiting.clear()
            self._pending.clear()
        if body_error is not None:
            raise body_error

    async def _wait_for_change(self) -> None:
        await self._wakeup.wait()
        self._wakeup = anyio.Event()

    async def _collect(self, tg: TaskGroup, *, task_status: TaskStatus[None]) -> None:
        task_status.started()
        while True:
            if not self._pending:
                if self._state != "open":
                    return
                await self._wait_for_change()
                continue
            # Wait out the oldest PUB's window unless the job is full or the packer closes.
            while len(self._pending) < self._max_pubs and self._state == "open":
                remaining = self._pending[0][2] + self._window - anyio.current_time()
                if remaining <= 0:
                    break
                with anyio.move_on_after(remaining):
                    await self._wait_for_change()
            batch = self._pending[: self._max_pubs]
            del self._pending[: self._max_pubs]
            # Submitting here, one job at a time: what arrives meanwhile joins the next job.
            try:
                job = await self._estimator.run([pub for pub, _, _ in batch])
            except Exception as exc:  # routed to this job's PUBs only
                self._settle(batch, error=exc)
                continue
            self._jobs += 1
            self._pubs += len(batch)
            for _, share, _ in batch:
                share._job_id = job.job_id()
            tg.start_soon(self._deliver, job, batch)

    async def _deliver(self, job: Any, batch: list[tuple[Any, PackedShare, float]]) -> None:
        try:
            result = await job
            if len(result) != len(batch):
                raise QRuntimeError(
                    f"job {job.job_id()} gave {len(result)} pub results for {len(batch)} PUBs"
                )
        except Exception as exc:
            self._settle(batch, error=exc)
            return
        for index, (_, share, _) in enumerate(batch):
            share._resolve(result[index])
            self._waiting.discard(share)

    def _settle(self, batch: list[tuple[Any, PackedShare, float]], *, error: Exception) -> None:
        for _, share, _ in batch:
            share._fail(error)
            self._waiting.discard(share)
