"""Sessions (lifecycle, TTLs, close vs cancel), scheduling order, limits and fault injection.

Nothing here sleeps to wait for a state: tests await the server's events.
"""

from __future__ import annotations

import aiohttp
import anyio
import pytest

from aioqruntime.server import LocalRuntimeServer, ServerConfig, SimulationPool, parse_fault_spec

from .conftest import Api, exchange, sampler_body


def running_order(server: LocalRuntimeServer) -> list[str]:
    return [ident for event, ident, _ in server.events if event == "job_running"]


async def test_session_lifecycle_and_close(api: Api, server: LocalRuntimeServer) -> None:
    created = await api.json(
        "POST",
        "/sessions",
        json={"mode": "dedicated", "backend": "ibm_local5", "instance": "ignored", "max_ttl": 600},
    )
    assert created["state"] == "open" and created["max_ttl"] == 600 and created["accepting_jobs"]
    session_id = created["id"]
    server.pause()
    first = await api.submit(sampler_body(session_id=session_id))
    second = await api.submit(sampler_body(session_id=session_id))
    assert (await api.json("GET", f"/sessions/{session_id}"))["state"] == "open"
    response = await api.request("PATCH", f"/sessions/{session_id}", json={"accepting_jobs": False})
    assert response.status == 204
    refused = await api.json("POST", "/jobs", json=sampler_body(session_id=session_id), status=400)
    assert refused["errors"][0]["code"] == "1217"
    server.resume()
    closed = await server.wait_for_session_state(session_id, "closed")
    assert server.job(first).status.value == "Completed"
    assert server.job(second).status.value == "Completed"  # close lets queued jobs run
    details = await api.json("GET", f"/sessions/{session_id}")
    assert details["state"] == "closed" and closed.closed_at is not None
    for key in (
        "activated_at",
        "started_at",
        "closed_at",
        "last_job_started",
        "last_job_completed",
    ):
        assert details[key] is not None, key
    assert details["elapsed_time"] > 0
    assert [t["status"] for t in details["timestamps"]] == ["open", "active", "closed"]


async def test_session_cancel_cancels_queued_jobs(api: Api, server: LocalRuntimeServer) -> None:
    session = await api.json("POST", "/sessions", json={"mode": "batch", "backend": "ibm_local5"})
    server.pause()
    queued = await api.submit(sampler_body(session_id=session["id"]))
    response = await api.request("DELETE", f"/sessions/{session['id']}/close")
    assert response.status == 204
    job = await server.wait_for_job_state(queued, "Cancelled")
    assert job.reason and "cancelled" in job.reason.lower()
    await server.wait_for_session_state(session["id"], "closed")
    await api.json("GET", f"/sessions/{session['id']}")


@pytest.mark.parametrize("config", [ServerConfig(interactive_ttl=0.05)])
async def test_interactive_ttl_then_reactivation(api: Api, server: LocalRuntimeServer) -> None:
    session = await api.json(
        "POST", "/sessions", json={"mode": "dedicated", "backend": "ibm_local5"}
    )
    job_id = await api.submit(sampler_body(session_id=session["id"]))
    await server.wait_for_job_state(job_id, "Completed")
    await server.wait_for_session_state(session["id"], "inactive")
    job_id = await api.submit(sampler_body(session_id=session["id"]))
    await server.wait_for_job_state(job_id, "Completed")
    states = [t[0] for t in server.session(session["id"]).timestamps]
    assert states[:4] == ["open", "active", "inactive", "active"]


# The first job holds the device's one lane Running for an hour: the second stays queued.
@pytest.mark.parametrize("config", [ServerConfig(execution_delay=3600.0)])
async def test_max_ttl_closes_and_cancels_queued(api: Api, server: LocalRuntimeServer) -> None:
    session = await api.json(
        "POST", "/sessions", json={"mode": "batch", "backend": "ibm_local5", "max_ttl": 1}
    )
    first = await api.submit(sampler_body(session_id=session["id"]))
    second = await api.submit(sampler_body(session_id=session["id"]))
    with anyio.fail_after(60):
        await server.wait_for_job_state(first, "Running")  # activates the session
        # At the max TTL (1 s from activation) the queued job is cancelled with the reason.
        job = await server.wait_for_job_state(second, "Cancelled")
        closed = await server.wait_for_session_state(session["id"], "closed")
    assert job.reason == "Session max TTL expired; job cancelled"
    assert closed.state_reason == "max TTL expired"
    assert server.job(first).status.value == "Running"  # running jobs finish


