"""The coalescing engine shared by the estimator and sampler evaluators.

Callers hand in one parameter vector each and wait on their own slot. One background collector
task (owned by the evaluator's task group) takes the oldest pending slots, up to ``max_batch`` of
them, once the oldest has waited ``window`` seconds or the batch is full, and starts one batch task
per job. A semaphore bounds the jobs in flight; the next batch is collected while earlier jobs run,
so a session always has the next job queued behind the running one.

Error routing: a batch task catches ``Exception`` from its submission, its wait and its split, and
hands it to exactly the slots of that batch; nothing of it reaches the task group. Cancellation of a
caller only drops its slot (or discards its value once sent); cancellation of the evaluator
propagates, and every slot still waiting then fails with :class:`EvaluatorClosedError`.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

import anyio
import numpy as np
from anyio.abc import TaskGroup, TaskStatus
from numpy.typing import NDArray
from typing_extensions import Self

from aioqruntime._exceptions import InvalidInputError, QRuntimeError

__all__ = [
    "CoalescingEvaluator",
    "EvaluatorClosedError",
    "EvaluatorStatistics",
    "SubmittedJob",
    "check_count",
]

T = TypeVar("T")

Points = NDArray[np.float64]


class EvaluatorClosedError(QRuntimeError):
    """The evaluator is not open (not entered yet, or closed): the evaluation was not done."""


class SubmittedJob(Protocol):
    """What a batch's submission gives: an ``AsyncRuntimeJob``, or a packer's share of one."""

    def job_id(self) -> str: ...

    def __await__(self) -> Generator[Any, None, Any]: ...


@dataclass(frozen=True)
class EvaluatorStatistics:
    """What an evaluator has done so far (a snapshot)."""

    #: Jobs accepted by the service.
    jobs_submitted: int
    #: Batches whose submission, job or result failed (their callers got the error).
    jobs_failed: int
    #: Parameter points sent in jobs (cancelled callers included once sent).
    evaluations: int
    #: Slots dropped because their caller was cancelled before they were sent.
    dropped: int
    #: Slots waiting to be sent right now.
    queued: int
    #: The highest number of jobs in flight at once.
    peak_jobs_in_flight: int

    @property
    def mean_batch_size(self) -> float:
        """Points per submitted job (``nan`` before the first job)."""
        return self.evaluations / self.jobs_submitted if self.jobs_submitted else math.nan


@dataclass(eq=False)
class _Slot(Generic[T]):
    """One caller's parameter point and, once settled, its outcome."""

    params: Points
    arrived: float
    done: anyio.Event = field(default_factory=anyio.Event)
    value: T | None = None
    error: BaseException | None = None
    #: The error's traceback when it was routed here (see ``outcome``).
    error_tb: TracebackType | None = None
    sent: bool = False

    def resolve(self, value: T) -> None:
        if not self.done.is_set():
            self.value = value
            self.done.set()

    def fail(self, error: BaseException) -> None:
        if not self.done.is_set():
            self.error = error
            self.error_tb = error.__traceback__
            self.done.set()

    def outcome(self) -> T:
        if self.error is not None:
            # Every caller of a failed batch raises the same exception object: start from the
            # batch's traceback each time, or each raise would append to one ever-growing chain.
            raise self.error.with_traceback(self.error_tb)
        return self.value  # type: ignore[return-value]  # set whenever error is None


@dataclass
class _Counters:
    jobs_submitted: int = 0
    jobs_failed: int = 0
    evaluations: int = 0
    dropped: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0


