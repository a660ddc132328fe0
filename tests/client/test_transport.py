"""The transport over loopback: retries, Retry-After, ambiguous POST /jobs, typed errors, IAM."""

from __future__ import annotations

import socket
import time

import anyio
import pytest

from aioqruntime import (
    AmbiguousSubmissionError,
    APIConnectionError,
    APIStatusError,
    AsyncSampler,
    InternalServerError,
    NotFoundError,
    RateLimitError,
)
from aioqruntime.client import RuntimeClient
from aioqruntime.protocol import Secret, create_job, get_job, list_backends
from aioqruntime.server import FaultRule, LocalRuntimeServer, ServerConfig
from aioqruntime.transport import IamAuth, Transport
from aioqruntime.transport._auth import _Token
from tests.client._helpers import FAST_RETRY, api_requests, local_service, x_pattern


async def test_idempotent_requests_retry_5xx_and_429_with_retry_after() -> None:
    faults = (
        FaultRule(
            path="/jobs*", method="GET", statuses=((502, 0.3), (429, 0.2)), retry_after=0.001
        ),
    )
    async with local_service(faults=faults, fault_seed=7) as (server, service):
        backend = await service.backend("ibm_local5")
        jobs = [await AsyncSampler(backend).run([x_pattern(1, 1, 5)], shots=1) for _ in range(5)]
        for job in jobs:
            assert (await job)[0].data.c.get_counts() == {"1": 1}
        counts = server.fault_counts
        assert counts.get("502", 0) > 0
        assert counts.get("429", 0) > 0


async def test_post_jobs_5xx_is_ambiguous_at_the_client_layer_and_reconciled_above() -> None:
    faults = (FaultRule(path="/jobs", method="POST", statuses=((500, 1.0),)),)
    async with local_service(faults=faults) as (server, service):
        # The client layer alone: one attempt, AmbiguousSubmissionError carrying the tag.
        with pytest.raises(AmbiguousSubmissionError) as caught:
            await service.client.jobs.create(create_job("{}"), tag="aioqruntime:t1")
        assert caught.value.job_tag == "aioqruntime:t1"
        assert caught.value.__cause__ is not None
        assert len(api_requests(server, "POST", "/jobs")) == 1
        # A run(): every attempt is followed by a tag lookup; confirmed absent each time, so
        # the last error is definite (typed by its status) and no job exists.
        backend = await service.backend("ibm_local5")
        with pytest.raises(InternalServerError) as failed:
            await AsyncSampler(backend).run([x_pattern(1, 1, 5)])
        assert not isinstance(failed.value, AmbiguousSubmissionError)
        assert len(api_requests(server, "POST", "/jobs")) == 1 + FAST_RETRY.max_attempts
        lookups = [r for r in api_requests(server, "GET", "/jobs") if "tags=" in r.query]
        assert len(lookups) == FAST_RETRY.max_attempts
        assert sum(server.counts().values()) == 0
        stats = service.statistics()
        assert stats["resubmitted"] == FAST_RETRY.max_attempts - 1
        assert stats["rejected"] == 1


async def test_post_jobs_dropped_connection_is_reconciled_not_blindly_retried() -> None:
    faults = (FaultRule(path="/jobs", method="POST", drop=1.0),)
    async with local_service(faults=faults) as (server, service):
        # One POST at the client layer: the connection dropped after the body was sent.
        with pytest.raises(AmbiguousSubmissionError) as ambiguous:
            await service.client.jobs.create(create_job("{}"), tag="aioqruntime:t2")
        cause = ambiguous.value.__cause__
        assert isinstance(cause, APIConnectionError) and cause.request_sent is True
        backend = await service.backend("ibm_local5")
        with pytest.raises(APIConnectionError) as caught:
            await AsyncSampler(backend).run([x_pattern(1, 1, 5)])
        assert not isinstance(caught.value, AmbiguousSubmissionError)
        assert server.fault_counts.get("drop") == 1 + FAST_RETRY.max_attempts
        assert sum(server.counts().values()) == 0


