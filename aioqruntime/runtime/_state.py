"""``JobState``: everything about one job that changes, in one object fed by its watcher.

The model is dask's ``FutureState``: the user's handle (:class:`~aioqruntime.AsyncRuntimeJob`)
only reads this object and waits on it; the watcher that follows the job is the only writer
(:meth:`JobState.apply` what the service said, :meth:`JobState.settle` the outcome,
:meth:`JobState.abandon` when its owner closes). One :class:`Phase` replaces what used to be
three flags.

Sans-I/O apart from the ``anyio.Event`` waiters sleep on; it imports neither the job nor the
watcher (each sees the other through the small protocols below), so there is no import circle.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import anyio

from aioqruntime._exceptions import QRuntimeError
from aioqruntime.protocol import Job, JobStatus

__all__ = ["JobState", "Phase", "WatcherLink", "status_text"]

logger = logging.getLogger("aioqruntime.runtime")

#: The user's handle the callbacks receive (an ``AsyncRuntimeJob``).
H = TypeVar("H")


class Phase(enum.Enum):
    """Where the job is, as this process knows it."""

    #: Not final yet, or final with its outcome still being fetched.
    PENDING = "pending"
    #: Final, outcome stored (a result or the job's error): awaiting returns at once.
    DONE = "done"
    #: Its owner stopped watching before the end: waiters get an error, the job is not done (it
    #: still runs on the service; ``service.job(id)`` finds it again).
    ABANDONED = "abandoned"


class WatcherLink(Protocol):
    """What a job handle asks of the watcher following it."""

    def wake(self, *, urgent: bool = False) -> None: ...

    def call_soon(self, fn: Callable[[Any], object], handle: Any) -> None: ...

    def is_tracking(self, state: JobState[Any]) -> bool: ...

    async def settle_now(self, state: JobState[Any], item: Job | None = None) -> None: ...

    async def refresh(self, state: JobState[Any]) -> None: ...


class JobState(Generic[H]):
    """The mutable state of one job. Written by its watcher only; read by its handle."""

    def __init__(
        self,
        job_id: str,
        *,
        watcher: WatcherLink,
        backend_name: str | None,
        program_id: str | None = None,
        session_id: str | None = None,
        tags: Sequence[str] = (),
        result_decoder: Callable[[str], Any] | None = None,
    ) -> None:
        self.job_id = job_id
        #: The watcher following the job (a session hands its jobs to the service's on exit).
        self.watcher = watcher
        self.backend_name = backend_name
        self.program_id = program_id
        self.session_id = session_id
        self.tags: tuple[str, ...] = tuple(tags)
        self.result_decoder = result_decoder
        self.status: JobStatus | str = JobStatus.INITIALIZING
        self.reason: str | None = None
        self.reason_code: int | None = None
        self.creation_date: datetime | None = None
        self.error_message: str | None = None
        #: The last description of the job the service gave (``None`` before the first one).
        self.last_seen: Job | None = None
        self.phase = Phase.PENDING
        # The outcome: meaningful once the phase is DONE (``exception`` also when ABANDONED).
        self.result: Any = None
        self.exception: BaseException | None = None
        self.settled = anyio.Event()
        self.callbacks: list[Callable[[H], object]] = []
        self.listeners: list[Callable[[H], None]] = []
        #: The user's handle, set once by it (callbacks and listeners receive it).
        self.handle: H | None = None

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    def apply(self, item: Job) -> bool:
        """Take what the service says about the job; True if its status changed."""
        if self.phase is Phase.DONE:
            return False
        self.last_seen = item
        changed = self.status != item.job_status
        if changed:
            logger.debug(
                "job %s (session %s): %s -> %s",
                self.job_id,
                item.session_id or self.session_id,
                status_text(self.status),
                status_text(item.job_status),
            )
        self.status = item.job_status
        self.reason = item.reason
        self.reason_code = item.reason_code
        self.tags = item.tags or self.tags
        self.creation_date = item.created or self.creation_date
        self.session_id = item.session_id or self.session_id
        self.backend_name = item.backend or self.backend_name
        self.program_id = item.program_id or self.program_id
        return changed

    def settle(
        self, *, result: Any = None, error: Exception | None = None
    ) -> list[Callable[[H], object]]:
        """Store the outcome, wake the waiters and return the callbacks the watcher must call."""
        if self.phase is Phase.DONE:
            return []
        self.result = result
        self.exception = error
        self._log_outcome(error)
        self.phase = Phase.DONE
        self._wake_waiters()
        callbacks, self.callbacks = self.callbacks, []
        return callbacks

    def abandon(self, error: QRuntimeError) -> None:
        """The owner stopped watching before the job ended: waiters get ``error``."""
        if self.phase is not Phase.PENDING:
            return
        logger.info(
            "stopped watching job %s (session %s, status %s): its owner was closed; the job "
            "itself still runs on the service",
            self.job_id,
            self.session_id,
            status_text(self.status),
        )
        self.exception = error
        self.phase = Phase.ABANDONED
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        self.settled.set()
        listeners, self.listeners = self.listeners, []
        assert self.handle is not None
        for fn in listeners:
            fn(self.handle)

    def _log_outcome(self, error: Exception | None) -> None:
        if error is None:
            logger.info(
                "job %s (session %s, backend %s) ended %s",
                self.job_id,
                self.session_id,
                self.backend_name,
                status_text(self.status),
            )
            return
        self.error_message = str(error)
        logger.warning(
            "job %s (session %s, backend %s) ended %s: %s: %s",
            self.job_id,
            self.session_id,
            self.backend_name,
            status_text(self.status),
            type(error).__name__,
            _first_line(str(error)),
        )


def status_text(status: JobStatus | str) -> str:
    """``"DONE"``, ``"RUNNING"``... (an unknown server state as its text)."""
    return status.value if isinstance(status, JobStatus) else str(status)


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else f"{line[:limit]}..."
