"""End to end: the FastAPI example under a real uvicorn on loopback, driven over HTTP and SSE."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anyio
import pytest
import uvicorn
from fastapi import FastAPI

from aioqruntime import AsyncRuntimeService, ServiceClosedError
from aioqruntime.server import ServerConfig
from examples.fastapi_app.app import StreamClosingServer, create_app

WIDTH = 5  # X patterns on the 5 qubits of ibm_local5: a deterministic bitstring per job
BACKEND = "ibm_local5"


def x_pattern_qasm(pattern: int) -> str:
    """OpenQASM 3: X on the qubits of ``pattern``'s set bits, then measure all into ``c``."""
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";', f"qubit[{WIDTH}] q;", f"bit[{WIDTH}] c;"]
    lines += [f"x q[{k}];" for k in range(WIDTH) if pattern >> k & 1]
    lines.append("c = measure q;")
    return "\n".join(lines)


@dataclass
class Running:
    http: aiohttp.ClientSession
    app: FastAPI
    server: StreamClosingServer
    services: list[AsyncRuntimeService] = field(default_factory=list)

    @property
    def service(self) -> AsyncRuntimeService:
        (service,) = self.services
        return service


@asynccontextmanager
async def served_app() -> AsyncIterator[Running]:
    """The app under uvicorn on 127.0.0.1 (a port bound here, so requests queue in its backlog
    until uvicorn accepts), and a client session for it. Leaving stops uvicorn the way a signal
    does (``should_exit``) and waits for its lifespan shutdown."""
    services: list[AsyncRuntimeService] = []

    def local_service() -> AsyncRuntimeService:
        # Simulations in a thread of the embedded server: no worker process to start.
        services.append(AsyncRuntimeService.local(config=ServerConfig(workers=0)))
        return services[-1]

    app = create_app(service_factory=local_service, backend_name=BACKEND)
    config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=False)
    server = StreamClosingServer(config, app)
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)

    async def serve() -> None:
        with listener:
            await server.serve(sockets=[listener])
        if not server.started:
            raise RuntimeError("the app did not start (see the lifespan error above)")

    port = listener.getsockname()[1]
    async with anyio.create_task_group() as tg:
        tg.start_soon(serve)
        try:
            async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
                # uvicorn accepts only after the lifespan startup: once this answers, it is done.
                async with http.get("/openapi.json") as response:
                    assert response.status == 200
                yield Running(http, app, server, services)
        finally:
            server.should_exit = True


async def next_event(response: aiohttp.ClientResponse) -> dict[str, Any] | None:
    """The next ``data:`` event of an SSE stream (comments skipped); None at its end."""
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


async def subscribed(response: aiohttp.ClientResponse) -> None:
    """Wait for the stream's first line: from then on no completion is missed."""
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert await response.content.readline() == b": subscribed\n"


async def submit(http: aiohttp.ClientSession, body: dict[str, Any]) -> str:
    async with http.post("/jobs", json=body) as response:
        assert response.status == 202, await response.text()
        answer = await response.json()
    assert answer["backend"] == BACKEND
    job_id: str = answer["job_id"]
    assert response.headers["Location"] == f"/jobs/{job_id}"
    return job_id


async def test_fifty_concurrent_jobs_each_stream_one_correct_completion() -> None:
    with anyio.fail_after(240):
        async with served_app() as app, app.http.get("/events") as stream:
            await subscribed(stream)
            expected: dict[str, dict[str, Any]] = {}

            async def submit_pattern(k: int) -> None:
                # (pattern, shots) differs for every job, so each result names its own job.
                pattern, shots = k % 2**WIDTH, 20 + k
                job_id = await submit(app.http, {"qasm": x_pattern_qasm(pattern), "shots": shots})
                expected[job_id] = {"c": {format(pattern, f"0{WIDTH}b"): shots}}

            async with anyio.create_task_group() as tg:
                for k in range(50):
                    tg.start_soon(submit_pattern, k)
            assert len(expected) == 50

            seen: dict[str, dict[str, Any]] = {}
            while len(seen) < len(expected):
                event = await next_event(stream)
                assert event is not None, "the event stream ended early"
                assert event["job_id"] in expected, event
                assert event["job_id"] not in seen, f"job {event['job_id']} published twice"
                seen[event["job_id"]] = event

            for job_id, event in seen.items():
                assert event == {"job_id": job_id, "status": "DONE", "counts": expected[job_id]}
            # The status and result routes give the same document once the event is out.
            some = sorted(seen)[:5]
            for job_id in some:
                for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/result"):
                    async with app.http.get(path) as response:
                        assert response.status == 200
                        assert await response.json() == seen[job_id]


