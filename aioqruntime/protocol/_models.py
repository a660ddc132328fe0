"""Typed views of the service's job JSON (protocol.md §2.2, official-client.md §5).

Every model is a frozen, slotted dataclass built by ``Model.from_json(mapping)``: unknown fields are
ignored, optional ones may be missing, a missing required one raises :class:`ProtocolError` naming
it. ``raw`` keeps the mapping that was parsed (excluded from ``==`` and ``repr``). Models the local
server emits also have ``to_json()`` producing the wire shape; ``from_json(m.to_json()) == m``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from typing_extensions import Self

from aioqruntime.protocol._constants import RAN_TOO_LONG_REASON_CODE
from aioqruntime.protocol._fields import FieldReader, optional_timestamp, raw_field
from aioqruntime.protocol._states import (
    JobStatus,
    ServerJobState,
    job_status_from_server,
    parse_server_job_state,
)

__all__ = [
    "Job",
    "JobCreated",
    "JobList",
    "JobMetrics",
    "JobUsage",
]


@dataclass(frozen=True, slots=True)
class JobUsage:
    """``usage`` of a job (``GET /jobs/{id}`` and ``/metrics``)."""

    qpu_charge_time_seconds: float | None = None
    #: ``pending`` until billing is final, then ``complete``.
    status: str | None = None
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_json(cls, data: object, *, where: str = "JobUsage") -> Self:
        read = FieldReader(where, data)
        return cls(
            qpu_charge_time_seconds=read.number("qpu_charge_time_seconds"),
            status=read.text("status"),
            raw=read.data,
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"qpu_charge_time_seconds": self.qpu_charge_time_seconds or 0}
        if self.status is not None:
            body["status"] = self.status
        return body


@dataclass(frozen=True, slots=True)
class Job:
    """A job as ``GET /jobs/{id}`` (and each item of ``GET /jobs``) describes it.

    ``status`` is the server's ``state.status`` as sent (``Queued``, ``Running``, ``Completed``,
    ``Failed``, ``Cancelled``); :attr:`job_status` is the user-facing mapping.
    """

    id: str
    status: str
    backend: str | None = None
    reason: str | None = None
    reason_code: int | None = None
    reason_solution: str | None = None
    program_id: str | None = None
    created: datetime | None = None
    session_id: str | None = None
    tags: tuple[str, ...] = ()
    private: bool = False
    runtime: str | None = None
    cost: int | None = None
    estimated_running_time_seconds: float | None = None
    usage: JobUsage | None = None
    user_id: str | None = None
    calibration_id: str | None = None
    #: ``params`` (only without ``exclude_params=true``), still codec-encoded.
    params: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_json(cls, data: object, *, where: str = "Job") -> Self:
        read = FieldReader(where, data)
        state = read.required_child("state")
        # The official client prefers camelCase reasonCode and falls back to reason_code.
        reason_code = state.integer("reasonCode")
        if reason_code is None:
            reason_code = state.integer("reason_code")
        program = read.child("program")
        usage = read.child("usage")
        return cls(
            id=read.required_text("id"),
            status=state.required_text("status"),
            backend=read.text("backend"),
            reason=state.text("reason"),
            reason_code=reason_code,
            reason_solution=state.text("reason_solution"),
            program_id=None if program is None else program.text("id"),
            created=read.timestamp("created"),
            session_id=read.text("session_id"),
            tags=read.strings("tags"),
            private=bool(read.flag("private")),
            runtime=read.text("runtime"),
            cost=read.integer("cost"),
            estimated_running_time_seconds=read.number("estimated_running_time_seconds"),
            usage=None if usage is None else JobUsage.from_json(usage.data, where=usage.where),
            user_id=read.text("user_id"),
            calibration_id=read.text("calibration_id"),
            params=read.mapping("params"),
            raw=read.data,
        )

    @property
    def job_status(self) -> JobStatus | str:
        """The user-facing status (1305 + Cancelled is ``ERROR``)."""
        return job_status_from_server(self.status, self.reason_code)

    def to_json(self, *, include_params: bool = False) -> dict[str, Any]:
        """The ``JobResponse`` wire shape; ``params`` only when asked (``exclude_params=false``)."""
        state: dict[str, Any] = {"status": self.status, "reason": self.reason}
        if self.reason_code is not None:
            state["reason_code"] = self.reason_code
        if self.reason_solution is not None:
            state["reason_solution"] = self.reason_solution
        top_status = self.status
        if (
            parse_server_job_state(self.status) is ServerJobState.CANCELLED
            and self.reason_code == RAN_TOO_LONG_REASON_CODE
        ):
            top_status = "Cancelled - Ran too long"
        body: dict[str, Any] = {
            "id": self.id,
            "backend": self.backend,
            "state": state,
            "status": top_status,
            "program": {"id": self.program_id},
            "created": optional_timestamp(self.created),
            "runtime": self.runtime,
            "cost": self.cost,
            "session_id": self.session_id,
            "tags": list(self.tags),
            "user_id": self.user_id,
            "estimated_running_time_seconds": self.estimated_running_time_seconds,
        }
        if self.usage is not None:
            body["usage"] = self.usage.to_json()
        if self.calibration_id is not None:
            body["calibration_id"] = self.calibration_id
        if self.private:  # the spec sends "private" only when it is true
            body["private"] = True
        if include_params and self.params is not None:
            body["params"] = dict(self.params)
        return body


@dataclass(frozen=True, slots=True)
class JobList:
    """``GET /jobs``: one page plus ``count``, the total number of jobs matching the filter."""

    jobs: tuple[Job, ...]
    count: int
    offset: int | None = None
    limit: int | None = None
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_json(cls, data: object) -> Self:
        read = FieldReader("JobList", data)
        read.require("jobs")
        jobs = tuple(
            Job.from_json(item, where=f"JobList.jobs[{index}]")
            for index, item in enumerate(read.items("jobs"))
        )
        count = read.integer("count")
        return cls(
            jobs=jobs,
            count=len(jobs) if count is None else count,
            offset=read.integer("offset"),
            limit=read.integer("limit"),
            raw=read.data,
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"jobs": [job.to_json() for job in self.jobs], "count": self.count}
        if self.offset is not None:
            body["offset"] = self.offset
        if self.limit is not None:
            body["limit"] = self.limit
        return body


@dataclass(frozen=True, slots=True)
class JobCreated:
    """``POST /jobs`` response. ``backend`` is required: the service may pick another one."""

    id: str
    backend: str
    session_id: str | None = None
    private: bool = False
    calibration_id: str | None = None
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_json(cls, data: object) -> Self:
        read = FieldReader("JobCreated", data)
        return cls(
            id=read.required_text("id"),
            backend=read.required_text("backend"),
            session_id=read.text("session_id"),
            private=bool(read.flag("private")),
            calibration_id=read.text("calibration_id"),
            raw=read.data,
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "backend": self.backend}
        if self.session_id is not None:
            body["session_id"] = self.session_id
        if self.private:
            body["private"] = True
        if self.calibration_id is not None:
            body["calibration_id"] = self.calibration_id
        return body


@dataclass(frozen=True, slots=True)
class JobMetrics:
    """``GET /jobs/{id}/metrics``."""

    created: datetime | None = None
    running: datetime | None = None
    finished: datetime | None = None
    usage: JobUsage | None = None
    circuits_execution_time_ns: int | None = None
    caller: str | None = None
    qiskit_version: str | None = None
    raw: Mapping[str, Any] = raw_field()

    @classmethod
    def from_json(cls, data: object) -> Self:
        read = FieldReader("JobMetrics", data)
        timestamps = read.child("timestamps") or FieldReader("JobMetrics.timestamps", {})
        usage = read.child("usage")
        return cls(
            created=timestamps.timestamp("created"),
            running=timestamps.timestamp("running"),
            finished=timestamps.timestamp("finished"),
            usage=None if usage is None else JobUsage.from_json(usage.data, where=usage.where),
            circuits_execution_time_ns=read.integer("circuits_execution_time_ns"),
            caller=read.text("caller"),
            qiskit_version=read.text("qiskit_version"),
            raw=read.data,
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "timestamps": {
                "created": optional_timestamp(self.created),
                "running": optional_timestamp(self.running),
                "finished": optional_timestamp(self.finished),
            },
            "usage": (self.usage or JobUsage(status="pending")).to_json(),
        }
        for key in ("circuits_execution_time_ns", "caller", "qiskit_version"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        return body
