"""The server's own mutable job and session records and their wire documents.

The protocol package models what a *client* reads (frozen, tolerant); the server needs records it
can mutate under its lifecycle table, so they live here. The lifecycle itself (states, legal moves,
the 1305 code) is ``aioqruntime.protocol._states``: the records refuse any move it does not allow.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from aioqruntime.protocol._states import (
    RAN_TOO_LONG_REASON_CODE,
    SERVER_JOB_TERMINAL_STATES,
    ServerJobState,
    SessionMode,
    SessionState,
    can_transition_job,
    can_transition_session,
)

__all__ = ["JobRecord", "SessionRecord", "isoformat", "new_id", "utcnow"]

_LETTERS = string.ascii_lowercase
_ALNUM = string.ascii_lowercase + string.digits

#: IBM caps ``cost`` (seconds) at 3 h; it is also what a job without ``cost`` gets.
MAX_JOB_COST = 10800


def new_id() -> str:
    """A job/session id shaped like the real service's: 20 lowercase alnum chars, first a letter."""
    return secrets.choice(_LETTERS) + "".join(secrets.choice(_ALNUM) for _ in range(19))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def isoformat(moment: datetime | None) -> str | None:
    """UTC with microseconds and ``Z``, the way the service writes timestamps."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class IllegalTransition(RuntimeError):
    """A state change the lifecycle table forbids (a server bug, or a lost race we must refuse)."""


@dataclass
class JobRecord:
    id: str
    instance: str
    program_id: str
    backend: str
    created: datetime
    params_text: str
    session_id: str | None = None
    status: ServerJobState = ServerJobState.QUEUED
    reason: str | None = None
    reason_code: int | None = None
    running_at: datetime | None = None
    finished_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    cost: int | None = None
    log_level: str = "warning"
    private: bool = False
    runtime: str | None = None
    calibration_id: str | None = None
    caller: str | None = None
    user_id: str = "local-user"
    executions: int = 0
    qpu_seconds: float = 0.0
    circuits_execution_time_ns: int = 0
    qiskit_version: str | None = None
    logs: list[str] = field(default_factory=list)
    #: Submission order, used for FIFO scheduling (``created`` may tie).
    sequence: int = 0

    @property
    def final(self) -> bool:
        return self.status in SERVER_JOB_TERMINAL_STATES

    def move(
        self,
        target: ServerJobState,
        *,
        reason: str | None = None,
        reason_code: int | None = None,
        at: datetime | None = None,
    ) -> None:
        """Change state as the lifecycle table allows, stamping the timestamps."""
        if not can_transition_job(self.status, target):
            raise IllegalTransition(f"job {self.id}: {self.status.value} -> {target.value}")
        moment = at or utcnow()
        self.status = target
        self.reason = reason
        self.reason_code = reason_code
        if target is ServerJobState.RUNNING:
            self.running_at = moment
        elif target in SERVER_JOB_TERMINAL_STATES:
            self.finished_at = moment
        self.log(f"job state: {target.value}" + (f" ({reason})" if reason else ""), moment)

    def log(self, message: str, at: datetime | None = None) -> None:
        self.logs.append(f"{isoformat(at or utcnow())} {message}")

    def wire_status(self) -> str:
        """Top-level ``status``: the spec's extra value for a job cancelled for running too long."""
        if self.status is ServerJobState.CANCELLED and self.reason_code == RAN_TOO_LONG_REASON_CODE:
            return "Cancelled - Ran too long"
        return self.status.value

    def to_wire(self, *, include_params: bool) -> dict[str, Any]:
        """``JobResponseV3``; optional strings are omitted, not null (they are not nullable)."""
        state: dict[str, Any] = {"status": self.status.value}
        if self.reason is not None:
            state["reason"] = self.reason
        if self.reason_code is not None:
            state["reason_code"] = self.reason_code
        doc: dict[str, Any] = {
            "id": self.id,
            "backend": self.backend,
            "state": state,
            "status": self.wire_status(),
            "program": {"id": self.program_id},
            "created": isoformat(self.created),
            "runtime": self.runtime or "",
            "cost": self.effective_cost,
            "tags": list(self.tags),
            "user_id": self.user_id,
            "usage": self.usage(),
            "estimated_running_time_seconds": self.estimated_seconds,
        }
        if self.session_id is not None:
            doc["session_id"] = self.session_id
        if self.private:
            doc["private"] = True
        if self.calibration_id is not None:
            doc["calibration_id"] = self.calibration_id
        # A private job's inputs are never shown again, whatever its state (as on the service).
        if include_params and not self.private:
            doc["params"] = json.loads(self.params_text)
        return doc

    @property
    def effective_cost(self) -> int:
        return MAX_JOB_COST if self.cost is None else min(self.cost, MAX_JOB_COST)

    @property
    def estimated_seconds(self) -> float:
        # A rough, stable estimate (the official client only displays it).
        return round(1.0 + self.executions * 1e-4, 3)

    def usage(self) -> dict[str, Any]:
        return {
            "qpu_charge_time_seconds": round(self.qpu_seconds, 6),
            "status": "complete" if self.final else "pending",
        }

    def metrics(self) -> dict[str, Any]:
        timestamps: dict[str, Any] = {"created": isoformat(self.created)}
        if self.running_at is not None:
            timestamps["running"] = isoformat(self.running_at)
        if self.finished_at is not None:
            timestamps["finished"] = isoformat(self.finished_at)
        doc: dict[str, Any] = {
            "timestamps": timestamps,
            "usage": self.usage(),
            "circuits_execution_time_ns": self.circuits_execution_time_ns,
        }
        if self.caller:
            doc["caller"] = self.caller
        if self.qiskit_version:
            doc["qiskit_version"] = self.qiskit_version
        return doc

    # -- persistence -------------------------------------------------------------------------
    def to_row(self) -> str:
        data = asdict(self)
        data.pop("params_text")
        data["status"] = self.status.value
        for key in ("created", "running_at", "finished_at"):
            data[key] = isoformat(getattr(self, key))
        return json.dumps(data)

    @classmethod
    def from_row(cls, doc_text: str, params_text: str) -> JobRecord:
        data = json.loads(doc_text)
        data["status"] = ServerJobState(data["status"])
        for key in ("created", "running_at", "finished_at"):
            data[key] = _parse(data[key])
        return cls(params_text=params_text, **data)


