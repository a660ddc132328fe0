"""Typed views of sessions, backends and instance usage (protocol.md §2.2, §5.2).

Same conventions as :mod:`._models`: tolerant ``from_json``, ``raw`` kept, ``to_json`` for what the
local server emits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from typing_extensions import Self

from aioqruntime.protocol._fields import FieldReader, optional_timestamp, raw_field
from aioqruntime.protocol._states import session_status_text

__all__ = [
    "BackendList",
    "BackendListEntry",
    "BackendStatus",
    "Session",
    "SessionTimestamp",
    "Usage",
]


@dataclass(frozen=True, slots=True)
class SessionTimestamp:
    """One entry of a session's ``timestamps`` history."""

    status: str
    timestamp: datetime | None = None

    @classmethod
    def from_json(cls, data: object, *, where: str = "SessionTimestamp") -> Self:
        read = FieldReader(where, data)
        return cls(status=read.required_text("status"), timestamp=read.timestamp("timestamp"))

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "timestamp": optional_timestamp(self.timestamp)}


@dataclass(frozen=True, slots=True)
class Session:
    """``GET /sessions/{id}`` (and the ``POST /sessions`` answer, of which only ``id`` is sure)."""

    id: str
    backend_name: str | None = None
    mode: str | None = None
    state: str | None = None
    state_reason: str | None = None
    accepting_jobs: bool | None = None
    interactive_ttl: int | None = None
    max_ttl: int | None = None
    active_ttl: int | None = None
    started_at: datetime | None = None
    activated_at: datetime | None = None
    closed_at: datetime | None = None
    last_job_started: datetime | None = None
    last_job_completed: datetime | None = None
    #: Seconds the session has been running jobs (the official ``Session.usage()``).
    elapsed_time: float | None = None
    timestamps: tuple[SessionTimestamp, ...] = ()
    user_id: str | None = None
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_json(cls, data: object, *, session_id: str | None = None) -> Self:
        """Parse; ``session_id`` (the id that was asked for) stands in when the body has none.

        The official client accepts ``{"state", "accepting_jobs"}`` alone from ``GET /sessions/x``.
        """
        read = FieldReader("Session", data)
        known_id = read.text("id") or session_id
        return cls(
            id=known_id if known_id is not None else read.required_text("id"),
            backend_name=read.text("backend_name"),
            mode=read.text("mode"),
            state=read.text("state"),
            state_reason=read.text("state_reason"),
            accepting_jobs=read.flag("accepting_jobs"),
            interactive_ttl=read.integer("interactive_ttl"),
            max_ttl=read.integer("max_ttl"),
            active_ttl=read.integer("active_ttl"),
            started_at=read.timestamp("started_at"),
            activated_at=read.timestamp("activated_at"),
            closed_at=read.timestamp("closed_at"),
            last_job_started=read.timestamp("last_job_started"),
            last_job_completed=read.timestamp("last_job_completed"),
            elapsed_time=read.number("elapsed_time"),
            timestamps=tuple(
                SessionTimestamp.from_json(item, where=f"Session.timestamps[{index}]")
                for index, item in enumerate(read.items("timestamps"))
            ),
            user_id=read.text("user_id"),
            raw=read.data,
        )

    @property
    def status_text(self) -> str | None:
        """``"Pending"``, ``"In progress, accepting new jobs"``... worded as the official client."""
        return session_status_text(self.state, self.accepting_jobs)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "backend_name": self.backend_name,
            "mode": self.mode,
            "state": self.state,
            "state_reason": self.state_reason,
            "accepting_jobs": self.accepting_jobs,
            "interactive_ttl": self.interactive_ttl,
            "max_ttl": self.max_ttl,
            "active_ttl": self.active_ttl,
            "started_at": optional_timestamp(self.started_at),
            "activated_at": optional_timestamp(self.activated_at),
            "closed_at": optional_timestamp(self.closed_at),
            "last_job_started": optional_timestamp(self.last_job_started),
            "last_job_completed": optional_timestamp(self.last_job_completed),
            "elapsed_time": self.elapsed_time,
            "timestamps": [entry.to_json() for entry in self.timestamps],
            "user_id": self.user_id,
        }


