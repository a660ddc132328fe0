"""``AiohttpTransport``: the only aiohttp client code (one ``ClientSession``, TLS, errors)."""

from __future__ import annotations

import logging
import ssl

import aiohttp
import anyio
from yarl import URL

from aioqruntime._exceptions import ServiceClosedError
from aioqruntime.protocol import HttpRequest, HttpResponse
from aioqruntime.transport._config import TransportConfig
from aioqruntime.transport._errors import map_transport_errors

__all__ = ["AiohttpTransport", "loggable_url"]

logger = logging.getLogger("aioqruntime.transport")


class AiohttpTransport:
    """An :class:`~aioqruntime.transport.HttpTransport` over one ``aiohttp.ClientSession``.

    The session is created on the first request (aiohttp needs a running loop) unless the caller
    passes one, which is used as is and never closed here. TLS certificates are verified unless
    ``config.verify`` is ``False``; the setting applies per request, so it holds for a
    caller-owned session too.
    """

    def __init__(
        self, config: TransportConfig | None = None, *, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.config = config or TransportConfig()
        self._session = session
        self._owns_session = session is None
        self._closed = False
        verify = self.config.verify
        self._ssl: bool | ssl.SSLContext = (
            verify if isinstance(verify, ssl.SSLContext) else bool(verify)
        )

    def _client_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ServiceClosedError("the transport is closed")
        if self._session is None:
            config = self.config
            connector = aiohttp.TCPConnector(
                limit=config.max_connections, limit_per_host=config.max_connections_per_host
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=config.timeouts.connect,
                    sock_read=config.timeouts.read,
                ),
                # aiohttp sends Accept-Encoding: gzip, deflate and decompresses transparently.
                auto_decompress=True,
                raise_for_status=False,
            )
        return self._session

    async def send(self, request: HttpRequest) -> HttpResponse:
        session = self._client_session()
        method = request.method.upper()
        url = request.url()
        timeout = (
            aiohttp.ClientTimeout(total=request.timeout, sock_connect=self.config.timeouts.connect)
            if request.timeout is not None
            else aiohttp.helpers.sentinel
        )
        started = anyio.current_time()
        with map_transport_errors(method, loggable_url(url)):
            async with session.request(
                method,
                URL(url, encoded=True),
                headers=dict(request.headers),
                data=request.body,
                timeout=timeout,
                allow_redirects=False,
                ssl=self._ssl,
            ) as raw:
                body = await raw.read()
                response = HttpResponse(raw.status, dict(raw.headers), body)
        logger.debug(
            "%s %s -> %d (%d bytes, %.1f ms)",
            method,
            loggable_url(url),
            response.status,
            len(body),
            (anyio.current_time() - started) * 1000,
        )
        return response

    async def aclose(self) -> None:
        """Close our ``ClientSession`` (not a caller-owned one). Idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            # Bounded and shielded: closing must finish even while the caller is being cancelled.
            with anyio.move_on_after(5, shield=True):
                await session.close()


def loggable_url(url: str) -> str:
    """``url`` without its query (ours never carry credentials; this keeps log lines short)."""
    return url.split("?", 1)[0]