@dataclass
class SessionRecord:
    id: str
    instance: str
    backend: str
    mode: SessionMode
    max_ttl: int
    interactive_ttl: float
    created: datetime
    state: SessionState = SessionState.OPEN
    state_reason: str | None = None
    accepting_jobs: bool = True
    activated_at: datetime | None = None
    closed_at: datetime | None = None
    last_job_started: datetime | None = None
    last_job_completed: datetime | None = None
    #: When a job was last submitted into it (the idle clock; not part of the wire document).
    last_job_submitted: datetime | None = None
    timestamps: list[tuple[str, datetime]] = field(default_factory=list)
    user_id: str = "local-user"
    #: Seconds of job execution charged to the session so far.
    elapsed_time: float = 0.0

    def __post_init__(self) -> None:
        if not self.timestamps:
            self.timestamps.append((self.state.value, self.created))

    @property
    def closed(self) -> bool:
        return self.state is SessionState.CLOSED

    def move(self, target: SessionState, *, reason: str | None = None) -> bool:
        """Move to ``target`` if the table allows it; ``False`` (no change) otherwise."""
        if target is self.state or not can_transition_session(self.state, target):
            return False
        moment = utcnow()
        self.state = target
        if reason is not None:
            self.state_reason = reason
        self.timestamps.append((target.value, moment))
        if target is SessionState.ACTIVE and self.activated_at is None:
            self.activated_at = moment
        if target is SessionState.CLOSED:
            self.closed_at = moment
            self.accepting_jobs = False
        return True

    def to_wire(self) -> dict[str, Any]:
        """``JobSession`` with every details field the official client maps."""
        interactive = max(1, round(self.interactive_ttl))
        return {
            "id": self.id,
            "backend_name": self.backend,
            "mode": self.mode.value,
            "state": self.state.value,
            "state_reason": self.state_reason,
            "accepting_jobs": self.accepting_jobs,
            "interactive_ttl": interactive,
            "max_ttl": self.max_ttl,
            "active_ttl": self.max_ttl,
            "started_at": isoformat(self.created),
            "activated_at": isoformat(self.activated_at),
            "closed_at": isoformat(self.closed_at),
            "last_job_started": isoformat(self.last_job_started),
            "last_job_completed": isoformat(self.last_job_completed),
            "elapsed_time": round(self.elapsed_time, 6),
            "timestamps": [
                {"status": status, "timestamp": isoformat(moment)}
                for status, moment in self.timestamps
            ],
            "user_id": self.user_id,
        }

    def to_row(self) -> str:
        data = asdict(self)
        data["state"] = self.state.value
        data["mode"] = self.mode.value
        for key in (
            "created",
            "activated_at",
            "closed_at",
            "last_job_started",
            "last_job_completed",
            "last_job_submitted",
        ):
            data[key] = isoformat(getattr(self, key))
        data["timestamps"] = [[s, isoformat(t)] for s, t in self.timestamps]
        return json.dumps(data)

    @classmethod
    def from_row(cls, doc_text: str) -> SessionRecord:
        data = json.loads(doc_text)
        data["state"] = SessionState(data["state"])
        data["mode"] = SessionMode(data["mode"])
        for key in (
            "created",
            "activated_at",
            "closed_at",
            "last_job_started",
            "last_job_completed",
            "last_job_submitted",
        ):
            data[key] = _parse(data.get(key))
        data["timestamps"] = [(s, _parse(t)) for s, t in data["timestamps"]]
        return cls(**data)