class CoalescingEvaluator(anyio.AsyncContextManagerMixin, Generic[T]):
    """Base of the evaluators: subclasses say how to submit a batch and how to split its result.

    ``async with`` runs the collector; leaving normally sends what is still queued and waits for
    the jobs in flight (nursery semantics); leaving by an exception or cancellation cancels them
    (the remote jobs keep running) and fails every caller still waiting.
    """

    def __init__(
        self,
        num_parameters: int,
        *,
        max_batch: int,
        window: float,
        max_jobs_in_flight: int,
    ) -> None:
        check_count("max_batch", max_batch, minimum=1)
        check_count("max_jobs_in_flight", max_jobs_in_flight, minimum=1)
        if not _is_real(window) or not math.isfinite(window) or window < 0:
            raise InvalidInputError(f"window must be a finite number >= 0, got {window!r}")
        self._num_parameters = num_parameters
        self._max_batch = max_batch
        self._window = float(window)
        self._max_jobs_in_flight = max_jobs_in_flight
        self._pending: list[_Slot[T]] = []
        self._waiting: set[_Slot[T]] = set()
        self._wakeup = anyio.Event()
        self._slots_free = anyio.Semaphore(max_jobs_in_flight)
        self._counters = _Counters()
        self._state = "new"  # -> "open" -> "closing" -> "closed"

    # --- what subclasses provide ---------------------------------------------------------------

    @abstractmethod
    async def _submit(self, points: Points) -> SubmittedJob:
        """Submit one job evaluating every row of ``points`` (shape ``(K, P)``)."""

    @abstractmethod
    def _split(self, result: Any, count: int) -> Sequence[T]:
        """The ``count`` per-point values of a job's ``PrimitiveResult``, in row order."""

    # --- public helpers ------------------------------------------------------------------------

    @property
    def num_parameters(self) -> int:
        return self._num_parameters

    def statistics(self) -> EvaluatorStatistics:
        c = self._counters
        return EvaluatorStatistics(
            jobs_submitted=c.jobs_submitted,
            jobs_failed=c.jobs_failed,
            evaluations=c.evaluations,
            dropped=c.dropped,
            queued=len(self._pending),
            peak_jobs_in_flight=c.peak_in_flight,
        )

    # --- requests ------------------------------------------------------------------------------

    def _coerce(self, params: Any) -> Points:
        """One point as a float vector of length P, or InvalidInputError (nothing is sent)."""
        try:
            point = np.array(params, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"params must be real numbers: {exc}") from exc
        if point.shape != (self._num_parameters,):
            raise InvalidInputError(
                f"params must have shape ({self._num_parameters},), got {point.shape}"
            )
        if not np.all(np.isfinite(point)):
            raise InvalidInputError("params must be finite (no nan or inf)")
        return point

    def _check_open(self) -> None:
        if self._state != "open":
            raise EvaluatorClosedError(
                "the evaluator is not open: use 'async with' around its use"
                if self._state == "new"
                else "the evaluator is closed"
            )

    def _enqueue(self, point: Points) -> _Slot[T]:
        slot: _Slot[T] = _Slot(point, arrived=anyio.current_time())
        self._pending.append(slot)
        self._waiting.add(slot)
        self._wakeup.set()
        return slot

    def _forget(self, slot: _Slot[T]) -> None:
        """The caller stopped waiting: drop its slot if it was not sent yet."""
        self._waiting.discard(slot)
        if not slot.sent and not slot.done.is_set():
            self._pending.remove(slot)
            self._counters.dropped += 1
            slot.fail(EvaluatorClosedError("the caller was cancelled"))

    async def _request(self, params: Any) -> T:
        self._check_open()
        slot = self._enqueue(self._coerce(params))
        try:
            await slot.done.wait()
        finally:
            self._forget(slot)
        return slot.outcome()

    async def _request_many(self, many: Any) -> list[T]:
        self._check_open()
        # Every point is checked before any is queued: a bad one fails the call, sending nothing.
        points = [self._coerce(params) for params in _rows(many)]
        slots = [self._enqueue(point) for point in points]
        try:
            for slot in slots:
                await slot.done.wait()
        finally:
            for slot in slots:
                self._forget(slot)
        return [slot.outcome() for slot in slots]

    # --- lifecycle -----------------------------------------------------------------------------

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncGenerator[Self]:
        if self._state != "new":
            raise RuntimeError(f"this {type(self).__name__} can be entered only once")
        # The body's own exception is kept out of the task group and re-raised after it, so the
        # caller catches it as itself rather than inside an ExceptionGroup.
        body_error: BaseException | None = None
        try:
            async with anyio.create_task_group() as tg:
                self._state = "open"  # before the collector starts: it stops once not open
                await tg.start(self._collect, tg)
                try:
                    yield self
                except BaseException as exc:
                    body_error = exc
                    tg.cancel_scope.cancel()
                else:
                    # Send what is queued, then let the task group wait for the jobs in flight.
                    self._state = "closing"
                    self._wakeup.set()
        finally:
            self._state = "closed"
            self._fail_all_waiting()
        if body_error is not None:
            raise body_error

    def _fail_all_waiting(self) -> None:
        for slot in list(self._waiting):
            slot.fail(EvaluatorClosedError("the evaluator closed before this evaluation finished"))
        self._waiting.clear()
        self._pending.clear()

    # --- background tasks ----------------------------------------------------------------------

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
            # Take a job slot first: while all are busy, arrivals keep joining the next batch.
            await self._slots_free.acquire()
            try:
                batch = await self._gather_batch()
            except BaseException:
                self._slots_free.release()
                raise
            if not batch:
                self._slots_free.release()
                continue
            tg.start_soon(self._run_batch, batch)

    async def _gather_batch(self) -> list[_Slot[T]]:
        """Wait out the window of the oldest pending slot (unless full), then take the batch."""
        while self._pending and len(self._pending) < self._max_batch and self._state == "open":
            remaining = self._pending[0].arrived + self._window - anyio.current_time()
            if remaining <= 0:
                break
            with anyio.move_on_after(remaining):
                await self._wait_for_change()
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        for slot in batch:
            slot.sent = True
        return batch

    async def _run_batch(self, batch: list[_Slot[T]]) -> None:
        counters = self._counters
        counters.in_flight += 1
        counters.peak_in_flight = max(counters.peak_in_flight, counters.in_flight)
        try:
            points = np.stack([slot.params for slot in batch])
            try:
                job = await self._submit(points)
                counters.jobs_submitted += 1
                counters.evaluations += len(batch)
                values = self._split(await job, len(batch))
                if len(values) != len(batch):
                    raise QRuntimeError(
                        f"job {job.job_id()} gave {len(values)} values for {len(batch)} points"
                    )
            except Exception as exc:  # routed to this batch's callers only
                counters.jobs_failed += 1
                for slot in batch:
                    slot.fail(exc)
                return
            for slot, value in zip(batch, values, strict=True):  # lengths checked above
                slot.resolve(value)
        finally:
            counters.in_flight -= 1
            self._slots_free.release()


def check_count(name: str, value: object, *, minimum: int) -> None:
    """``value`` must be an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{name} must be an int >= {minimum}, got {value!r}")


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _rows(many: Any) -> list[Any]:
    if isinstance(many, np.ndarray):
        if many.ndim != 2:
            raise InvalidInputError(f"a parameter array must be 2-D (K, P), got shape {many.shape}")
        return list(many)
    try:
        return list(many)
    except TypeError as exc:
        raise InvalidInputError("pass a list of parameter vectors or a (K, P) array") from exc
