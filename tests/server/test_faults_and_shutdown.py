"""Fault injection that must not lose requests, lost answers, Retry-After, prompt shutdown, noise.

Nothing here sleeps to wait for a state: tests await the server's hooks (held requests, events).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp.test_utils import make_mocked_request

from aioqruntime import AsyncRuntimeService, AsyncSampler
from aioqruntime.codec import loads
from aioqruntime.protocol import RetryPolicy
from aioqruntime.server import LocalRuntimeServer, ServerConfig, SimulationPool, parse_fault_spec
from aioqruntime.server._app import _Dropped, errors
from aioqruntime.server._faults import FaultInjector, retry_after_header
from aioqruntime.transport import Timeouts, TransportConfig
from tests.server.conftest import Api, bell, exchange, sampler_body

SERVER_LOGGER = "aioqruntime.server"


def _config(spec: str, **changes: Any) -> ServerConfig:
    return ServerConfig(faults=parse_fault_spec(spec), **changes)


def _server_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == SERVER_LOGGER and r.levelno >= logging.WARNING]


# -- latency does not lose the request ---------------------------------------------------------


@pytest.mark.parametrize("config", [_config("POST /jobs:latency=1")])
async def test_client_leaving_during_latency_does_not_lose_the_job(
    server: LocalRuntimeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=SERVER_LOGGER)
    async with aiohttp.ClientSession() as http:
        token = await exchange(http, server)
        headers = {"Authorization": f"Bearer {token}", "Service-CRN": server.instance}
        post = asyncio.ensure_future(
            http.post(server.api_url + "/jobs", json=sampler_body(tags=["held"]), headers=headers)
        )
        with anyio.fail_after(30):
            await server.wait_for_held_requests(1)
        post.cancel()  # the client gives up while the request is held
        with pytest.raises(asyncio.CancelledError):
            await post
    # The session is closed too: nobody is left to read an answer. The job is still created.
    with anyio.fail_after(30):
        await server.wait_for_event("job_queued")
    (job_id,) = [j.id for j in server._ctx.store.jobs.values()]
    assert server.job(job_id).tags == ["held"]
    assert server.fault_counts == {"latency": 1}
    assert _server_errors(caplog) == []


async def test_a_client_disconnect_is_logged_at_debug_not_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=SERVER_LOGGER)
    request = make_mocked_request("POST", "/api/v1/jobs")

    async def handler(_: Any) -> Any:
        raise ConnectionResetError("Connection lost")

    with pytest.raises(_Dropped):
        await errors(request, handler)
    (record,) = [r for r in caplog.records if r.name == SERVER_LOGGER]
    assert record.levelno == logging.DEBUG and "client disconnected" in record.getMessage()
    assert record.exc_info is None


# -- drop_after: the answer is lost, the job exists ----------------------------------------------


@pytest.mark.parametrize("config", [_config("POST /jobs:drop_after=1")])
async def test_drop_after_runs_the_handler_and_loses_the_answer(
    api: Api, server: LocalRuntimeServer
) -> None:
    with pytest.raises(aiohttp.ClientError):
        await api.request("POST", "/jobs", json=sampler_body(tags=["lost-answer"]))
    # The client got no answer, yet the job exists, durable, and runs.
    listed = await api.json("GET", "/jobs", params={"tags": "lost-answer"})
    (entry,) = listed["jobs"]
    job = await server.wait_for_job_state(entry["id"])
    assert job.status.value == "Completed"
    assert server.fault_counts == {"drop_after": 1}
    (post,) = [r for r in server.request_log if (r.method, r.path) == ("POST", "/api/v1/jobs")]
    assert post.status == 599
    # Other routes are untouched by the rule.
    assert (await api.request("GET", f"/jobs/{job.id}")).status == 200


@pytest.mark.parametrize("config", [_config("POST /jobs:drop_after=1")])
async def test_drop_after_of_a_refused_request_creates_nothing(
    api: Api, server: LocalRuntimeServer
) -> None:
    with pytest.raises(aiohttp.ClientError):
        await api.request("POST", "/jobs", json={"program_id": "sampler"})
    assert server.counts() == {}


async def test_exactly_once_client_against_lost_answers(
    pool: SimulationPool, caplog: pytest.LogCaptureFixture
) -> None:
    """The client's submission flow adopts the job whose answer the server dropped."""
    config = _config("POST /jobs:drop_after=1")
    retry = RetryPolicy(max_attempts=4, initial=0.001, max_delay=0.005, max_retry_after=0.01)
    transport = TransportConfig(timeouts=Timeouts(submit_grace=0.05))
    async with (
        LocalRuntimeServer(config=config, pool=pool) as server,
        AsyncRuntimeService(
            token=server.token,
            instance=server.instance,
            url=server.api_url,
            retry=retry,
            transport_config=transport,
            submissions_per_minute=None,
        ) as service,
    ):
        backend = await service.backend("ibm_local5")
        with anyio.fail_after(60):
            job = await AsyncSampler(backend).run([bell()], shots=10)
            result = await job
        assert sum(result[0].data.meas.get_counts().values()) == 10
        assert server.counts() == {"Completed": 1}
        assert (
            len([r for r in server.request_log if r.path.endswith("/jobs") and r.method == "POST"])
            == 1
        )
        assert server.fault_counts == {"drop_after": 1}
        assert service.statistics()["resubmitted"] == 0
    assert _server_errors(caplog) == []


