"""End to end: the aiohttp web backend example on loopback, driven over real HTTP and SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
from aiohttp import web

from aioqruntime import AsyncRuntimeService
from aioqruntime.server import ServerConfig
from examples.web_backend.app import SERVICE, create_app

WIDTH = 6  # X patterns on 6 qubits: every job has its own deterministic bitstring
SHOTS = 64


def x_pattern_qasm(pattern: int, width: int = WIDTH) -> str:
    """OpenQASM 3: X on the qubits of ``pattern``'s set bits, then measure all into ``c``."""
    lines = [
        "OPENQASM 3.0;",
        'include "stdgates.inc";',
        f"qubit[{width}] q;",
        f"bit[{width}] c;",
    ]
    lines += [f"x q[{k}];" for k in range(width) if pattern >> k & 1]
    lines.append("c = measure q;")
    return "\n".join(lines)


def local_service() -> AsyncRuntimeService:
    # Simulations in a thread of the embedded server: no worker process to start.
    return AsyncRuntimeService.local(config=ServerConfig(workers=0))


@asynccontextmanager
async def running_app() -> AsyncIterator[tuple[web.Application, aiohttp.ClientSession]]:
    """The app served on 127.0.0.1 (free port) in this event loop, and a client session for it."""
    app = create_app(service_factory=local_service)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            yield app, http
    finally:
        await runner.cleanup()


async def next_event(response: aiohttp.ClientResponse) -> dict[str, Any] | None:
    """The next ``data:`` event of an SSE stream (comments skipped); None at the end."""
    data: list[str] = []
    while True:
        raw = await response.content.readline()
        if not raw:
            return None
        line = raw.decode().rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif not line and data:
            event: dict[str, Any] = json.loads("\n".join(data))
            return event


async def test_fifty_concurrent_jobs_each_stream_one_correct_completion() -> None:
    with anyio.fail_after(240):
        async with running_app() as (_app, http), http.get("/events") as stream:
            # The headers are out: the subscription exists, no completion can be missed.
            assert stream.status == 200
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            expected: dict[str, Any] = {}

            async def submit(body: dict[str, Any], check: Any) -> None:
                async with http.post("/jobs", json=body) as response:
                    assert response.status == 202, await response.text()
                    job_id = (await response.json())["job_id"]
                    assert response.headers["Location"] == f"/jobs/{job_id}"
                expected[job_id] = check

            async with anyio.create_task_group() as tg:
                for pattern in range(40):
                    body = {
                        "qasm": x_pattern_qasm(pattern),
                        "shots": SHOTS,
                        "backend": "ibm_local27",
                    }
                    tg.start_soon(submit, body, {"c": {format(pattern, f"0{WIDTH}b"): SHOTS}})
                for k in range(5):
                    # No backend given: the service's least busy one that is wide enough.
                    tg.start_soon(submit, {"example": "bell", "shots": SHOTS}, ("meas", "00", "11"))
                    ghz = {"example": "ghz", "num_qubits": 4, "shots": SHOTS + k}
                    tg.start_soon(submit, ghz, ("meas", "0000", "1111"))
            assert len(expected) == 50

            seen: dict[str, dict[str, Any]] = {}
            while len(seen) < len(expected):
                event = await next_event(stream)
                assert event is not None, "the event stream ended early"
                assert event["job_id"] in expected, event
                assert event["job_id"] not in seen, f"job {event['job_id']} published twice"
                seen[event["job_id"]] = event

        for job_id, event in seen.items():
            assert event["status"] == "DONE", event
            check = expected[job_id]
            if isinstance(check, dict):
                assert event["counts"] == check
            else:
                register, *outcomes = check
                counts = event["counts"][register]
                assert set(counts) <= set(outcomes), counts
                assert sum(counts.values()) in range(SHOTS, SHOTS + 5)


async def test_status_endpoint_and_errors() -> None:
    with anyio.fail_after(120):
        async with running_app() as (app, http):
            async with http.get("/events") as stream:
                async with http.post("/jobs", json={"qasm": x_pattern_qasm(5), "shots": 10}) as r:
                    assert r.status == 202
                    job_id = (await r.json())["job_id"]
                async with http.get(f"/jobs/{job_id}") as r:
                    assert r.status == 200
                    first = await r.json()
                assert first["job_id"] == job_id
                assert first["status"] in {"INITIALIZING", "QUEUED", "RUNNING", "DONE"}
                event = await next_event(stream)
                assert event is not None
                assert event["job_id"] == job_id
            async with http.get(f"/jobs/{job_id}") as r:
                assert r.status == 200
                assert await r.json() == event
                assert event["counts"] == {"c": {"000101": 10}}

            # A job that fails on the service: its event carries the error.
            app[SERVICE].server.fail_next_job("ibm_local5")
            async with http.get("/events") as stream:
                body = {"example": "bell", "shots": 10, "backend": "ibm_local5"}
                async with http.post("/jobs", json=body) as r:
                    assert r.status == 202
                    failed_id = (await r.json())["job_id"]
                event = await next_event(stream)
            assert event is not None
            assert event["job_id"] == failed_id
            assert event["status"] == "ERROR"
            assert event["error"]
            assert "counts" not in event

            async def expect_error(
                method: str, path: str, status: int, code: str, **kw: Any
            ) -> str:
                async with http.request(method, path, **kw) as response:
                    assert response.status == status, await response.text()
                    assert response.content_type == "application/json"
                    error = (await response.json())["error"]
                    assert error["code"] == code
                    message: str = error["message"]
                    return message

            message = await expect_error("POST", "/jobs", 400, "bad_qasm", json={"qasm": "qubit q"})
            assert "OpenQASM" in message
            await expect_error(
                "POST", "/jobs", 400, "bad_qasm", json={"qasm": "OPENQASM 3.0; qubit[1] q;"}
            )
            await expect_error("POST", "/jobs", 400, "bad_qasm", json={"qasm": "  "})
            await expect_error("POST", "/jobs", 400, "bad_request", data=b"{not json")
            await expect_error("POST", "/jobs", 400, "bad_request", json=["bell"])
            await expect_error("POST", "/jobs", 400, "bad_request", json={"example": "teleport"})
            await expect_error(
                "POST", "/jobs", 400, "bad_request", json={"example": "bell", "shots": 0}
            )
            await expect_error(
                "POST", "/jobs", 400, "bad_request", json={"example": "bell", "qasm": "x"}
            )
            await expect_error(
                "POST",
                "/jobs",
                400,
                "unknown_backend",
                json={"example": "bell", "backend": "ibm_nowhere"},
            )
            await expect_error(
                "POST",
                "/jobs",
                400,
                "transpile_failed",
                json={"example": "ghz", "num_qubits": 8, "backend": "ibm_local5"},
            )
            message = await expect_error("GET", "/jobs/no-such-job", 404, "not_found")
            assert "no-such-job" in message


async def test_open_event_streams_end_at_shutdown() -> None:
    app = create_app(service_factory=local_service)
    runner = web.AppRunner(app)
    with anyio.fail_after(30):  # aiohttp would wait 60 s for handlers that never finish
        await runner.setup()
        cleaned = False
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            port = runner.addresses[0][1]
            async with aiohttp.ClientSession() as http:
                response = await http.get(f"http://127.0.0.1:{port}/events")
                assert await response.content.readline() == b": subscribed\n"
                await runner.cleanup()  # with the stream still open
                cleaned = True
                try:
                    assert await next_event(response) is None
                except aiohttp.ClientPayloadError:
                    pass  # the connection closed under the chunked body: also an end
                finally:
                    response.release()
        finally:
            if not cleaned:
                await runner.cleanup()
