"""``AsyncRuntimeJob``: a handle on a remote job that is also a future.

The job never polls by itself, and it never changes itself: its state is one
:class:`~aioqruntime.runtime._state.JobState` that the handle reads. A
:class:`~aioqruntime.runtime._watcher.JobWatcher` (one per service and one per session) refreshes
every pending job in bulk and *settles* the state: it stores the outcome, sets the ``anyio.Event``
that awaiting tasks sleep on, and then calls the done-callbacks in registration order, from the
watcher task.

Colours (style C10): reading state (``status()``, ``done()``, ``result_nowait()``, ``job_id()``)
and registering callbacks are sync and never do I/O; ``await job``, ``await job.result()``,
``refresh()``, ``cancel()``, ``metrics()``, ``usage()``, ``logs()`` and ``await job.inputs`` talk
to the service (or wait for the watcher), where the official methods do I/O. Cancelling a task
that awaits a job only stops that wait: the remote job is cancelled by ``cancel()`` alone.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Generator, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol, final

import anyio

from aioqruntime._exceptions import (
    InvalidInputError,
    JobNotDoneError,
    JobTimeoutError,
    ServiceClosedError,
)
from aioqruntime.client import RuntimeClient
from aioqruntime.protocol import (
    CLIENT_TAG_PREFIX,
    Job,
    JobStatus,
    is_final,
)
from aioqruntime.runtime._limiter import SubmissionLimiter
from aioqruntime.runtime._state import JobState, status_text

__all__ = ["AsyncRuntimeJob", "DoneCallback", "JobContext", "JobStatusReading"]

logger = logging.getLogger("aioqruntime.runtime")

#: A done-callback receives the job; its return value is ignored. It must be quick and must not
#: block: set an Event or send on a memory stream to hand work to your own tasks.
DoneCallback = Callable[["AsyncRuntimeJob"], object]


class JobContext(Protocol):
    """What a job handle needs of the open service it came from (the service's core)."""

    client: RuntimeClient
    instance: str | None
    closed: bool
    limiter: SubmissionLimiter
    #: ``await service.backend(name)`` (``job.backend()``), once the service set it.
    backend_loader: Callable[[str], Awaitable[Any]] | None


class JobStatusReading(str):
    """A job status as the official client gives it: the text ``"DONE"``, ``"QUEUED"``...

    It equals the :class:`JobStatus` member of the same name and prints as ``DONE``. Awaiting it
    (``await job.status()``) asks the service now and gives the fresh status.
    """

    _refresh: Callable[[], Awaitable[JobStatusReading]]

    def __new__(
        cls, value: str, refresh: Callable[[], Awaitable[JobStatusReading]]
    ) -> JobStatusReading:
        reading = super().__new__(cls, value)
        reading._refresh = refresh
        return reading

    def __await__(self) -> Generator[Any, None, JobStatusReading]:
        return self._refresh().__await__()

    def __repr__(self) -> str:
        return repr(str(self))


@final
class AsyncRuntimeJob:
    """A submitted job: ``await job`` for its ``PrimitiveResult``.

    Created by ``run()`` of a primitive, a session or a batch, and by ``service.job(id)``; not meant
    to be constructed directly.
    """

    #: The official class constants.
    ERROR = "ERROR"
    JOB_FINAL_STATES = ("DONE", "CANCELLED", "ERROR")

    def __init__(
        self,
        state: JobState[AsyncRuntimeJob],
        *,
        core: JobContext,
        client_tag: str | None = None,
        label: str | None = None,
        private: bool = False,
    ) -> None:
        self._state = state
        state.handle = self
        self._core = core
        self._client_tag = client_tag
        self._label = label
        self._private = private
        self._fetch_lock = anyio.Lock()

    # --- identity (sync, no I/O) ---------------------------------------------------------------

    @property
    def last_seen(self) -> Job | None:
        """The last description of the job the service gave (``None`` before the first one)."""
        return self._state.last_seen

    @property
    def result_decoder(self) -> Callable[[str], Any] | None:
        """What decodes the results document (``None``: the runtime's own decoder)."""
        return self._state.result_decoder

    def job_id(self) -> str:
        """The service's id of this job."""
        return self._state.job_id

    async def backend(self, timeout: float | None = None) -> Any:  # noqa: ASYNC109 (official)
        """The backend object the job runs on (``await service.backend(name)``, cached).

        ``timeout`` bounds the wait for it (:class:`JobTimeoutError`); ``backend_name`` is the
        name without I/O.
        """
        loader = self._core.backend_loader
        if self._state.backend_name is None or loader is None:
            return None
        try:
            with anyio.fail_after(timeout) if timeout is not None else _no_limit():
                return await loader(self._state.backend_name)
        except TimeoutError:
            raise JobTimeoutError(
                f"Timed out reading the backend of job {self._state.job_id} after {timeout} secs"
            ) from None

    async def properties(self, refresh: bool = False) -> Any:
        """The backend's calibration when the job was created (``refresh``: read it again)."""
        backend = await self.backend()
        if backend is None:
            return None
        if self._state.creation_date is None or refresh:
            await self.refresh()
        when = self._state.creation_date
        return await backend.properties_at(when) if when is not None else backend.properties()

    @property
    def backend_name(self) -> str | None:
        """The name of the job's backend (no I/O)."""
        return self._state.backend_name

    @property
    def session_id(self) -> str | None:
        """The session or batch the job belongs to, ``None`` in job mode."""
        return self._state.session_id

    @property
    def tags(self) -> list[str]:
        """The job's tags as last seen: the user's, as the official client shows them.

        Our own ``aioqruntime:<hex>`` submission tag is left out (it is :attr:`client_tag`).
        """
        return [tag for tag in self._state.tags if not tag.startswith(CLIENT_TAG_PREFIX)]

    @property
    def client_tag(self) -> str | None:
        """The ``aioqruntime:<uuid hex>`` tag put on the submission (finds the job by tag)."""
        return self._client_tag

    @property
    def label(self) -> str | None:
        """The caller's label for the job (``job_label(...)`` or ``run(label=...)``), if any."""
        return self._label

    @property
    def program_id(self) -> str | None:
        return self._state.program_id

    @property
    def primitive_id(self) -> str | None:
        """``"sampler"`` or ``"estimator"`` (the official name of :attr:`program_id`)."""
        return self._state.program_id

    @property
    def instance(self) -> str | None:
        """The instance CRN the job was submitted to."""
        return self._core.instance

    @property
    def private(self) -> bool:
        """Whether the job's inputs and results are private (as the service last said)."""
        return (
            bool(self._state.last_seen.private)
            if self._state.last_seen is not None
            else self._private
        )

    @property
    def image(self) -> str:
        """The runtime image of the job, ``""`` for the default one."""
        return (self._state.last_seen.runtime if self._state.last_seen is not None else None) or ""

    @property
    def usage_estimation(self) -> dict[str, Any]:
        """``{"quantum_seconds": ...}``: the service's estimate, as last seen (no I/O)."""
        seen = self._state.last_seen
        return {"quantum_seconds": seen.estimated_running_time_seconds if seen else None}

    @property
    def inputs(self) -> Awaitable[dict[str, Any]]:
        """``await job.inputs``: the job's ``params`` as the service stores them (one GET)."""
        return self._read_inputs()

    async def _read_inputs(self) -> dict[str, Any]:
        return await self._client().jobs.params(self._state.job_id)

    @property
    def creation_date(self) -> datetime | None:
        """When the service created the job (known after the first refresh)."""
        return self._state.creation_date

    # --- state (sync, cached) ------------------------------------------------------------------

    def status(self) -> JobStatusReading:
        """The last status the watcher saw (no I/O): ``"DONE"``, ``"RUNNING"``...

        It equals the :class:`JobStatus` member of that name; ``await job.status()`` asks the
        service now. An unknown server state comes back as its upper-cased text, like the
        official client.
        """
        return JobStatusReading(self._status_text(), self._refreshed_status)

    async def _refreshed_status(self) -> JobStatusReading:
        await self.refresh()
        return self.status()

    def done(self) -> bool:
        """Whether the job reached a final state and its outcome is available."""
        return self._state.done

    def in_final_state(self) -> bool:
        """Whether the job is ``DONE``, ``CANCELLED`` or ``ERROR`` (as last seen)."""
        return is_final(self._state.status)

    def running(self) -> bool:
        return self._state.status == JobStatus.RUNNING

    def cancelled(self) -> bool:
        return self._state.status == JobStatus.CANCELLED

    def errored(self) -> bool:
        return self._state.status == JobStatus.ERROR

    async def result(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 (the official signature)
        decoder: Callable[[str], Any] | None = None,
        poll_interval: float | None = None,
    ) -> Any:
        """Wait for the job and return its result (``await job.result()``, same as ``await job``).

        ``timeout`` (seconds) raises :class:`JobTimeoutError` when the job is not final by then
        (the job keeps running). A failed job raises its typed :class:`JobError`. ``decoder``
        must be given to ``run(result_decoder=...)`` instead (the result is decoded once, when
        fetched); ``poll_interval`` is accepted and unused: the service's watcher polls.
        """
        if decoder is not None:
            raise InvalidInputError(
                "result(decoder=...) is not supported: pass result_decoder= to session.run(), "
                "the result is decoded once when it is fetched"
            )
        await self.wait_for_final_state(timeout, poll_interval)
        return self.result_nowait()

    async def wait_for_final_state(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 (the official signature)
        poll_interval: float | None = None,
    ) -> None:
        """Wait until the job is final (its outcome fetched); never raises the job's error.

        ``timeout`` raises :class:`JobTimeoutError`; ``poll_interval`` is accepted and unused.
        """
        del poll_interval  # the watcher polls for every job at once
        try:
            with anyio.fail_after(timeout) if timeout is not None else _no_limit():
                await self._wait_settled()
        except TimeoutError:
            raise JobTimeoutError(
                f"Timed out waiting for job {self._state.job_id} to complete after {timeout} secs; "
                "the job still runs"
            ) from None
        if not self._state.done and self._state.exception is not None:  # abandoned by its owner
            raise self._state.exception

    def result_nowait(self) -> Any:
        """The job's result, without waiting.

        Raises :class:`JobNotDoneError` while the job is not final, or the job's typed
        :class:`JobError` (``JobFailedError``, ``JobCancelledError``, ``JobRanTooLongError``).
        """
        if not self._state.done:
            if self._state.exception is not None:  # abandoned: the watcher stopped before the end
                raise self._state.exception
            raise JobNotDoneError(
                f"job {self._state.job_id} is {self._status_text()}, not final: await it instead"
            )
        if self._state.exception is not None:
            raise self._state.exception
        return self._state.result

    def exception(self) -> BaseException | None:
        """The job's error once it is done (``None`` if it succeeded); JobNotDoneError before."""
        if not self._state.done:
            raise JobNotDoneError(f"job {self._state.job_id} is {self._status_text()}, not final")
        return self._state.exception

    def error_message(self) -> str | None:
        """The failure text of a failed or cancelled job, ``None`` otherwise."""
        return self._state.error_message

    @property
    def reason_code(self) -> int | None:
        return self._state.reason_code

    def __await__(self) -> Generator[Any, None, Any]:
        return self._wait().__await__()

    async def _wait(self) -> Any:
        await self._wait_settled()
        return self.result_nowait()

    async def _wait_settled(self) -> None:
        # Only an observation: cancelling this wait leaves the job and the watcher untouched.
        if (
            not self._state.settled.is_set()
            and is_final(self._state.status)
            and not self._state.watcher.is_tracking(self._state)
        ):
            # Listed as already final (service.jobs()): fetch its outcome on first demand.
            async with self._fetch_lock:
                if not self._state.settled.is_set():
                    await self._state.watcher.settle_now(self._state)
        await self._state.settled.wait()

    # --- callbacks -----------------------------------------------------------------------------

    def add_done_callback(self, fn: DoneCallback) -> None:
        """Call ``fn(job)`` once when the job is final, in registration order, from the watcher.

        Added to a job that is already done, ``fn`` runs at the watcher's next step, never from
        inside this call. An exception raised by ``fn`` is not swallowed: it ends the watcher's task
        group and surfaces at the exit of the ``async with`` block that owns the job (session,
        batch, or service in job mode).
        """
        if self._state.done:
            self._state.watcher.call_soon(fn, self)
        else:
            self._state.callbacks.append(fn)

    def add_settle_listener(self, fn: Callable[[AsyncRuntimeJob], None]) -> None:
        """Internal: ``fn(job)`` right when the job settles or is abandoned (must not raise)."""
        if self._state.settled.is_set():
            fn(self)
        else:
            self._state.listeners.append(fn)

    def settled(self) -> bool:
        """Whether awaiting the job returns at once (done, or abandoned by its owner)."""
        return self._state.settled.is_set()

    def remove_done_callback(self, fn: DoneCallback) -> int:
        """Forget every registration of ``fn``; returns how many were removed."""
        before = len(self._state.callbacks)
        self._state.callbacks = [cb for cb in self._state.callbacks if cb != fn]
        return before - len(self._state.callbacks)

    # --- service operations (async) ------------------------------------------------------------

    async def refresh(self) -> JobStatus | str:
        """Read the job from the service now (one ``GET /jobs/{id}``) and return its status.

        A final status is handed to the watcher, which fetches the result and settles the job.
        """
        if not self._state.done:
            self._check_open()
            await self._state.watcher.refresh(self._state)
        return self._state.status

    async def cancel(self) -> None:
        """Ask the service to cancel the job (``POST /jobs/{id}/cancel``).

        Raises :class:`~aioqruntime.ConflictError` (409) when the job is already final. The job
        settles with :class:`~aioqruntime.JobCancelledError` once the watcher sees it cancelled.
        """
        await self._client().jobs.cancel(self._state.job_id)
        self._state.watcher.wake(urgent=True)

    async def metrics(self) -> dict[str, Any]:
        """``GET /jobs/{id}/metrics`` as a dict (timestamps, usage...), like the official client."""
        return await self._client().jobs.metrics(self._state.job_id)

    async def logs(self) -> str:
        """The job's log text (``""`` when the service has none)."""
        return await self._client().jobs.logs(self._state.job_id)

    async def update_tags(self, new_tags: Sequence[str]) -> list[str]:
        """Replace the job's tags (``PUT /jobs/{id}/tags``) and return them."""
        await self._client().jobs.update_tags(self._state.job_id, new_tags)
        self._state.tags = tuple(dict.fromkeys(new_tags))
        return list(self._state.tags)

    async def usage(self, partial: bool = False) -> float | None:
        """QPU seconds charged (``metrics()["usage"]``): 0 until billing is final, unless
        ``partial`` (then the amount so far), as the official client reports it."""
        usage = (await self.metrics()).get("usage") or {}
        if not partial and usage.get("status", "pending") == "pending":
            return 0
        value = usage.get("qpu_charge_time_seconds")
        return None if value is None else float(value)

    def _client(self) -> RuntimeClient:
        self._check_open()
        return self._core.client

    def _check_open(self) -> None:
        if self._core.closed:
            raise ServiceClosedError(
                f"job {self._state.job_id}: the service it came from is closed. The job itself "
                "was not cancelled; find it again with service.job(id) from an open service."
            )

    def _status_text(self) -> str:
        return status_text(self._state.status)

    def __repr__(self) -> str:
        label = f" label={self._label!r}" if self._label is not None else ""
        return (
            f"<AsyncRuntimeJob {self._state.job_id} status={self._status_text()} "
            f"backend={self._state.backend_name!r} session={self._state.session_id!r}{label}>"
        )


@contextlib.contextmanager
def _no_limit() -> Iterator[None]:
    yield
