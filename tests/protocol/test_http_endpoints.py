"""HttpRequest/HttpResponse and the request builders."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import pytest

from aioqruntime._exceptions import InvalidInputError, ProtocolError
from aioqruntime.protocol import (
    API_VERSION,
    HttpRequest,
    HttpResponse,
    Secret,
    backend_configuration,
    backend_properties,
    cancel_job,
    cancel_session,
    close_session,
    create_job,
    create_session,
    default_headers,
    delete_job,
    get_job,
    iam_token_request,
    job_logs,
    job_results,
    json_body,
    list_backends,
    list_jobs,
    update_job_tags,
)


def test_list_jobs_renders_every_filter_in_official_order() -> None:
    request = list_jobs(
        limit=20,
        offset=40,
        backend="ibm_x",
        pending=True,
        program="sampler",
        tags=["a", "b"],
        session_id="s-1",
        created_after=datetime(2026, 1, 1, tzinfo=timezone.utc),
        created_before="2026-02-01T00:00:00+00:00",
        descending=False,
        include_mocks=True,
    )
    assert request.method == "GET" and request.path == "/jobs"
    assert request.query == (
        ("exclude_params", "true"),
        ("limit", "20"),
        ("offset", "40"),
        ("backend", "ibm_x"),
        ("pending", "true"),
        ("program", "sampler"),
        ("tags", "a"),
        ("tags", "b"),
        ("session_id", "s-1"),
        ("created_after", "2026-01-01T00:00:00+00:00"),
        ("created_before", "2026-02-01T00:00:00+00:00"),
        ("sort", "ASC"),
        ("include_mocks", "True"),
    )
    assert request.target.startswith("/jobs?exclude_params=true&limit=20&offset=40")
    assert parse_qsl(request.query_string) == list(request.query)


def test_list_jobs_defaults() -> None:
    assert list_jobs().query == (("exclude_params", "true"),)
    assert list_jobs(pending=False, limit=10).query == (
        ("exclude_params", "true"),
        ("limit", "10"),
        ("pending", "false"),
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"limit": 0}, {"limit": 201}, {"limit": True}, {"offset": -1}, {"tags": "ab"}],
)
def test_list_jobs_rejects(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        list_jobs(**kwargs)  # type: ignore[arg-type]


def test_path_segments_are_percent_encoded() -> None:
    assert get_job("a/b c").path == "/jobs/a%2Fb%20c"
    assert backend_configuration("x?y").path == "/backends/x%3Fy/configuration"
    with pytest.raises(InvalidInputError, match="job id"):
        get_job("")


def test_misc_builders() -> None:
    assert list_backends().query == ()
    assert list_backends(include_mocks=True).query == (("include_mocks", "True"),)
    assert backend_configuration("b", calibration_id="c").query == (("calibration_id", "c"),)
    updated = backend_properties("b", updated_before=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert updated.query == (("updated_before", "2026-01-01T00:00:00+00:00"),)
    assert get_job("j", exclude_params=False).query == ()
    assert cancel_job("j").method == "POST" and cancel_job("j").body is None
    assert delete_job("j").method == "DELETE"
    assert cancel_session("s").path == "/sessions/s/close"
    assert "Accept" not in job_results("j").headers and "Accept" not in job_logs("j").headers


def test_session_bodies() -> None:
    assert json.loads(create_session("batch", "b").body or b"") == {"mode": "batch", "backend": "b"}
    full = create_session("dedicated", "b", instance="crn", max_ttl=600)
    assert json.loads(full.body or b"") == {
        "mode": "dedicated",
        "backend": "b",
        "instance": "crn",
        "max_ttl": 600,
    }
    assert full.headers["Content-Type"] == "application/json"
    with pytest.raises(InvalidInputError):
        create_session("interactive", "b")
    assert close_session("s").method == "PATCH"
    assert json.loads(close_session("s").body or b"") == {"accepting_jobs": False}


def test_create_job_keeps_body_bytes() -> None:
    text = '{"program_id":"sampler","params":{"x":NaN}}'
    request = create_job(text)
    assert request.body == text.encode() and not request.idempotent
    assert create_job(text.encode()).body == text.encode()
    with pytest.raises(InvalidInputError):
        create_job(" ")


def test_update_tags_dedupes_and_validates() -> None:
    request = update_job_tags("j", ["a", "b", "a"])
    assert (request.method, request.path) == ("PUT", "/jobs/j/tags")
    assert json.loads(request.body or b"") == {"tags": ["a", "b"]}
    for bad in (["x" * 87], [""], [str(i) for i in range(9)], "abc"):
        with pytest.raises(InvalidInputError):
            update_job_tags("j", bad)


def test_iam_request_hides_key() -> None:
    request = iam_token_request(Secret("my-api-key"))
    assert (request.method, request.path) == ("POST", "/identity/token")
    assert parse_qsl((request.body or b"").decode()) == [
        ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
        ("apikey", "my-api-key"),
        ("response_type", "cloud_iam"),
    ]
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "my-api-key" not in repr(request)
    assert iam_token_request("k2").body is not None
    with pytest.raises(InvalidInputError):
        iam_token_request("")


def test_default_headers() -> None:
    headers = default_headers()
    assert headers["IBM-API-Version"] == API_VERSION == "2026-04-15"
    assert headers["X-Qx-Client-Application"].startswith("qiskit-version-2/aioqruntime-")
    assert headers["Accept"] == "application/json"
    assert default_headers(client_app="x")["X-Qx-Client-Application"] == "x"


@pytest.mark.parametrize(
    ("method", "idempotent"),
    [("GET", True), ("put", True), ("DELETE", True), ("POST", False), ("PATCH", False)],
)
def test_idempotent(method: str, idempotent: bool) -> None:
    assert HttpRequest(method, "/x").idempotent is idempotent


def test_request_repr_and_headers() -> None:
    request = HttpRequest("GET", "/x", headers={"Authorization": "Bearer tok", "A": "1"})
    assert "tok" not in repr(request)
    merged = request.with_headers({"authorization": "Bearer new", "B": "2"})
    assert dict(merged.headers) == {"A": "1", "authorization": "Bearer new", "B": "2"}
    assert request.url("http://h/api/v1/") == "http://h/api/v1/x"
    assert HttpRequest("GET", "/x", (("a", "1"),)).url("http://h") == "http://h/x?a=1"


def test_response() -> None:
    response = HttpResponse(200, {"Content-Type": "application/json"}, b'{"a": 1}')
    assert response.json() == {"a": 1} and response.is_success
    assert response.header("content-type") == "application/json"
    assert HttpResponse(204).text() == ""
    with pytest.raises(ProtocolError, match="JSON"):
        HttpResponse(200, {}, b"<html>").json()
    assert not HttpResponse(404).is_success


def test_json_body_is_compact_and_refuses_nan() -> None:
    assert json_body({"a": [1, 2]}) == b'{"a":[1,2]}'
    with pytest.raises(ValueError):
        json_body({"a": float("nan")})
