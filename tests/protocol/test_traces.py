"""The models parse every recorded response, and the builders rebuild every recorded request."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from aioqruntime import protocol as p
from aioqruntime._exceptions import InternalServerError, NotFoundError

from ._traces import TracedRequest, traced_requests, unique_by

ALL = [r for r in traced_requests() if r.is_api]

_ID = r"[^/]+"
# (method, path pattern) -> the model a 2xx body of that endpoint parses into.
RESPONSE_MODELS: list[tuple[str, str, Callable[[Any], object]]] = [
    ("GET", r"/backends", p.BackendList.from_json),
    ("GET", rf"/backends/{_ID}/status", p.BackendStatus.from_json),
    ("POST", r"/sessions", p.Session.from_json),
    ("GET", rf"/sessions/{_ID}", lambda resp: p.Session.from_json(resp, session_id="known")),
    ("GET", r"/instances/usage", p.Usage.from_json),
    ("POST", r"/jobs", p.JobCreated.from_json),
    ("GET", r"/jobs", p.JobList.from_json),
    ("GET", rf"/jobs/{_ID}", p.Job.from_json),
    ("GET", rf"/jobs/{_ID}/metrics", p.JobMetrics.from_json),
]


def test_the_recordings_are_in_the_clone() -> None:
    """The vectors are read from the repository: a missing folder fails here instead of leaving
    every parametrized test below with nothing to run."""
    assert len({r.file for r in ALL}) >= 20
    assert len(ALL) >= 500


def _model_for(request: TracedRequest) -> Callable[[Any], object] | None:
    for method, pattern, parse in RESPONSE_MODELS:
        if request.method == method and re.fullmatch(pattern, request.path):
            return parse
    return None


_PARSEABLE = unique_by(
    [r for r in ALL if 200 <= r.status < 300 and r.resp is not None and _model_for(r)],
    key=lambda r: (
        r.method,
        re.sub(r"/(jobs|sessions)/[^/]+", r"/\1/X", r.path),
        json.dumps(r.resp, sort_keys=True)[:400],
    ),
)


@pytest.mark.parametrize("request_", _PARSEABLE, ids=lambda r: r.label)
def test_recorded_response_parses(request_: TracedRequest) -> None:
    parse = _model_for(request_)
    assert parse is not None
    model = parse(request_.resp)
    assert model.raw == request_.resp


def test_every_recorded_job_state_maps_to_a_status() -> None:
    jobs = [
        p.Job.from_json(r.resp) for r in ALL if _model_for(r) == p.Job.from_json and r.status == 200
    ]
    assert jobs
    seen = {job.job_status for job in jobs}
    assert seen <= set(p.JobStatus)
    assert {p.JobStatus.QUEUED, p.JobStatus.DONE} <= seen


def test_recorded_failed_job_outcome() -> None:
    failed = [
        p.Job.from_json(r.resp)
        for r in ALL
        if _model_for(r) == p.Job.from_json
        and r.status == 200
        and r.resp["state"]["status"] == "Failed"
    ]
    assert failed
    job = failed[0]
    error = p.job_outcome(job.id, job.status, job.reason, job.reason_code)
    assert error is not None
    assert "Error code 1517; Simulated failure" in str(error)


def test_recorded_error_bodies_map_to_typed_errors() -> None:
    errors = [r for r in ALL if r.status >= 400]
    assert errors
    for request in errors:
        error = p.error_for_response(
            request.status, json.dumps(request.resp), {}, method=request.method, url=request.path
        )
        expected = NotFoundError if request.status == 404 else InternalServerError
        assert type(error) is expected
        assert error.server_message and error.server_message in str(error)


# --- builders ---------------------------------------------------------------------------------


def _list_jobs_kwargs(query: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"exclude_params": False, "tags": []}
    for key, value in query:
        if key == "exclude_params":
            kwargs["exclude_params"] = value == "true"
        elif key in ("limit", "offset"):
            kwargs[key] = int(value)
        elif key == "pending":
            kwargs["pending"] = value == "true"
        elif key == "tags":
            kwargs["tags"].append(value)
        elif key == "sort":
            kwargs["descending"] = value != "ASC"
        elif key == "include_mocks":
            kwargs["include_mocks"] = value == "True"
        else:
            kwargs[key] = value
    return kwargs


def _rebuild(r: TracedRequest) -> p.HttpRequest:
    """The request our builders make for what the official client did."""
    segments = r.path.strip("/").split("/")
    q = dict(r.query)
    match r.method, segments:
        case "GET", ["backends"]:
            return p.list_backends(include_mocks=q.get("include_mocks") == "True")
        case "GET", ["backends", name, "configuration"]:
            return p.backend_configuration(name, calibration_id=q.get("calibration_id"))
        case "GET", ["backends", name, "properties"]:
            return p.backend_properties(name, updated_before=q.get("updated_before"))
        case "GET", ["backends", name, "status"]:
            return p.backend_status(name)
        case "POST", ["sessions"]:
            return p.create_session(**r.body)
        case "GET", ["sessions", session_id]:
            return p.get_session(session_id)
        case "PATCH", ["sessions", session_id]:
            return p.close_session(session_id)
        case "DELETE", ["sessions", session_id, "close"]:
            return p.cancel_session(session_id)
        case "GET", ["instances", "usage"]:
            return p.instance_usage()
        case "POST", ["jobs"]:
            return p.create_job(json.dumps(r.body))
        case "GET", ["jobs"]:
            return p.list_jobs(**_list_jobs_kwargs(r.query))
        case "GET", ["jobs", job_id]:
            return p.get_job(job_id, exclude_params=q.get("exclude_params") == "true")
        case "POST", ["jobs", job_id, "cancel"]:
            return p.cancel_job(job_id)
        case "GET", ["jobs", job_id, "results"]:
            return p.job_results(job_id)
        case "GET", ["jobs", job_id, "metrics"]:
            return p.job_metrics(job_id)
    raise AssertionError(f"no builder for {r.label}")


_BUILDABLE = unique_by(
    ALL,
    key=lambda r: (
        r.method,
        re.sub(r"/(jobs|sessions|backends)/[^/]+", r"/\1/X", r.path),
        r.query if r.path == "/jobs" else (),
    ),
)


@pytest.mark.parametrize("request_", _BUILDABLE, ids=lambda r: r.label)
def test_builder_matches_recorded_request(request_: TracedRequest) -> None:
    built = _rebuild(request_)
    assert built.method == request_.method
    assert built.path == request_.path
    assert built.query == request_.query
    if (
        request_.body is not None and request_.method in ("PATCH",)
    ) or request_.path == "/sessions":
        assert built.body is not None
        assert json.loads(built.body) == request_.body


def test_create_session_bodies_of_the_session_flows() -> None:
    bodies = [r.body for r in ALL if r.method == "POST" and r.path == "/sessions"]
    assert {"mode": "dedicated", "backend": "ibm_stub5"}.items() <= bodies[0].items()
    for body in bodies:
        built = p.create_session(
            body["mode"],
            body["backend"],
            instance=body.get("instance"),
            max_ttl=body.get("max_ttl"),
        )
        assert json.loads(built.body or b"") == body
