"""Hand-written hostile requests: always a 4xx ``ErrorContainer``, never a 5xx or a stack trace."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aioqruntime.server import LocalRuntimeServer
from tests.security.conftest import assert_error_container, raw_request
from tests.server.conftest import Api

LONG = "a" * 20_000

# (method, path, body, extra headers)
CASES: list[tuple[str, str, Any, dict[str, str]]] = [
    ("POST", "/jobs", b"{bad", {"Content-Type": "application/json"}),
    ("POST", "/jobs", b"hello", {"Content-Type": "text/plain"}),
    ("POST", "/jobs", b"\xff\xfe\x00", {"Content-Type": "application/json"}),
    ("POST", "/jobs", b"[" * 100_000, {"Content-Type": "application/json"}),
    ("POST", "/jobs", b"", {"Content-Type": "application/json"}),
    ("POST", "/jobs", b"null", {"Content-Type": "application/json"}),
    ("POST", "/jobs", b'"a string"', {"Content-Type": "application/json"}),
    ("POST", "/jobs", b'{"program_id": 1e999999}', {"Content-Type": "application/json"}),
    ("POST", "/jobs", b'{"program_id": "sampler", "backend": ["x"]}', {}),
    ("POST", "/jobs", b'{"program_id": {"a": 1}, "backend": "ibm_local5"}', {}),
    ("POST", "/jobs", b'{"program_id": "sampler", "backend": "ibm_local5", "params": []}', {}),
    (
        "POST",
        "/jobs",
        b'{"program_id": "sampler", "backend": "ibm_local5", "session_id": "\\ud800",'
        b' "params": {}}',
        {},
    ),
    (
        "POST",
        "/jobs",
        b'{"program_id": "sampler", "backend": "ibm_local5", "tags": ["\\ud800\\u0000"],'
        b' "params": {"pubs": [[{"__type__": "QuantumCircuit", "__value__": "AAAA"}]]}}',
        {},
    ),
    ("POST", "/sessions", b'{"mode": "batch", "max_ttl": 1e400}', {}),
    ("POST", "/sessions", b'{"mode": ["batch"]}', {}),
    ("POST", "/sessions", b'{"mode": "batch", "backend": {"a": 1}}', {}),
    ("POST", "/sessions", b'{"mode": "batch", "max_ttl": -5}', {}),
    ("PATCH", "/sessions/nope", b"null", {}),
    ("PUT", "/jobs/nope/tags", b"null", {}),
    ("GET", "/jobs/..%2F..%2Fetc%2Fpasswd", None, {}),
    ("GET", "/jobs/%2e%2e", None, {}),
    ("GET", "/jobs/%00", None, {}),
    ("GET", "/jobs/%ff%fe", None, {}),
    ("GET", "/jobs/\u00e9\u4e2d\U0001f600", None, {}),
    ("GET", "/jobs/" + "b" * 5000, None, {}),
    ("DELETE", "/jobs/" + "b" * 5000, None, {}),
    ("GET", "/sessions/..%2F..", None, {}),
    ("GET", "/backends/%ff/configuration", None, {}),
    ("GET", "/backends/..%2F..%2Fjobs/status", None, {}),
    ("GET", "/jobs?created_after=%00", None, {}),
    ("GET", "/jobs?created_before=" + "9" * 5000, None, {}),
    ("GET", "/jobs?sort=%ff", None, {}),
    ("GET", "/jobs?pending=maybe", None, {}),
    ("GET", "/jobs/x?exclude_params=%00", None, {}),
    ("DELETE", "/jobs", None, {}),
    ("GET", "/nope", None, {}),
    ("GET", "/jobs", None, {"Service-CRN": "x" * 600}),
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), CASES)
async def test_malformed_request_gets_a_4xx_error_container(
    api: Api, server: LocalRuntimeServer, method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    response = await api.request(method, path, data=body, headers=headers)
    assert_error_container(response.status, await response.read(), secrets=(api.token,))
    assert not [r for r in server.request_log if r.status >= 500]


@pytest.mark.parametrize(
    "query",
    [
        "limit=-1&offset=-5",
        "limit=0",
        "limit=99999999999999999999999&offset=99999999999999999999999999",
        "limit=abc&offset=1.5",
        "tags=" + LONG[:7000],
        "backend=" + LONG[:7000] + "&program=%00",
    ],
)
async def test_odd_list_queries_fall_back_or_filter(api: Api, query: str) -> None:
    # The service documents out-of-range limit/offset falling back to defaults; never a 5xx.
    document = await api.json("GET", "/jobs?" + query)
    assert document["jobs"] == []
    assert 1 <= document["limit"] <= 200
    assert document["offset"] >= 0


async def test_identity_token_refuses_broken_forms_without_a_500(
    api: Api, server: LocalRuntimeServer
) -> None:
    for content_type, body in [
        ("multipart/form-data; boundary=zz", b"--zz\r\nbroken"),
        ("application/x-www-form-urlencoded", b"%%%%"),
        ("application/json", b'{"apikey": "x"}'),
        ("text/plain", b"\xff"),
    ]:
        response = await api.http.post(
            server.url + "/identity/token", data=body, headers={"Content-Type": content_type}
        )
        text = await response.text()
        assert response.status == 400, text
        assert json.loads(text)["errorCode"] == "BXNIM0109E"  # IAM's own error shape
    assert not [r for r in server.request_log if r.status >= 500]


async def test_admin_routes_refuse_wrong_types(api: Api, server: LocalRuntimeServer) -> None:
    headers = api.headers()
    for path, body in [
        ("/_local/pause", {"backend": ["ibm_local5"]}),
        ("/_local/resume", {"backend": {"a": 1}}),
        ("/_local/fail_next_job", {"backend": 5}),
        ("/_local/fail_next_job", {"backend": "ibm_local5", "reason_code": 1e300}),
        ("/_local/pause", [1, 2]),
    ]:
        response = await api.http.post(server.url + path, json=body, headers=headers)
        assert_error_container(response.status, await response.read())


def _request(line: str, *headers: bytes, body: bytes = b"") -> bytes:
    return (
        line.encode()
        + b"\r\nHost: 127.0.0.1\r\n"
        + b"".join(h + b"\r\n" for h in headers)
        + b"Connection: close\r\n\r\n"
        + body
    )


async def test_protocol_level_refusals_are_error_containers(
    api: Api, server: LocalRuntimeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    auth = f"Authorization: Bearer {api.token}".encode()
    for data in [
        _request("GET /api/v1/jobs/" + "a" * 20_000 + " HTTP/1.1", auth),
        _request("GET /api/v1/jobs?tags=" + "x" * 20_000 + " HTTP/1.1", auth),
        # A huge header that starts with a real credential: it must not be echoed nor logged.
        _request("GET /api/v1/jobs HTTP/1.1", auth + b"x" * 20_000),
        _request("GET /api/v1/jobs HTTP/1.1", b"X-Junk: " + b"y" * 20_000, auth),
        _request("GET /api/v1/jobs HTTP/1.1", auth, b"Bad Header Without Colon"),
        b"NOT-HTTP\r\n\r\n",
    ]:
        status, headers, body = await raw_request(server, data)
        assert headers["content-type"].startswith("application/json")
        assert_error_container(status, body, secrets=(api.token, "xxxxxxxx", "yyyyyyyy"))
    assert api.token not in caplog.text
    assert api.token[:40] not in caplog.text


async def test_non_utf8_service_crn_is_refused_and_the_server_keeps_working(
    api: Api, server: LocalRuntimeServer
) -> None:
    # Before the fix: the bytes reached SQLite as lone surrogates, killed the writer thread, and
    # every later write (job, session) hung forever.
    body = json.dumps({"mode": "batch"}).encode()
    data = _request(
        "POST /api/v1/sessions HTTP/1.1",
        f"Authorization: Bearer {api.token}".encode(),
        b"Service-CRN: \xff\xfe\x80",
        b"Content-Type: application/json",
        f"Content-Length: {len(body)}".encode(),
        body=body,
    )
    status, _, answer = await raw_request(server, data)
    document = assert_error_container(status, answer)
    assert "Service-CRN" in document["errors"][0]["message"]
    for crn in [b"crn\x01control", "crn\u2028sep".encode(), b"c" * 600]:
        status, _, answer = await raw_request(
            server,
            _request(
                "GET /api/v1/jobs HTTP/1.1",
                f"Authorization: Bearer {api.token}".encode(),
                b"Service-CRN: " + crn,
            ),
        )
        assert_error_container(status, answer)
    await api.json("POST", "/sessions", json={"mode": "batch"})  # still writes
