"""A loopback reverse proxy that loses answers: the request reaches the server, the reply does not.

This is the truly ambiguous failure of ``POST /jobs`` (the job exists, the client cannot know),
which the server's own fault injection cannot produce (its faults strike before the handler).
Decisions come from one seeded RNG. An upstream that refuses connections (restarting) is answered
with 502, as a gateway does.
"""

from __future__ import annotations

import random
from collections import Counter
from types import TracebackType

import aiohttp
import anyio
from aiohttp import web

_HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class LossyProxy:
    """``async with LossyProxy(upstream_url, lose=0.1, hold=0.3) as proxy: proxy.url``.

    For ``POST .../jobs`` with probability ``lose`` the upstream answer is discarded: the
    connection is dropped at once, or, when ``hold`` is set, the answer is held ``hold`` seconds
    (past the client's submit timeout) and then dropped.
    """

    def __init__(self, upstream: str, *, lose: float, hold: float | None = None, seed: int = 0):
        self.upstream = upstream.rstrip("/")
        self._lose = lose
        self._hold = hold
        self._rng = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> LossyProxy:
        self._client = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            if self._runner is not None:
                await self._runner.cleanup()
            if self._client is not None:
                await self._client.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._client is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        try:
            async with self._client.request(
                request.method,
                self.upstream + request.path_qs,
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as upstream:
                payload = await upstream.read()
                status = upstream.status
                out_headers = {
                    k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS
                }
        except aiohttp.ClientConnectorError:
            self.counts["upstream_refused"] += 1
            return web.Response(status=502, text="upstream unavailable")
        except aiohttp.ClientError:
            self.counts["upstream_dropped"] += 1
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=502)
        is_submission = request.method == "POST" and request.path.endswith("/jobs")
        if is_submission and self._rng.random() < self._lose:
            self.counts["answer_lost"] += 1
            if self._hold:
                await anyio.sleep(self._hold)
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=502)
        return web.Response(status=status, body=payload, headers=out_headers)