async def test_post_jobs_429_is_retried_then_typed() -> None:
    faults = (FaultRule(path="/jobs", method="POST", statuses=((429, 1.0),), retry_after=0.001),)
    async with local_service(faults=faults) as (server, service):
        backend = await service.backend("ibm_local5")
        with pytest.raises(RateLimitError) as caught:
            await AsyncSampler(backend).run([x_pattern(1, 1, 5)])
        assert caught.value.status == 429
        assert len(api_requests(server, "POST", "/jobs")) == FAST_RETRY.max_attempts


async def test_connection_refused_post_is_retried_not_ambiguous() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on that port any more: every attempt is refused before sending.
    async with Transport(
        api_url=f"http://127.0.0.1:{port}/api/v1",
        iam_url=None,
        api_key=None,
        instance=None,
        retry=FAST_RETRY,
    ) as transport:
        with pytest.raises(APIConnectionError) as caught:
            await RuntimeClient(transport).jobs.create(
                create_job('{"program_id": "sampler"}'), tag="t"
            )
        assert not isinstance(caught.value, AmbiguousSubmissionError)
        assert caught.value.request_sent is False  # the error says it never left
        assert transport.requests_sent == FAST_RETRY.max_attempts


async def test_status_errors_carry_the_server_message_and_no_secret() -> None:
    async with local_service() as (server, service):
        with pytest.raises(NotFoundError) as caught:
            await service.job("nosuchjob")
        error = caught.value
        assert error.status == 404
        assert error.server_message
        assert error.code
        for text in (str(error), repr(error), repr(service), repr(service.transport.auth)):
            assert server.token not in text


async def test_token_exchange_is_single_flight() -> None:
    async with (
        LocalRuntimeServer(config=ServerConfig(workers=0)) as server,
        Transport(
            api_url=server.api_url,
            iam_url=server.url,
            api_key=Secret(server.token),
            instance=server.instance,
        ) as transport,
    ):
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(transport.send, list_backends())
        assert len(api_requests(server, "POST", "/identity/token")) == 1
        # A clock past 80 % of every token's lifetime: each token is due at once, yet
        # concurrent callers share one exchange.
        auth = IamAuth(
            Secret(server.token), transport._send_iam, wall_clock=lambda: time.time() + 1e6
        )
        transport.auth = auth
        await transport.send(list_backends())
        assert auth.exchanges == 1
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(transport.send, list_backends())
        assert auth.exchanges == 2
        assert len(api_requests(server, "POST", "/identity/token")) == 3


async def test_rejected_token_is_exchanged_again_once() -> None:
    async with LocalRuntimeServer(config=ServerConfig(workers=0)) as server:
        async with Transport(
            api_url=server.api_url,
            iam_url=server.url,
            api_key=Secret(server.token),
            instance=server.instance,
        ) as transport:
            assert transport.auth is not None
            expired = server.issue_token(lifetime=-60)
            transport.auth._token = _Token(Secret(expired), refresh_after=float("inf"))
            response = await transport.send(list_backends())
            assert response.status == 200
            assert [r.status for r in api_requests(server, "GET", "/backends")] == [401, 200]
            assert transport.auth.exchanges == 1
        async with Transport(
            api_url=server.api_url,
            iam_url=server.url,
            api_key=Secret("not-the-key"),
            instance=server.instance,
            retry=FAST_RETRY,
        ) as transport:
            # IAM refuses an unknown key with 400 BXNIM0415E, as IBM's does.
            with pytest.raises(APIStatusError) as caught:
                await transport.send(get_job("x"))
            assert caught.value.code == "BXNIM0415E"
            assert "not-the-key" not in str(caught.value)


async def test_an_api_key_iam_refuses_is_an_authentication_error() -> None:
    # IAM answers an unknown key with 400 BXNIM0415E; to a caller it is bad credentials.
    from aioqruntime import AsyncRuntimeService, AuthenticationError
    from aioqruntime.server import LocalRuntimeServer

    async with LocalRuntimeServer() as server:
        service = AsyncRuntimeService(
            token="not-the-key", instance=server.instance, url=server.api_url
        )
        with pytest.raises(AuthenticationError) as caught:
            async with service:
                await service.backends()
    assert caught.value.status == 400
    assert caught.value.code == "BXNIM0415E"
    assert "not-the-key" not in str(caught.value)
