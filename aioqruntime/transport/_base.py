"""The two-method transport interface and :class:`MockTransport` (httpx's pattern).

An :class:`HttpTransport` sends one :class:`~aioqruntime.protocol.HttpRequest` (its ``base_url``
filled in) and returns whatever :class:`~aioqruntime.protocol.HttpResponse` came back, any status.
It raises :class:`~aioqruntime.APIConnectionError` (``request_sent`` set) when no complete answer
arrived. Auth, retries and status errors sit above it, in :class:`~aioqruntime.transport.Transport`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from aioqruntime._exceptions import ServiceClosedError
from aioqruntime.protocol import HttpRequest, HttpResponse

__all__ = ["HttpTransport", "MockHandler", "MockTransport"]


@runtime_checkable
class HttpTransport(Protocol):
    """Sends requests; nothing else (no auth, no retries, no knowledge of endpoints)."""

    async def send(self, request: HttpRequest) -> HttpResponse:
        """One exchange: the response, whatever its status, or ``APIConnectionError``."""
        ...

    async def aclose(self) -> None:
        """Release connections. Idempotent."""
        ...


#: What :class:`MockTransport` calls for each request: a response, or an awaitable of one.
MockHandler = Callable[[HttpRequest], "HttpResponse | Awaitable[HttpResponse]"]


class MockTransport:
    """An :class:`HttpTransport` answering every request with ``handler(request)``.

    For unit tests of code above the transport, yours and ours::

        def handler(request: HttpRequest) -> HttpResponse:
            return HttpResponse(200, {}, b'{"devices": []}')

        client = RuntimeClient(Transport(api_url="https://x/api", transport=MockTransport(handler)))

    ``handler`` may be sync or async and may raise (e.g. ``APIConnectionError(...,
    request_sent=False)`` to simulate a refused connection). ``requests`` lists what was sent.
    """

    def __init__(self, handler: MockHandler) -> None:
        self._handler = handler
        self.requests: list[HttpRequest] = []
        self.closed = False

    async def send(self, request: HttpRequest) -> HttpResponse:
        if self.closed:
            raise ServiceClosedError("the transport is closed")
        self.requests.append(request)
        answer = self._handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    async def aclose(self) -> None:
        self.closed = True
