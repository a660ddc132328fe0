"""A malformed answer from the service is transient for the watcher, like a failed one.

The local server never sends a malformed job list, so a small loopback proxy in front of it
mangles the first answers to ``GET /jobs`` (a body without ``jobs``). The watcher must log, ask
again on its next tick, and still resolve the job: nothing lost, no crash at exit.
"""

from __future__ import annotations

import logging

import aiohttp
import anyio
import pytest
from aiohttp import web

from aioqruntime import AsyncRuntimeService, AsyncSampler
from aioqruntime.server import LocalRuntimeServer, ServerConfig
from tests.client._helpers import FAST_CONFIG, FAST_RETRY, x_pattern

_HOP = frozenset({"host", "content-length", "transfer-encoding", "connection"})


async def test_malformed_job_lists_do_not_stop_the_watcher(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mangled = 0
    to_mangle = 3

    async with (
        LocalRuntimeServer(config=ServerConfig(workers=0)) as server,
        aiohttp.ClientSession(auto_decompress=False) as upstream,
    ):

        async def forward(request: web.Request) -> web.StreamResponse:
            nonlocal mangled
            if request.method == "GET" and request.path.endswith("/jobs") and mangled < to_mangle:
                mangled += 1
                return web.json_response({"count": "not a list of jobs"})
            async with upstream.request(
                request.method,
                server.url + request.path_qs,
                headers={k: v for k, v in request.headers.items() if k.lower() not in _HOP},
                data=await request.read(),
            ) as answer:
                return web.Response(
                    status=answer.status,
                    body=await answer.read(),
                    headers={k: v for k, v in answer.headers.items() if k.lower() not in _HOP},
                )

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            with anyio.fail_after(60), caplog.at_level(logging.WARNING, "aioqruntime"):
                async with AsyncRuntimeService(
                    token=server.token,
                    instance=server.instance,
                    url=f"http://127.0.0.1:{port}/api/v1",
                    submissions_per_minute=None,
                    retry=FAST_RETRY,
                    transport_config=FAST_CONFIG,
                ) as service:
                    backend = await service.backend("ibm_local5")
                    job = await AsyncSampler(backend).run([x_pattern(0b101, 3, 5)], shots=20)
                    result = await job
        finally:
            await runner.cleanup()

    assert mangled == to_mangle
    counts = result[0].join_data().get_counts()
    assert counts == {"101": 20}
    assert any("refreshing jobs failed" in record.getMessage() for record in caplog.records)
