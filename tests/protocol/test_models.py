"""Wire models: tolerant reading, required fields, wire round trips."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from aioqruntime._exceptions import ProtocolError
from aioqruntime.protocol import (
    BackendList,
    BackendListEntry,
    BackendStatus,
    Job,
    JobCreated,
    JobList,
    JobMetrics,
    JobStatus,
    JobUsage,
    Session,
    SessionTimestamp,
    TokenResponse,
    Usage,
    format_timestamp,
    parse_timestamp,
)

T0 = datetime(2026, 11, 24, 13, 36, 45, 320637, tzinfo=timezone.utc)
MINIMAL_JOB = {"id": "d1", "backend": "ibm_stub5", "state": {"status": "Queued"}}


def test_minimal_job() -> None:
    job = Job.from_json(MINIMAL_JOB)
    assert (job.id, job.backend, job.status, job.job_status) == (
        "d1",
        "ibm_stub5",
        "Queued",
        JobStatus.QUEUED,
    )
    assert job.tags == () and job.private is False and job.created is None and job.params is None


def test_job_unknown_fields_ignored_and_raw_kept() -> None:
    data = {**MINIMAL_JOB, "brand_new_field": {"x": 1}, "state": {"status": "Running", "z": 1}}
    job = Job.from_json(data)
    assert job.job_status is JobStatus.RUNNING
    assert job.raw is data
    assert "raw" not in repr(job)


def test_job_reason_code_camel_case_preferred() -> None:
    state = {"status": "Cancelled", "reasonCode": 1305, "reason_code": 1}
    job = Job.from_json({**MINIMAL_JOB, "state": state})
    assert job.reason_code == 1305
    assert job.job_status is JobStatus.ERROR
    quoted = Job.from_json({**MINIMAL_JOB, "state": {"status": "Failed", "reason_code": "1517"}})
    assert quoted.reason_code == 1517


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"backend": "b", "state": {"status": "Queued"}}, "'id'"),
        ({"id": "d1", "backend": "b"}, "'state'"),
        ({"id": "d1", "state": {}}, "'status'"),
        ({"id": "d1", "state": {"status": None}}, "'status'"),
        ({"id": 5, "state": {"status": "Queued"}}, "Job.id"),
        ({"id": "d1", "state": {"status": "Queued"}, "tags": "x"}, "Job.tags"),
        ({"id": "d1", "state": {"status": "Queued"}, "tags": [1]}, r"Job.tags\[0\]"),
        ({"id": "d1", "state": {"status": "Queued"}, "created": "yesterday"}, "Job.created"),
        ({"id": "d1", "state": {"status": "Queued"}, "private": "no"}, "Job.private"),
        ({"id": "d1", "state": {"status": "Queued"}, "cost": True}, "Job.cost"),
        ({"id": "d1", "state": "Queued"}, "Job.state"),
    ],
)
def test_job_bad_shapes_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ProtocolError, match=field):
        Job.from_json(data)


@pytest.mark.parametrize("data", [None, [], "x", 3])
def test_not_an_object(data: object) -> None:
    with pytest.raises(ProtocolError, match="JSON object"):
        Job.from_json(data)


def test_job_list_names_the_bad_item() -> None:
    with pytest.raises(ProtocolError, match=r"JobList.jobs\[1\]"):
        JobList.from_json({"jobs": [MINIMAL_JOB, {"id": "x"}], "count": 2})
    with pytest.raises(ProtocolError, match="'jobs'"):
        JobList.from_json({"count": 0})
    assert JobList.from_json({"jobs": []}).count == 0


def test_job_created_requires_backend() -> None:
    with pytest.raises(ProtocolError, match="'backend'"):
        JobCreated.from_json({"id": "d1"})


def test_session_minimal_and_known_id() -> None:
    session = Session.from_json({"state": "active", "accepting_jobs": False}, session_id="s-1")
    assert session.id == "s-1"
    assert session.status_text == "In progress, not accepting new jobs"
    with pytest.raises(ProtocolError, match="'id'"):
        Session.from_json({"state": "open"})


def test_backend_entry_requires_spec_fields() -> None:
    with pytest.raises(ProtocolError, match=r"devices\[0\].*'status'"):
        BackendList.from_json({"devices": [{"name": "x", "queue_length": 0}]})
    entry = BackendListEntry.from_json(
        {"name": "m", "status": {"name": "online"}, "queue_length": -3, "class": "mock"}
    )
    assert entry.queue_length == 0 and entry.is_mock and entry.is_online


def test_backend_status_official_defaults() -> None:
    status = BackendStatus.from_json({"state": True, "status": "active"})
    assert (status.state, status.length_queue, status.backend_version) == (True, 0, "0.0.0")


def test_usage_from_empty_and_remaining() -> None:
    assert Usage.from_json({}).usage_remaining_seconds is None
    usage = Usage.from_json({"usage_consumed_seconds": 700, "usage_limit_seconds": 600})
    assert usage.usage_remaining_seconds == 0.0
    assert Usage(usage_consumed_seconds=100, usage_limit_seconds=600).usage_remaining_seconds == 500


def test_token_response_hides_tokens() -> None:
    token = TokenResponse.from_json({"access_token": "SECRET-A", "refresh_token": "SECRET-R"})
    assert "SECRET" not in repr(token)
    with pytest.raises(ProtocolError, match="access_token"):
        TokenResponse.from_json({"token_type": "Bearer"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24T13:36:45.320637Z", T0),
        ("2026-11-24T13:36:45.320637+00:00", T0),
        ("2026-11-24T13:36:45.3206370Z", T0),
        ("2026-11-24T14:36:45.320637+01:00", T0),
        ("2026-11-24T13:36:45", T0.replace(microsecond=0)),
        ("2026-11-24T13:36:45.3Z", T0.replace(microsecond=300000)),
    ],
)
def test_timestamps(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


def test_timestamp_format_round_trip() -> None:
    assert format_timestamp(T0) == "2026-11-24T13:36:45.320637Z"
    assert parse_timestamp(format_timestamp(T0.astimezone(timezone(timedelta(hours=5))))) == T0


FULL_MODELS: list[tuple[Callable[[Any], object], object]] = [
    (
        Job.from_json,
        Job(
            id="d1",
            status="Cancelled",
            backend="ibm_stub5",
            reason="RAN TOO LONG",
            reason_code=1305,
            reason_solution="shorter",
            program_id="sampler",
            created=T0,
            session_id="s-1",
            tags=("a", "b"),
            private=True,
            runtime="",
            cost=600,
            estimated_running_time_seconds=1.5,
            usage=JobUsage(qpu_charge_time_seconds=1.5, status="complete"),
            user_id="u",
            calibration_id="c",
        ),
    ),
    (JobCreated.from_json, JobCreated(id="d1", backend="b", session_id="s", private=True)),
    (
        JobMetrics.from_json,
        JobMetrics(
            created=T0,
            running=T0,
            finished=T0,
            usage=JobUsage(qpu_charge_time_seconds=2.0, status="pending"),
            circuits_execution_time_ns=5,
            caller="aioqruntime",
            qiskit_version="2.0",
        ),
    ),
    (
        lambda data: Session.from_json(data),
        Session(
            id="s-1",
            backend_name="ibm_stub5",
            mode="batch",
            state="active",
            state_reason="r",
            accepting_jobs=True,
            interactive_ttl=60,
            max_ttl=600,
            active_ttl=600,
            started_at=T0,
            activated_at=T0,
            closed_at=None,
            last_job_started=T0,
            last_job_completed=T0,
            elapsed_time=3.5,
            timestamps=(SessionTimestamp("open", T0), SessionTimestamp("active", T0)),
            user_id="u",
        ),
    ),
    (
        BackendList.from_json,
        BackendList(
            devices=(
                BackendListEntry(
                    name="ibm_stub5",
                    status_name="online",
                    queue_length=3,
                    status_reason="available",
                    qubits=5,
                    physical_qubits=5,
                    is_simulator=False,
                    device_class="mock",
                    processor_family="Heron",
                    processor_revision="2",
                    clops=1000.0,
                ),
            )
        ),
    ),
    (
        BackendStatus.from_json,
        BackendStatus(
            state=True, status="active", message="ok", length_queue=2, backend_version="1.0"
        ),
    ),
    (
        Usage.from_json,
        Usage(
            instance_id="crn",
            plan_id="p",
            usage_consumed_seconds=1.0,
            usage_limit_seconds=600.0,
            usage_allocation_seconds=600.0,
            usage_limit_reached=False,
            usage_period_start=T0,
            usage_period_end=T0,
        ),
    ),
    (
        TokenResponse.from_json,
        TokenResponse(access_token="a", expires_in=3600, expiration=5, refresh_token="r"),
    ),
]


@pytest.mark.parametrize(("parse", "model"), FULL_MODELS, ids=lambda x: type(x).__name__)
def test_to_json_round_trips(parse: Callable[[Any], object], model: Any) -> None:
    assert parse(model.to_json()) == model


def test_job_list_round_trip_and_params() -> None:
    job = Job(id="d1", status="Completed", backend="b", params={"pubs": []})
    listing = JobList(jobs=(job,), count=7, offset=0, limit=1)
    assert JobList.from_json(listing.to_json()) == listing
    assert "params" not in job.to_json()
    assert job.to_json(include_params=True)["params"] == {"pubs": []}


def test_job_to_json_wire_details() -> None:
    body = Job(id="d1", status="Cancelled", reason_code=1305).to_json()
    assert body["status"] == "Cancelled - Ran too long"
    assert body["state"] == {"status": "Cancelled", "reason": None, "reason_code": 1305}
    assert "private" not in body