def test_drop_after_spec() -> None:
    (rule,) = parse_fault_spec("POST /jobs:drop_after=0.25,drop=0.25,500=0.5")
    assert (rule.drop_after, rule.drop, rule.statuses) == (0.25, 0.25, ((500, 0.5),))
    for bad in [
        "POST /jobs:drop_after=0.6,drop=0.5",
        "POST /jobs:drop_after=1.5",
        "POST /jobs:drop_after=-0.1",
        "POST /jobs:latency=inf",
        "POST /jobs:latency=nan",
    ]:
        with pytest.raises(ValueError):
            parse_fault_spec(bad)


def test_drop_after_does_not_change_the_draws_of_other_rules() -> None:
    """Adding the action keeps the replays of specs that do not use it (one draw per request)."""
    plain = FaultInjector(parse_fault_spec("/jobs:drop=0.2,500=0.3"), seed=3)
    same = FaultInjector(parse_fault_spec("/jobs:drop=0.2,drop_after=0,500=0.3"), seed=3)
    for _ in range(200):
        assert plain.decide("GET", "/jobs") == same.decide("GET", "/jobs")
    mixed = FaultInjector(parse_fault_spec("/jobs:drop=0.2,drop_after=0.3,500=0.3"), seed=3)
    for _ in range(300):
        mixed.decide("POST", "/jobs")
    assert {"drop", "drop_after", "500"} <= set(mixed.counts)


# -- Retry-After -----------------------------------------------------------------------------


def test_retry_after_header_is_whole_seconds_rounded_up_and_at_least_one() -> None:
    assert [retry_after_header(s) for s in (0, 0.001, 0.2, 1, 1.0, 1.2, 2.4, 3)] == [
        "1",
        "1",
        "1",
        "1",
        "1",
        "2",
        "3",
        "3",
    ]


@pytest.mark.parametrize(
    ("spec", "header"),
    [
        ("GET /backends:429=1,retry_after=0.2", "1"),
        ("GET /backends:503=1,retry_after=2.4", "3"),
        ("GET /backends:429=1", "1"),
    ],
)
async def test_injected_retry_after(pool: SimulationPool, spec: str, header: str) -> None:
    async with (
        LocalRuntimeServer(config=_config(spec), pool=pool) as server,
        aiohttp.ClientSession() as http,
    ):
        api = Api(http, server, await exchange(http, server))
        response = await api.request("GET", "/backends")
        assert response.status in (429, 503)
        assert response.headers["Retry-After"] == header


# -- shutdown ----------------------------------------------------------------------------------


@pytest.mark.parametrize("client_stays", [True, False])
async def test_shutdown_cancels_a_request_held_by_a_long_latency(
    pool: SimulationPool, client_stays: bool, caplog: pytest.LogCaptureFixture
) -> None:
    server = LocalRuntimeServer(config=_config("POST /jobs:latency=60"), pool=pool)
    async with aiohttp.ClientSession() as http:
        await server.__aenter__()
        try:
            api = Api(http, server, await exchange(http, server))
            post = asyncio.ensure_future(api.request("POST", "/jobs", json=sampler_body()))
            with anyio.fail_after(30):
                await server.wait_for_held_requests(1)
            assert server.held_requests == 1
            if not client_stays:
                post.cancel()
                await http.close()
        finally:
            # A bound, not a timing assertion: without the cancellation this takes 60 s.
            with anyio.fail_after(10):
                await server.__aexit__(None, None, None)
        if client_stays:
            with pytest.raises(aiohttp.ClientError):
                await post
        else:
            assert post.cancelled()
    assert _server_errors(caplog) == []


# -- noise -------------------------------------------------------------------------------------


def _odd_parity_counts(counts: dict[str, int]) -> int:
    return counts.get("01", 0) + counts.get("10", 0)


@pytest.mark.parametrize("noise", [True, False])
async def test_noise_flips_some_bell_outcomes(pool: SimulationPool, noise: bool) -> None:
    shots = 4000
    body = sampler_body(shots=shots, options={"simulator": {"seed_simulator": 1234}})
    async with (
        LocalRuntimeServer(config=ServerConfig(noise=noise), pool=pool) as server,
        aiohttp.ClientSession() as http,
    ):
        api = Api(http, server, await exchange(http, server))
        job_id = await api.submit(body)
        job = await server.wait_for_job_state(job_id)
        assert job.status.value == "Completed", job.reason
        response = await api.request("GET", f"/jobs/{job_id}/results")
        counts = loads(await response.text())[0].data.meas.get_counts()
    assert sum(counts.values()) == shots
    if noise:
        # ibm_local5's readout and two-qubit errors are a few percent: far more than 0 of 4000.
        assert _odd_parity_counts(counts) > 0
        assert counts.get("00", 0) > shots // 4 and counts.get("11", 0) > shots // 4
    else:
        assert _odd_parity_counts(counts) == 0
