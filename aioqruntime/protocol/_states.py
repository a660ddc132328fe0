"""The job and session lifecycles, in one table (style rule A4).

The client, the job watcher and the local server all read these definitions, so a state name,
a terminal set or the 1305 rule is written exactly once.

Job lifecycle (server states, protocol.md §4)::

    Queued ──► Running ──► Completed
      │  │        │──────► Failed
      │  │        └──────► Cancelled   (reason code 1305: ran too long)
      │  └───────────────► Failed
      └──────────────────► Cancelled

Session lifecycle (protocol.md §5; ``pending_*`` are the server's "finishing" states)::

    open ──► active ◄──► inactive
      │        │  └──► pending_inactive ──► inactive
      │        └─────► pending_closed ──► closed
      └──────────────────────────────────► closed     (any non-closed state may close)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

from aioqruntime._exceptions import (
    JobCancelledError,
    JobError,
    JobFailedError,
    JobRanTooLongError,
)
from aioqruntime.protocol._constants import RAN_TOO_LONG_REASON_CODE

__all__ = [
    "JOB_FINAL_STATUSES",
    "JOB_TRANSITIONS",
    "RAN_TOO_LONG_REASON_CODE",  # re-exported: defined in _constants
    "SERVER_JOB_TERMINAL_STATES",
    "SESSION_TRANSITIONS",
    "JobStatus",
    "ServerJobState",
    "SessionMode",
    "SessionState",
    "can_transition_job",
    "can_transition_session",
    "format_reason",
    "is_final",
    "is_server_terminal",
    "job_outcome",
    "job_status_from_server",
    "parse_server_job_state",
    "parse_session_state",
    "session_status_text",
]


class ServerJobState(str, enum.Enum):
    """``state.status`` as the service spells it (read case-insensitively)."""

    QUEUED = "Queued"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


SERVER_JOB_TERMINAL_STATES: Final = frozenset(
    {ServerJobState.COMPLETED, ServerJobState.FAILED, ServerJobState.CANCELLED}
)

#: Legal server-side moves; the local server refuses any other.
JOB_TRANSITIONS: Final[Mapping[ServerJobState, frozenset[ServerJobState]]] = {
    ServerJobState.QUEUED: frozenset(
        {ServerJobState.RUNNING, ServerJobState.FAILED, ServerJobState.CANCELLED}
    ),
    ServerJobState.RUNNING: frozenset(
        {ServerJobState.COMPLETED, ServerJobState.FAILED, ServerJobState.CANCELLED}
    ),
    ServerJobState.COMPLETED: frozenset(),
    ServerJobState.FAILED: frozenset(),
    ServerJobState.CANCELLED: frozenset(),
}

_SERVER_STATE_BY_LOWER: Final = {state.value.lower(): state for state in ServerJobState}


def parse_server_job_state(status: str) -> ServerJobState | None:
    """The known server state named by ``status`` (any case), or ``None`` for an unknown one."""
    return _SERVER_STATE_BY_LOWER.get(status.strip().lower())


def is_server_terminal(status: str) -> bool:
    """Whether a raw ``state.status`` is one the job never leaves."""
    return parse_server_job_state(status) in SERVER_JOB_TERMINAL_STATES


def can_transition_job(source: ServerJobState, target: ServerJobState) -> bool:
    """Whether the server may move a job from ``source`` to ``target``."""
    return target in JOB_TRANSITIONS[source]


class JobStatus(str, enum.Enum):
    """The user-facing job status, the same names the official client returns."""

    INITIALIZING = "INITIALIZING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"


JOB_FINAL_STATUSES: Final = frozenset({JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED})

_STATUS_FROM_SERVER: Final[Mapping[ServerJobState, JobStatus]] = {
    ServerJobState.QUEUED: JobStatus.QUEUED,
    ServerJobState.RUNNING: JobStatus.RUNNING,
    ServerJobState.COMPLETED: JobStatus.DONE,
    ServerJobState.FAILED: JobStatus.ERROR,
    ServerJobState.CANCELLED: JobStatus.CANCELLED,
}


def job_status_from_server(status: str, reason_code: int | None = None) -> JobStatus | str:
    """Map ``state.status`` (+ reason code) to a :class:`JobStatus`.

    ``Cancelled`` with code 1305 is an ``ERROR`` (the job ran too long), as in the official client.
    An unknown status comes back as the upper-cased raw string, which is never final.
    """
    state = parse_server_job_state(status)
    if state is None:
        return status.strip().upper()
    if state is ServerJobState.CANCELLED and reason_code == RAN_TOO_LONG_REASON_CODE:
        return JobStatus.ERROR
    return _STATUS_FROM_SERVER[state]


def is_final(status: JobStatus | str) -> bool:
    """Whether a user-facing status (or its string value) is final: DONE, ERROR or CANCELLED."""
    return str(status.value if isinstance(status, JobStatus) else status).upper() in {
        s.value for s in JOB_FINAL_STATUSES
    }


def format_reason(reason: str | None, reason_code: int | None) -> str | None:
    """``"Error code <code>; <reason>"`` when there is a code, like the official client."""
    if reason_code is None:
        return reason
    return f"Error code {reason_code}; {reason or ''}".rstrip("; ").rstrip()


def job_outcome(
    job_id: str,
    status: str,
    reason: str | None = None,
    reason_code: int | None = None,
    *,
    error_text: str | None = None,
) -> JobError | None:
    """The error an unsuccessful final job stands for; ``None`` if it succeeded or is not final.

    ``error_text`` is what ``GET /jobs/{id}/results`` returned for a failed job (often a traceback);
    the server's reason wins when both are present (protocol.md §4.2).
    """
    state = parse_server_job_state(status)
    if state not in (ServerJobState.FAILED, ServerJobState.CANCELLED):
        return None
    detail = format_reason(reason, reason_code) or error_text
    error_class: type[JobError]
    if state is ServerJobState.CANCELLED and reason_code == RAN_TOO_LONG_REASON_CODE:
        error_class, headline = (
            JobRanTooLongError,
            f"Job {job_id} ran longer than maximum execution time. Job was cancelled",
        )
    elif state is ServerJobState.CANCELLED:
        error_class, headline = JobCancelledError, f"Job {job_id} was cancelled"
    else:
        error_class, headline = JobFailedError, f"Job {job_id} has failed"
    return error_class(
        f"{headline}:\n{detail}" if detail else f"{headline}.",
        job_id=job_id,
        status=status,
        reason=reason,
        reason_code=reason_code,
    )


class SessionState(str, enum.Enum):
    """``state`` of a session (the OpenAPI four plus the two ``pending_*`` finishing states)."""

    OPEN = "open"
    ACTIVE = "active"
    INACTIVE = "inactive"
    CLOSED = "closed"
    PENDING_INACTIVE = "pending_inactive"
    PENDING_CLOSED = "pending_closed"


class SessionMode(str, enum.Enum):
    """``mode`` of a session: a dedicated session or a batch."""

    DEDICATED = "dedicated"
    BATCH = "batch"


_S = SessionState
#: Legal server-side session moves; ``closed`` is terminal.
SESSION_TRANSITIONS: Final[Mapping[SessionState, frozenset[SessionState]]] = {
    _S.OPEN: frozenset({_S.ACTIVE, _S.PENDING_CLOSED, _S.CLOSED}),
    _S.ACTIVE: frozenset({_S.INACTIVE, _S.PENDING_INACTIVE, _S.PENDING_CLOSED, _S.CLOSED}),
    _S.PENDING_INACTIVE: frozenset({_S.INACTIVE, _S.ACTIVE, _S.PENDING_CLOSED, _S.CLOSED}),
    _S.INACTIVE: frozenset({_S.ACTIVE, _S.PENDING_CLOSED, _S.CLOSED}),
    _S.PENDING_CLOSED: frozenset({_S.CLOSED}),
    _S.CLOSED: frozenset(),
}

_SESSION_STATE_BY_LOWER: Final = {state.value: state for state in SessionState}


def parse_session_state(state: str) -> SessionState | None:
    """The known session state named by ``state`` (any case), or ``None``."""
    return _SESSION_STATE_BY_LOWER.get(state.strip().lower())


def can_transition_session(source: SessionState, target: SessionState) -> bool:
    """Whether the server may move a session from ``source`` to ``target``."""
    return target in SESSION_TRANSITIONS[source]


def session_status_text(state: str | None, accepting_jobs: bool | None) -> str | None:
    """The human status of a session exactly as the official ``Session.status()`` words it."""
    if not state:
        return None
    known = parse_session_state(state)
    if known in (_S.OPEN, _S.INACTIVE):
        return "Pending"
    if (known is _S.ACTIVE and accepting_jobs) or known is _S.PENDING_INACTIVE:
        return "In progress, accepting new jobs"
    if (known is _S.ACTIVE and not accepting_jobs) or known is _S.PENDING_CLOSED:
        return "In progress, not accepting new jobs"
    return state.capitalize()
