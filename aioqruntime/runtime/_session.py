"""``AsyncSession`` and ``AsyncBatch``: a scope of jobs on one backend, with its own watcher.

Exit semantics (style C6), the same for both:

* **Normal exit** of ``async with``: the session is closed on the service (``PATCH
  accepting_jobs=false``: no new jobs, queued ones still run), then the block waits until every job
  submitted through it has settled (``wait_on_exit=True``, the default; nursery semantics, so no
  result or callback is lost), then the session's watcher stops. With ``wait_on_exit=False`` the
  pending jobs are handed to the service's watcher instead and stay awaitable while the service is
  open.
* **Exit by an exception or a cancellation** (including a ``fail_after`` around the block): the
  watcher is stopped, then, inside ``move_on_after(cleanup_timeout, shield=True)``, the session is
  closed (``on_error="close"``, the default: queued jobs still run) or cancelled
  (``on_error="cancel"``: queued jobs will not run); a failure of that request is logged, never
  raised over the original error. Pending jobs are handed to the service's watcher. The original
  exception is re-raised.
* A done-callback that raises ends the session's watcher; its exception (in an
  ``ExceptionGroup``) surfaces at the ``async with`` exit and cancels the block's body.

A session that is not entered is opened on the service by its first job (``POST /sessions``,
as the official ``Session(backend)`` is), its jobs are watched by the service's watcher, and it
stays open until ``await session.close()`` (a ``ResourceWarning`` says so if it is
garbage-collected still open). One from :meth:`AsyncSession.from_id` is already open.

Inside ``async with``, the session is the task's current mode: primitives built there without a
mode run in it (as the official ``SamplerV2()`` inside ``with Session(...)``).

With a journaled service, the session is recorded when opened (id, mode, backend, ``label``) and
marked ``closed`` or ``cancelled`` on the way out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, ClassVar, Literal, NoReturn

import anyio
from typing_extensions import Self

from aioqruntime._exceptions import (
    APIError,
    InvalidInputError,
    NotFoundError,
    ServiceClosedError,
    SessionClosedError,
)
from aioqruntime.protocol import (
    PollSchedule,
    Session,
    parse_max_time,
)
from aioqruntime.runtime._backend import ServiceBackend
from aioqruntime.runtime._context import mode_scope
from aioqruntime.runtime._job import AsyncRuntimeJob, DoneCallback
from aioqruntime.runtime._options import RuntimeOptions
from aioqruntime.runtime._service import AsyncRuntimeService
from aioqruntime.runtime._submit import submit_job
from aioqruntime.runtime._watcher import JobWatcher

__all__ = ["AsyncBatch", "AsyncSession"]

logger = logging.getLogger("aioqruntime.runtime")

OnError = Literal["close", "cancel"]


class AsyncSession:
    """A dedicated session: ``async with AsyncSession(backend=backend) as session``.

    ``backend`` is a backend from ``await service.backend(name)`` (its service is used unless
    ``service`` is given) or a name with ``service``. ``max_time`` (seconds or text such as
    ``"2h 30m"``) is validated here, before any request. Entering sends ``POST /sessions`` (or,
    never entered, the first job does), except for a simulator backend (like the official
    client: no session, jobs run in job mode). See the module docstring for what leaving the
    block does. ``poll_schedule`` paces the session's watcher (default: the service's).
    """

    _mode: ClassVar[str] = "dedicated"

    def __init__(
        self,
        backend: ServiceBackend | str,
        max_time: int | str | None = None,
        *,
        create_new: bool | None = True,
        service: AsyncRuntimeService | None = None,
        wait_on_exit: bool = True,
        on_error: OnError = "close",
        cleanup_timeout: float = 10.0,
        label: str | None = None,
        poll_schedule: PollSchedule | None = None,
    ) -> None:
        if service is None:
            if not isinstance(backend, ServiceBackend):
                raise InvalidInputError("pass service= when the backend is given by name")
            service = backend.service
        if create_new is False:
            raise InvalidInputError(
                "create_new=False attaches to an existing session: write "
                f"'await {type(self).__name__}.from_id(session_id, service)'"
            )
        if on_error not in ("close", "cancel"):
            raise InvalidInputError(f"on_error must be 'close' or 'cancel', got {on_error!r}")
        self._service = service
        self._backend: ServiceBackend | None = (
            backend if isinstance(backend, ServiceBackend) else None
        )
        self._backend_name = backend.name if isinstance(backend, ServiceBackend) else backend
        self._max_time = parse_max_time(max_time)
        self._wait_on_exit = wait_on_exit
        self._on_error: OnError = on_error
        self._cleanup_timeout = cleanup_timeout
        self.label = label
        # The cadence of this session's own watcher (default: the service's schedule).
        self._poll_schedule = poll_schedule
        self._session_id: str | None = None
        self._active = True
        self._created = False
        self._opened_on_first_use = False
        self._open_lock = anyio.Lock()
        self._watcher: JobWatcher | None = None
        self._cm: AbstractAsyncContextManager[Self] | None = None

    # --- members of the official Session -------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        """The service's id (``None`` before entering, and for a simulator backend)."""
        return self._session_id

    @property
    def service(self) -> AsyncRuntimeService:
        return self._service

    def backend(self) -> str:
        """The backend's name."""
        return self._backend_name

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def active(self) -> bool:
        """Whether this session still takes jobs (False after close/cancel, locally known)."""
        return self._active

    async def status(self) -> str | None:
        """``"Pending"``, ``"In progress, accepting new jobs"``, ``"Closed"``... (one GET)."""
        details = await self._read()
        return None if details is None else details.status_text

    async def details(self) -> dict[str, Any] | None:
        """The session as the official ``Session.details()`` presents it (one GET)."""
        s = await self._read()
        if s is None:
            return None
        return {
            "id": s.id,
            "backend_name": s.backend_name,
            "interactive_timeout": s.interactive_ttl,
            "max_time": s.max_ttl,
            "active_timeout": s.active_ttl,
            "state": s.state,
            "accepting_jobs": s.accepting_jobs,
            "last_job_started": s.last_job_started,
            "last_job_completed": s.last_job_completed,
            "started_at": s.started_at,
            "closed_at": s.closed_at,
            "activated_at": s.activated_at,
            "mode": s.mode,
            "usage_time": s.elapsed_time,
        }

    async def usage(self) -> float | None:
        """Seconds the session has used (``elapsed_time``)."""
        s = await self._read()
        return None if s is None else s.elapsed_time

    async def close(self) -> None:
        """Stop accepting jobs (``PATCH accepting_jobs=false``); queued jobs still run.

        A 404 (already gone) is ignored, as in the official client.
        """
        self._active = False
        if self._session_id is None:
            return
        sessions = self._service._core_or_raise().client.sessions
        logger.info("closing %s session %s", self._mode, self._session_id)
        with contextlib.suppress(NotFoundError):
            await sessions.close(self._session_id)

    async def cancel(self) -> None:
        """Cancel the session (``DELETE /sessions/{id}/close``): queued jobs will not run."""
        self._active = False
        if self._session_id is None:
            return
        sessions = self._service._core_or_raise().client.sessions
        logger.info("cancelling %s session %s", self._mode, self._session_id)
        await sessions.cancel(self._session_id)

    @classmethod
    async def from_id(
        cls,
        session_id: str,
        service: AsyncRuntimeService,
        use_fractional_gates: bool = False,
        calibration_id: str | None = None,
    ) -> Self:
        """The existing session ``session_id`` (no ``POST /sessions``); its mode must match.

        ``use_fractional_gates`` and ``calibration_id`` are for its backend, as in
        ``service.backend()``.
        """
        sessions = (await service._open_core()).client.sessions
        try:
            details = await sessions.get(session_id)
        except NotFoundError as exc:
            raise InvalidInputError(f"Session not found: {session_id}") from exc
        if not details.backend_name:
            raise InvalidInputError(
                f"The backend of session {session_id} is unknown (no job has run in it yet)."
            )
        if details.mode != cls._mode:
            raise InvalidInputError(
                f"session {session_id} is a {details.mode!r} session, not {cls._mode!r}: "
                f"use {'AsyncBatch' if details.mode == 'batch' else 'AsyncSession'}.from_id"
            )
        backend = await service.backend(
            details.backend_name,
            use_fractional_gates=use_fractional_gates,
            calibration_id=calibration_id,
        )
        session = cls(backend, details.max_ttl, service=service)
        session._session_id = details.id
        session._created = True
        session._active = details.state != "closed" and details.accepting_jobs is not False
        return session

    async def run(
        self,
        program_id: str,
        inputs: Mapping[str, Any],
        options: Mapping[str, Any] | None = None,
        callback: DoneCallback | None = None,
        result_decoder: Callable[[str], Any] | None = None,
        *,
        label: str | None = None,
    ) -> AsyncRuntimeJob:
        """Submit ``program_id`` with ``inputs`` (its ``params``) in this session; returns at once.

        ``options`` are runtime options (``log_level``, ``job_tags``, ``max_execution_time``,
        ``private``). ``callback`` is added as a done-callback; ``result_decoder(text)`` replaces
        the default decoding of the results document. ``label`` is your name for the job
        (``job.label``, the journal); it is not sent to the service.
        """
        runtime = RuntimeOptions.from_mapping(options)
        if label is not None:
            runtime = dataclasses.replace(runtime, label=label)
        return await self._submit(
            program_id,
            inputs,
            runtime,
            callback=callback,
            result_decoder=result_decoder,
        )

    async def _submit(
        self,
        program_id: str,
        params: Mapping[str, Any],
        options: RuntimeOptions,
        *,
        callback: DoneCallback | None = None,
        result_decoder: Callable[[str], Any] | None = None,
    ) -> AsyncRuntimeJob:
        if not self._active:
            raise SessionClosedError(f"the {self._mode} session is closed")
        core = await self._service._open_core()
        if not self._created and self._cm is None:
            await self._open_on_first_use()
        watcher = self._watcher or self._service._watcher_or_raise()
        try:
            return await submit_job(
                core,
                program_id=program_id,
                backend_name=self._backend_name,
                params=params,
                session_id=self._session_id,
                options=options,
                watcher=watcher,
                callback=callback,
                result_decoder=result_decoder,
            )
        except SessionClosedError:
            self._active = False
            raise

    async def target_backend(self) -> ServiceBackend:
        """The backend object (fetched once if the session was made from a name)."""
        if self._backend is None:
            self._backend = await self._service.backend(self._backend_name)
        return self._backend

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> NoReturn:
        # The official Session is entered with 'with'; ours opens and closes with I/O.
        raise TypeError(
            f"{type(self).__name__} is asynchronous: use 'async with "
            f"{type(self).__name__}(backend=backend) as session:' (inside an async function)"
        )

    def __exit__(self, *exc_info: object) -> None:
        """Never reached: :meth:`__enter__` always raises (present so 'with' calls it)."""

    async def __aenter__(self) -> Self:
        if self._cm is not None:
            raise RuntimeError(f"this {type(self).__name__} is already entered")
        self._cm = self._lifespan()
        return await self._cm.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        cm, self._cm = self._cm, None
        if cm is None:
            return None
        return await cm.__aexit__(exc_type, exc, tb)

    @asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[Self]:
        core = await self._service._open_core()
        await self._open_remote()
        scoped = self._session_id is not None
        watcher = JobWatcher(
            core,
            name=f"{self._mode}:{self._session_id}",
            session_scoped=scoped,
            schedule=self._poll_schedule,
        )
        self._watcher = watcher
        # The body's own exception is kept out of the task group and re-raised after it, so that
        # callers catch it as itself rather than wrapped in an ExceptionGroup.
        body_error: BaseException | None = None
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(watcher.run)
                try:
                    with mode_scope(self):
                        yield self
                except BaseException as exc:
                    body_error = exc
                    tg.cancel_scope.cancel()
                    with anyio.move_on_after(self._cleanup_timeout, shield=True):
                        await self._stop_remote(self._on_error)
                        await self._journal_end(
                            "cancelled" if self._on_error == "cancel" else "closed"
                        )
                else:
                    if self._active:
                        await self.close()
                    await self._journal_end("closed")
                    if self._wait_on_exit:
                        await watcher.wait_idle()
                    tg.cancel_scope.cancel()
        finally:
            self._watcher = None
            self._active = False
            self._hand_over(watcher)
        if body_error is not None:
            raise body_error

    async def _open_remote(self) -> None:
        """``POST /sessions`` once (none for a simulator backend: its jobs run in job mode)."""
        core = await self._service._open_core()
        backend = await self.target_backend()
        if self._created or backend.is_simulator:
            return
        created = await core.client.sessions.create(
            self._mode, self._backend_name, instance=core.instance, max_ttl=self._max_time
        )
        self._session_id = created.id
        self._created = True
        logger.info(
            "opened %s session %s on %s (max_time %s)",
            self._mode,
            self._session_id,
            self._backend_name,
            self._max_time,
        )
        if core.journal is not None:
            with anyio.CancelScope(shield=True):  # the session exists: it must be recorded
                await core.journal.session_opened(
                    self._session_id,
                    mode=self._mode,
                    backend=self._backend_name,
                    label=self.label,
                )

    async def _open_on_first_use(self) -> None:
        async with self._open_lock:  # concurrent first jobs open one session
            if not self._created:
                await self._open_remote()
                self._opened_on_first_use = self._created

    def __del__(self) -> None:
        if getattr(self, "_opened_on_first_use", False) and self._active:
            warnings.warn(
                f"{type(self).__name__} {self._session_id} was opened by its first job and never "
                "closed: it stays open on the service until its timeout. Write 'await "
                "session.close()', or use 'async with'.",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )

    async def _journal_end(self, state: str) -> None:
        journal = self._service._core_or_raise().journal
        if journal is not None and self._session_id is not None:
            await journal.session_ended(self._session_id, state)

    async def _stop_remote(self, action: OnError) -> None:
        """Close or cancel on the way out of an error; never raises over the original error."""
        if not self._active and action == "close":
            return
        try:
            if action == "cancel":
                await self.cancel()
            else:
                await self.close()
        except APIError as exc:
            logger.warning("could not %s session %s on exit: %s", action, self._session_id, exc)

    def _hand_over(self, watcher: JobWatcher) -> None:
        jobs = watcher.release_all()
        if not jobs:
            return
        try:
            service_watcher = self._service._watcher_or_raise()
        except ServiceClosedError:  # the service is closed too: nobody can watch them any more
            for state in jobs:
                state.abandon(
                    SessionClosedError(
                        f"stopped watching job {state.job_id}: the service is closed. The job "
                        "itself was not cancelled."
                    )
                )
            return
        for state in jobs:
            service_watcher.track(state)

    async def _read(self) -> Session | None:
        if self._session_id is None:
            return None
        return await self._service._core_or_raise().client.sessions.get(self._session_id)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} id={self._session_id!r} backend={self._backend_name!r} "
            f"active={self._active}>"
        )


class AsyncBatch(AsyncSession):
    """A batch (``mode: "batch"``): same API and exit semantics as :class:`AsyncSession`."""

    _mode: ClassVar[str] = "batch"
