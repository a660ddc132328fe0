"""IAM bearer tokens: API-key exchange, refresh at 80 % of the lifetime, one exchange in flight.

The exchange itself is a plain request built by :func:`aioqruntime.protocol.iam_token_request`
and sent by the transport; this module only decides *when* to exchange and caches the answer.
Never blocks the loop: waiting callers sleep on an ``anyio.Lock``, not on a thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from aioqruntime._exceptions import AuthenticationError, BadRequestError, ProtocolError
from aioqruntime.protocol import HttpRequest, HttpResponse, Secret, TokenResponse, iam_token_request

__all__ = ["IamAuth"]

logger = logging.getLogger("aioqruntime.transport")

#: Used when the access token is opaque (not a JWT): refresh after 80 % of ``expires_in``.
_FALLBACK_LIFETIME = 3600.0


@dataclass(frozen=True, slots=True)
class _Token:
    value: Secret
    #: Monotonic deadline (``anyio.current_time()``) after which we exchange again.
    refresh_after: float


class IamAuth:
    """Hands out ``Authorization`` header values for the runtime API.

    ``send`` performs one IAM request (with the transport's retries) and returns the 2xx response or
    raises a typed error. ``wall_clock`` (seconds since the epoch) is injectable for tests; JWT
    ``exp``/``iat`` claims are wall-clock times, everything else here is monotonic.
    """

    def __init__(
        self,
        api_key: Secret,
        send: Callable[[HttpRequest], Awaitable[HttpResponse]],
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._api_key = api_key
        self._send = send
        self._wall_clock = wall_clock
        self._token: _Token | None = None
        self._lock = anyio.Lock()
        #: Number of exchanges performed (observability and tests).
        self.exchanges = 0

    async def authorization(self) -> str:
        """``Bearer <token>``, exchanging the API key first if the cached token is due."""
        token = self._token
        if token is None or anyio.current_time() >= token.refresh_after:
            token = await self._refresh(stale=token)
        return f"Bearer {token.value.get()}"

    async def invalidate(self, authorization: str) -> None:
        """The server refused ``authorization`` (401): forget it unless already replaced."""
        async with self._lock:
            if self._token is not None and f"Bearer {self._token.value.get()}" == authorization:
                self._token = None

    async def _refresh(self, *, stale: _Token | None) -> _Token:
        async with self._lock:
            # Compare under the lock: whoever got here first already refreshed for everyone.
            current = self._token
            if current is not None and current is not stale:
                return current
            try:
                response = await self._send(iam_token_request(self._api_key))
            except BadRequestError as exc:
                # IAM answers an unknown or malformed API key with 400 (BXNIM0415E, as IBM's
                # does): a credentials failure, raised as one (its body never holds the key).
                raise AuthenticationError(
                    f"the API key was refused: {exc.server_message or exc}",
                    status=exc.status,
                    code=exc.code,
                    server_message=exc.server_message,
                    body=exc.body,
                    request_id=exc.request_id,
                    headers=exc.headers,
                    method=exc.method,
                    url=exc.url,
                ) from exc
            parsed = TokenResponse.from_json(response.json())
            self.exchanges += 1
            token = _Token(Secret(parsed.access_token), self._refresh_deadline(parsed))
            self._token = token
            logger.debug("IAM token obtained (exchange %d)", self.exchanges)
            return token

    def _refresh_deadline(self, parsed: TokenResponse) -> float:
        now_wall = self._wall_clock()
        try:
            remaining = parsed.times().refresh_at - now_wall
        except (ProtocolError, ValueError):
            # Opaque token: trust expires_in (the IBM SDK would fail here; we degrade gracefully).
            lifetime = float(parsed.expires_in or _FALLBACK_LIFETIME)
            remaining = 0.8 * lifetime
        return anyio.current_time() + max(0.0, remaining)
