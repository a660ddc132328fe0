"""The client layer and the transport over ``MockTransport``: pure request/answer logic.

End-to-end behaviour (the real server over loopback) stays in tests/client and tests/reliability.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from aioqruntime import (
    AmbiguousSubmissionError,
    APIConnectionError,
    AuthenticationError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ServiceClosedError,
)
from aioqruntime.client import RuntimeClient
from aioqruntime.protocol import (
    CLIENT_APPLICATION,
    HttpRequest,
    HttpResponse,
    RetryPolicy,
    Secret,
    create_job,
)
from aioqruntime.transport import HttpTransport, MockHandler, MockTransport, Timeouts, Transport

API = "https://runtime.example/api/v1"
IAM = "https://iam.example"
NO_WAIT = RetryPolicy(max_attempts=3, initial=0.0, max_delay=0.0)


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(
        status, headers or {"Content-Type": "application/json"}, json.dumps(body).encode()
    )


def _job(job_id: str, status: str) -> dict[str, object]:
    return {"id": job_id, "backend": "b", "state": {"status": status}}


def _client(handler: MockHandler, **kwargs: Any) -> tuple[RuntimeClient, MockTransport]:
    mock = MockTransport(handler)
    transport = Transport(api_url=API, transport=mock, retry=NO_WAIT, **kwargs)
    return RuntimeClient(transport), mock


def test_mock_transport_is_an_http_transport() -> None:
    assert isinstance(MockTransport(lambda r: HttpResponse(204)), HttpTransport)


async def test_requests_carry_the_base_url_protocol_headers_and_parse_into_models() -> None:
    def handler(request: HttpRequest) -> HttpResponse:
        assert request.url() == f"{API}/backends"
        return _json(200, {"devices": [{"name": "ibm_x", "status": {"name": "online"}}]})

    client, mock = _client(handler, instance="crn:v1:x")
    backends = await client.backends.list()
    assert [entry.name for entry in backends.devices] == ["ibm_x"]
    (sent,) = mock.requests
    assert sent.headers["X-Qx-Client-Application"] == CLIENT_APPLICATION
    assert sent.headers["Service-CRN"] == "crn:v1:x"
    assert "IBM-API-Version" in sent.headers


async def test_jobs_resource_builds_and_parses_every_job_call() -> None:
    answers = {
        ("GET", "/jobs/j1"): _json(200, _job("j1", "Completed")),
        ("GET", "/jobs/j1/metrics"): _json(200, {"usage": {"quantum_seconds": 2}}),
        ("GET", "/jobs/j1/logs"): _json(404, {"errors": [{"code": "1291", "message": "no"}]}),
        ("GET", "/jobs/j1/results"): HttpResponse(200, {}, b'{"results": []}'),
        ("POST", "/jobs/j1/cancel"): HttpResponse(204),
        ("PUT", "/jobs/j1/tags"): HttpResponse(204),
    }
    client, mock = _client(lambda r: answers[(r.method, r.path)])
    job = await client.jobs.get("j1")
    assert (job.id, job.backend) == ("j1", "b")
    assert (await client.jobs.metrics("j1"))["usage"] == {"quantum_seconds": 2}
    assert await client.jobs.logs("j1") == ""  # 404: no log
    assert await client.jobs.results("j1") == '{"results": []}'
    await client.jobs.cancel("j1")
    await client.jobs.update_tags("j1", ["a", "a", "b"])
    assert json.loads(mock.requests[-1].body or b"") == {"tags": ["a", "b"]}
    assert ("exclude_params", "true") in mock.requests[0].query


async def test_job_list_filters_go_into_the_query() -> None:
    client, mock = _client(lambda r: _json(200, {"jobs": [], "count": 0}))
    page = await client.jobs.list(limit=5, pending=True, session_id="s1", tags=("t",))
    assert page.jobs == () and page.count == 0
    query = dict(mock.requests[0].query)
    assert query["limit"] == "5" and query["pending"] == "true" and query["session_id"] == "s1"


async def test_sessions_resource() -> None:
    def handler(request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            assert json.loads(request.body or b"")["mode"] == "batch"
            return _json(200, {"id": "s1", "mode": "batch"})
        if request.method == "GET":
            return _json(200, {"id": "s1", "mode": "batch", "backend_name": "b"})
        return HttpResponse(204)

    client, mock = _client(handler)
    assert (await client.sessions.create("batch", "b")).id == "s1"
    assert (await client.sessions.get("s1")).backend_name == "b"
    await client.sessions.close("s1")
    await client.sessions.cancel("s1")
    assert [r.method for r in mock.requests] == ["POST", "GET", "PATCH", "DELETE"]


async def test_a_submission_5xx_is_ambiguous_and_never_repeated() -> None:
    client, mock = _client(lambda r: _json(502, {"errors": [{"message": "gateway"}]}))
    with pytest.raises(AmbiguousSubmissionError) as caught:
        await client.jobs.create(create_job("{}"), tag="aioqruntime:t1")
    assert caught.value.job_tag == "aioqruntime:t1"
    assert isinstance(caught.value.__cause__, InternalServerError)
    assert len(mock.requests) == 1
    assert client.statistics()["ambiguous_submissions"] == 1


async def test_a_submission_dropped_after_sending_is_ambiguous() -> None:
    def handler(request: HttpRequest) -> HttpResponse:
        raise APIConnectionError("reset", request_sent=True)

    client, mock = _client(handler)
    with pytest.raises(AmbiguousSubmissionError):
        await client.jobs.create(create_job("{}"), tag=None)
    assert len(mock.requests) == 1


async def test_a_submission_refused_before_sending_is_retried_not_ambiguous() -> None:
    def handler(request: HttpRequest) -> HttpResponse:
        raise APIConnectionError("refused", request_sent=False)

    client, mock = _client(handler)
    with pytest.raises(APIConnectionError) as caught:
        await client.jobs.create(create_job("{}"), tag="aioqruntime:t")
    assert not isinstance(caught.value, AmbiguousSubmissionError)
    assert len(mock.requests) == NO_WAIT.max_attempts


async def test_a_submission_429_is_raised_at_once_with_the_submit_timeout() -> None:
    client, mock = _client(lambda r: _json(429, {"errors": []}, {"Retry-After": "0"}))
    client = client.with_options(timeouts=Timeouts(submit=12.5))
    with pytest.raises(RateLimitError):
        await client.jobs.create(create_job("{}"), tag="aioqruntime:t")
    (sent,) = mock.requests
    assert sent.timeout == 12.5


async def test_idempotent_reads_are_retried_and_counted() -> None:
    answers = iter([_json(503, {}), _json(200, _job("j", "Queued"))])
    client, _ = _client(lambda r: next(answers))
    assert (await client.jobs.get("j")).id == "j"
    stats = client.statistics()
    assert stats["retries"] == 1 and stats["retries.503"] == 1 and stats["requests"] == 2


async def test_with_options_shares_the_pool_and_leaves_closing_to_the_owner() -> None:
    client, mock = _client(lambda r: _json(404, {"errors": []}))
    copy = client.with_options(retry=RetryPolicy(max_attempts=1))
    with pytest.raises(NotFoundError):
        await copy.jobs.get("x")
    assert copy.transport.retry.max_attempts == 1 and client.transport.retry is NO_WAIT
    await copy.transport.aclose()
    assert not mock.closed  # the copy does not own the pool
    await client.transport.aclose()
    assert mock.closed and copy.transport.closed
    with pytest.raises(ServiceClosedError):
        await copy.jobs.get("x")


async def test_auth_exchanges_at_iam_and_retries_a_401_once_with_a_fresh_token() -> None:
    tokens = iter(["t1", "t2"])
    seen: list[str | None] = []

    def handler(request: HttpRequest) -> HttpResponse:
        if request.base_url == IAM:
            return _json(200, {"access_token": next(tokens), "expires_in": 3600})
        seen.append(request.headers.get("Authorization"))
        if len(seen) == 1:
            return _json(401, {"errors": [{"message": "expired"}]})
        return _json(200, {"instance": "crn", "usage_consumed_seconds": 1})

    client, mock = _client(handler, iam_url=IAM, api_key=Secret("key"))
    await client.usage.get()
    assert seen == ["Bearer t1", "Bearer t2"]
    exchanges = [r for r in mock.requests if r.base_url == IAM]
    assert [r.timeout for r in exchanges] == [Timeouts().iam] * 2  # Timeouts.iam bounds each
    assert client.statistics()["reauthentications"] == 1


async def test_a_second_401_is_raised_without_leaking_the_token() -> None:
    def handler(request: HttpRequest) -> HttpResponse:
        if request.base_url == IAM:
            return _json(200, {"access_token": "secret-token", "expires_in": 3600})
        return _json(401, {"errors": [{"message": "no"}]})

    client, _ = _client(handler, iam_url=IAM, api_key=Secret("key"))
    with pytest.raises(AuthenticationError) as caught:
        await client.jobs.get("j")
    assert "secret-token" not in str(caught.value) + repr(caught.value)


async def test_async_handlers_work_too() -> None:
    async def handler(request: HttpRequest) -> HttpResponse:
        return _json(200, _job("j", "Running"))

    client, _ = _client(handler)
    assert (await client.jobs.get("j")).status == "Running"