@dataclass(frozen=True, slots=True)
class BackendListEntry:
    """One item of ``GET /backends`` ``devices``."""

    name: str
    #: ``status.name``: ``online``, ``paused`` or ``offline``.
    status_name: str
    queue_length: int = 0
    status_reason: str | None = None
    qubits: int | None = None
    physical_qubits: int | None = None
    is_simulator: bool | None = None
    #: ``class``; ``"mock"`` marks dry-run devices the official client hides.
    device_class: str | None = None
    processor_family: str | None = None
    processor_revision: str | None = None
    clops: float | None = None
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_json(cls, data: object, *, where: str = "BackendListEntry") -> Self:
        read = FieldReader(where, data)
        status = read.required_child("status")
        processor = read.child("processor_type")
        clops = read.child("clops")
        return cls(
            name=read.required_text("name"),
            status_name=status.required_text("name"),
            status_reason=status.text("reason"),
            queue_length=max(0, read.integer("queue_length") or 0),
            qubits=read.integer("qubits"),
            physical_qubits=read.integer("physical_qubits"),
            is_simulator=read.flag("is_simulator"),
            device_class=read.text("class"),
            processor_family=None if processor is None else processor.text("family"),
            processor_revision=None
            if processor is None
            else _text_or_number(processor, "revision"),
            clops=None if clops is None else clops.number("value"),
            raw=read.data,
        )

    @property
    def is_online(self) -> bool:
        return self.status_name == "online"

    @property
    def is_mock(self) -> bool:
        return self.device_class == "mock"

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "status": {"name": self.status_name, "reason": self.status_reason},
            "queue_length": self.queue_length,
        }
        optional = {
            "qubits": self.qubits,
            "physical_qubits": self.physical_qubits,
            "is_simulator": self.is_simulator,
            "class": self.device_class,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        if self.processor_family is not None or self.processor_revision is not None:
            body["processor_type"] = {
                "family": self.processor_family,
                "revision": self.processor_revision,
            }
        if self.clops is not None:
            body["clops"] = {"type": "hardware", "value": self.clops}
        return body


def _text_or_number(read: FieldReader, key: str) -> str | None:
    value = read.data.get(key)
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class BackendList:
    """``GET /backends``."""

    devices: tuple[BackendListEntry, ...]
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_json(cls, data: object) -> Self:
        read = FieldReader("BackendList", data)
        read.require("devices")
        return cls(
            devices=tuple(
                BackendListEntry.from_json(item, where=f"BackendList.devices[{index}]")
                for index, item in enumerate(read.items("devices"))
            ),
            raw=read.data,
        )

    def to_json(self) -> dict[str, Any]:
        return {"devices": [device.to_json() for device in self.devices]}


@dataclass(frozen=True, slots=True)
class BackendStatus:
    """``GET /backends/{name}/status``. Defaults are the official client's."""

    #: Operational or not.
    state: bool = False
    #: ``"active"`` when taking jobs; anything else draws a warning at submission.
    status: str | None = None
    message: str | None = None
    #: Pending jobs, clamped to >= 0 (0 when missing).
    length_queue: int = 0
    backend_version: str = "0.0.0"
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_json(cls, data: object) -> Self:
        read = FieldReader("BackendStatus", data)
        return cls(
            state=bool(read.flag("state")),
            status=read.text("status"),
            message=read.text("message"),
            length_queue=max(0, read.integer("length_queue") or 0),
            backend_version=read.text("backend_version") or "0.0.0",
            raw=read.data,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "status": self.status,
            "message": self.message,
            "length_queue": self.length_queue,
            "backend_version": self.backend_version,
        }


@dataclass(frozen=True, slots=True)
class Usage:
    """``GET /instances/usage``. All optional on read: the official client accepts ``{}``."""

    instance_id: str | None = None
    plan_id: str | None = None
    usage_consumed_seconds: float | None = None
    usage_limit_seconds: float | None = None
    usage_allocation_seconds: float | None = None
    usage_limit_reached: bool | None = None
    usage_period_start: datetime | None = None
    usage_period_end: datetime | None = None
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_json(cls, data: object) -> Self:
        read = FieldReader("Usage", data)
        period = read.child("usage_period") or FieldReader("Usage.usage_period", {})
        return cls(
            instance_id=read.text("instance_id"),
            plan_id=read.text("plan_id"),
            usage_consumed_seconds=read.number("usage_consumed_seconds"),
            usage_limit_seconds=read.number("usage_limit_seconds"),
            usage_allocation_seconds=read.number("usage_allocation_seconds"),
            usage_limit_reached=read.flag("usage_limit_reached"),
            usage_period_start=period.timestamp("start_time"),
            usage_period_end=period.timestamp("end_time"),
            raw=read.data,
        )

    @property
    def usage_remaining_seconds(self) -> float | None:
        """Limit minus consumption, never below 0; ``None`` when either is unknown."""
        if self.usage_limit_seconds is None or self.usage_consumed_seconds is None:
            return None
        return max(0.0, self.usage_limit_seconds - self.usage_consumed_seconds)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "instance_id": self.instance_id,
            "plan_id": self.plan_id,
            "usage_consumed_seconds": self.usage_consumed_seconds or 0,
        }
        optional = {
            "usage_limit_seconds": self.usage_limit_seconds,
            "usage_allocation_seconds": self.usage_allocation_seconds,
            "usage_limit_reached": self.usage_limit_reached,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        if self.usage_period_start is not None or self.usage_period_end is not None:
            body["usage_period"] = {
                "start_time": optional_timestamp(self.usage_period_start),
                "end_time": optional_timestamp(self.usage_period_end),
            }
        return body