async def test_session_priority_and_batch_order(api: Api, server: LocalRuntimeServer) -> None:
    dedicated = await api.json(
        "POST", "/sessions", json={"mode": "dedicated", "backend": "ibm_local5"}
    )
    batch = await api.json("POST", "/sessions", json={"mode": "batch", "backend": "ibm_local5"})
    server.pause()
    s1 = await api.submit(sampler_body(session_id=dedicated["id"]))
    plain = await api.submit(sampler_body())
    b1 = await api.submit(sampler_body(session_id=batch["id"]))
    b2 = await api.submit(sampler_body(session_id=batch["id"]))
    s2 = await api.submit(sampler_body(session_id=dedicated["id"]))
    server.resume()
    for job_id in (s1, plain, b1, b2, s2):
        await server.wait_for_job_state(job_id, "Completed")
    # s1 activates the dedicated session, whose s2 then jumps the queue; the rest is FIFO.
    assert running_order(server) == [s1, s2, plain, b1, b2]


@pytest.mark.parametrize("config", [ServerConfig(rate_limit_per_minute=2)])
async def test_rate_limit_429_with_retry_after(api: Api, server: LocalRuntimeServer) -> None:
    server.pause()
    await api.submit(sampler_body())
    await api.submit(sampler_body())
    response = await api.request("POST", "/jobs", json=sampler_body())
    assert response.status == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    other = "crn:v1:bluemix:public:quantum-computing:us-east:a/x:y::"
    await api.submit(sampler_body(), instance=other)  # the limit is per instance


@pytest.mark.parametrize("config", [ServerConfig(max_body_bytes=10_000)])
async def test_payload_too_large(api: Api) -> None:
    body = sampler_body(tags=["x" * 80] * 8)
    body["padding"] = "y" * 20_000
    response = await api.request("POST", "/jobs", json=body)
    assert response.status == 413
    assert (await response.json())["errors"]


@pytest.mark.parametrize("config", [ServerConfig(execution_delay=30.0)])
async def test_max_execution_time_cancels_with_1305(api: Api, server: LocalRuntimeServer) -> None:
    job_id = await api.submit(sampler_body(cost=0))
    job = await server.wait_for_job_state(job_id)
    assert (job.status.value, job.reason_code, job.reason) == ("Cancelled", 1305, "RAN TOO LONG")
    wire = await api.json("GET", f"/jobs/{job_id}")
    assert wire["status"] == "Cancelled - Ran too long"


@pytest.mark.parametrize("config", [ServerConfig(max_executions=1500)])
async def test_max_executions(api: Api) -> None:
    message = (await api.json("POST", "/jobs", json=sampler_body(shots=2000), status=400))[
        "errors"
    ][0]["message"]
    assert "executions" in message


async def _fault_run(pool: SimulationPool, seed: int) -> tuple[list[int], dict[str, int]]:
    config = ServerConfig(
        faults=parse_fault_spec("GET /backends:500=0.3,429=0.2,latency=0.001;POST /jobs:drop=0.5"),
        fault_seed=seed,
    )
    statuses: list[int] = []
    async with (
        LocalRuntimeServer(config=config, pool=pool) as server,
        aiohttp.ClientSession() as http,
    ):
        token = await exchange(http, server)
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(30):
            response = await http.get(server.api_url + "/backends", headers=headers)
            statuses.append(response.status)
            if response.status == 429:
                assert response.headers["Retry-After"] == "1"
        for _ in range(6):
            try:
                response = await http.post(server.api_url + "/jobs", headers=headers, json={})
                statuses.append(response.status)
            except aiohttp.ClientError:
                statuses.append(-1)
        return statuses, server.fault_counts


async def test_fault_injection_is_replayable(pool: SimulationPool) -> None:
    first = await _fault_run(pool, seed=42)
    again = await _fault_run(pool, seed=42)
    other = await _fault_run(pool, seed=7)
    assert first == again
    assert first[0] != other[0]
    statuses, counts = first
    assert {500, 429, 200} <= set(statuses) and -1 in statuses
    assert counts["500"] == statuses.count(500) and counts["drop"] == statuses.count(-1)
    assert counts["latency"] == 30


def test_fault_spec_errors() -> None:
    for bad in ["/jobs", "POST /jobs:500=2", "GET /x:teapot=0.1", "jobs:500=0.1"]:
        with pytest.raises(ValueError):
            parse_fault_spec(bad)
    (rule,) = parse_fault_spec("POST /jobs:503=0.1,retry_after=3")
    assert rule.statuses == ((503, 0.1),) and rule.retry_after == 3