async def test_status_result_and_errors() -> None:
    with anyio.fail_after(120):
        async with served_app() as app:
            server = app.service.server
            server.pause(BACKEND)  # hold the queue: the job is certainly not finished yet
            async with app.http.get("/events") as stream:
                await subscribed(stream)
                job_id = await submit(app.http, {"example": "bell", "shots": 10})
                async with app.http.get(f"/jobs/{job_id}") as response:
                    assert response.status == 200
                    pending = await response.json()
                assert pending["job_id"] == job_id
                assert pending["status"] in {"INITIALIZING", "QUEUED"}
                async with app.http.get(f"/jobs/{job_id}/result") as response:
                    assert response.status == 409
                    assert "not finished" in (await response.json())["detail"]

                server.fail_next_job(BACKEND, "Injected failure", 1517)
                server.resume(BACKEND)
                event = await next_event(stream)
            assert event is not None
            assert event["job_id"] == job_id
            assert event["status"] == "ERROR"
            assert "Injected failure" in event["error"]
            assert "counts" not in event
            async with app.http.get(f"/jobs/{job_id}/result") as response:
                assert response.status == 200
                assert await response.json() == event

            async def expect(status: int, method: str, path: str, **kw: Any) -> Any:
                async with app.http.request(method, path, **kw) as response:
                    assert response.status == status, await response.text()
                    assert response.content_type == "application/json"
                    return (await response.json())["detail"]

            assert "OpenQASM" in await expect(400, "POST", "/jobs", json={"qasm": "qubit q"})
            detail = await expect(400, "POST", "/jobs", json={"qasm": "OPENQASM 3.0; qubit[1] q;"})
            assert "measures nothing" in detail
            wide = "OPENQASM 3.0; qubit[6] q; bit[6] c; c = measure q;"
            assert BACKEND in await expect(400, "POST", "/jobs", json={"qasm": wide})
            await expect(422, "POST", "/jobs", json={"example": "teleport"})
            await expect(422, "POST", "/jobs", json={"example": "bell", "shots": 0})
            await expect(422, "POST", "/jobs", json={"example": "bell", "qasm": "x"})
            await expect(422, "POST", "/jobs", json={"example": "bell", "colour": "red"})
            await expect(422, "POST", "/jobs", data=b"{not json", headers=_JSON)
            assert "no-such-job" in await expect(404, "GET", "/jobs/no-such-job")
            assert "no-such-job" in await expect(404, "GET", "/jobs/no-such-job/result")


_JSON = {"Content-Type": "application/json"}


async def test_shutdown_with_jobs_pending_and_a_stream_open() -> None:
    with anyio.fail_after(120):
        async with served_app() as app:
            service = app.service
            service.server.pause(BACKEND)  # nothing will finish before the shutdown
            stream = await app.http.get("/events")
            try:
                await subscribed(stream)
                job_ids = [await submit(app.http, {"example": "ghz", "shots": 5}) for _ in range(3)]
                for job_id in job_ids:
                    async with app.http.get(f"/jobs/{job_id}") as response:
                        assert (await response.json())["status"] in {"INITIALIZING", "QUEUED"}

                assert service.server.counts() == {"Queued": 3}
                app.server.should_exit = True  # as SIGTERM/SIGINT would
                # The open stream ends (instead of holding uvicorn's shutdown forever)...
                # (a ClientPayloadError is the connection closing under the chunked body: an end)
                with contextlib.suppress(aiohttp.ClientPayloadError):
                    assert await next_event(stream) is None
            finally:
                stream.release()
        # ...and leaving served_app() returned only once uvicorn had run the lifespan shutdown,
        # which closed the service with its jobs still pending.
        assert app.server.started
        hub = app.app.state.hub
        assert sorted(hub.jobs) == sorted(job_ids)
        assert not any(job.done() for job in hub.jobs.values())
        assert hub.summaries == {}
        with pytest.raises(ServiceClosedError, match="the service is closed"):
            await service.job(job_ids[0])
