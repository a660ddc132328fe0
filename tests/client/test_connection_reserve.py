"""Submissions never take the whole connection pool: the watcher keeps a reserve.

A loopback proxy holds every ``POST /jobs`` until a status request (``GET /jobs``) reaches it.
Were submissions allowed every connection to the host, a burst of them would hold the pool and
the status request could never arrive (the test would time out); with the reserve, at most
``max_connections_per_host - WATCHER_RESERVED_CONNECTIONS`` are in flight and the poll gets by.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import anyio
from aiohttp import web

from aioqruntime import AsyncRuntimeService, AsyncSampler, AsyncSession
from aioqruntime.runtime._limiter import WATCHER_RESERVED_CONNECTIONS
from aioqruntime.server import LocalRuntimeServer, ServerConfig
from tests.client._helpers import FAST_CONFIG, FAST_RETRY, x_pattern

_HOP = frozenset({"host", "content-length", "transfer-encoding", "connection"})
SUBMISSIONS = 24


class HoldingProxy:
    """Holds ``POST /jobs`` (once armed) until a ``GET /jobs`` arrives; counts those in flight."""

    def __init__(self, upstream: str, client: aiohttp.ClientSession) -> None:
        self.upstream = upstream
        self.client = client
        self.armed = False
        self.released = anyio.Event()
        self.posts_in_flight = 0
        self.most_posts_in_flight = 0
        self.posts_when_released = 0

    async def forward(self, request: web.Request) -> web.StreamResponse:
        is_post = request.method == "POST" and request.path.endswith("/jobs")
        is_poll = request.method == "GET" and request.path.endswith("/jobs")
        if self.armed and is_poll and self.posts_in_flight and not self.released.is_set():
            self.posts_when_released = self.posts_in_flight
            self.released.set()
        if is_post:
            self.posts_in_flight += 1
            self.most_posts_in_flight = max(self.most_posts_in_flight, self.posts_in_flight)
        try:
            if is_post and self.armed:
                await self.released.wait()
            async with self.client.request(
                request.method,
                self.upstream + request.path_qs,
                headers={k: v for k, v in request.headers.items() if k.lower() not in _HOP},
                data=await request.read(),
            ) as answer:
                return web.Response(
                    status=answer.status,
                    body=await answer.read(),
                    headers={k: v for k, v in answer.headers.items() if k.lower() not in _HOP},
                )
        finally:
            if is_post:
                self.posts_in_flight -= 1


@asynccontextmanager
async def proxied() -> AsyncIterator[tuple[LocalRuntimeServer, AsyncRuntimeService, HoldingProxy]]:
    async with (
        LocalRuntimeServer(config=ServerConfig(workers=0)) as server,
        aiohttp.ClientSession(auto_decompress=False) as client,
    ):
        proxy = HoldingProxy(server.url, client)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", proxy.forward)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            async with AsyncRuntimeService(
                token=server.token,
                instance=server.instance,
                url=f"http://127.0.0.1:{port}/api/v1",
                submissions_per_minute=None,
                retry=FAST_RETRY,
                transport_config=FAST_CONFIG,
            ) as service:
                yield server, service, proxy
        finally:
            await runner.cleanup()


async def test_a_poll_gets_through_a_burst_of_held_submissions() -> None:
    async with proxied() as (server, service, proxy):
        backend = await service.backend("ibm_local5")
        server.pause()  # the first job stays pending: the watcher keeps polling
        async with AsyncSession(backend) as session:
            sampler = AsyncSampler(session)
            first = await sampler.run([x_pattern(1, 1, 5)], shots=1)
            proxy.armed = True
            with anyio.fail_after(30):
                jobs = [first]

                async def submit() -> None:
                    jobs.append(await sampler.run([x_pattern(1, 1, 5)], shots=1))

                async with anyio.create_task_group() as tg:
                    for _ in range(SUBMISSIONS):
                        tg.start_soon(submit)
                server.resume()
                for job in jobs:
                    assert (await job)[0].data.c.get_counts() == {"1": 1}
        cap = FAST_CONFIG.max_connections_per_host - WATCHER_RESERVED_CONNECTIONS
        assert proxy.released.is_set() and 0 < proxy.posts_when_released <= cap
        assert proxy.most_posts_in_flight == cap
