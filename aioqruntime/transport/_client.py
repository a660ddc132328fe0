"""``Transport``: auth, the protocol headers, status errors and retries, in one place.

It sends :class:`HttpRequest` descriptions through an :class:`~aioqruntime.transport.HttpTransport`
(:class:`~aioqruntime.transport.AiohttpTransport` unless given one, e.g. a
:class:`~aioqruntime.transport.MockTransport`) and returns 2xx responses, retrying:

* idempotent requests (GET/PUT/DELETE, and requests the caller declares idempotent such as
  ``PATCH accepting_jobs=false`` or a job cancel): connection failures, timeouts, 408/429/5xx and
  the forcelist, with exponential backoff + jitter, honouring ``Retry-After``;
* other requests: only failures that certainly happened before anything was sent (connection
  refused, connect timeout) and explicit refusals (429 unless ``retry_rate_limited=False``, 401
  with a fresh token).

It knows nothing of endpoints: what a failed ``POST /jobs`` means is the client layer's business.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from collections import Counter
from dataclasses import replace
from types import TracebackType

import aiohttp
import anyio
from typing_extensions import Self

from aioqruntime._exceptions import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    InsecureTransportWarning,
    ServiceClosedError,
)
from aioqruntime.protocol import (
    HttpRequest,
    HttpResponse,
    RetryPolicy,
    Secret,
    default_headers,
    error_for_response,
    retry_delay,
    should_retry,
)
from aioqruntime.protocol._retry import UniformSource
from aioqruntime.transport._aiohttp import AiohttpTransport, loggable_url
from aioqruntime.transport._auth import IamAuth
from aioqruntime.transport._base import HttpTransport
from aioqruntime.transport._config import Timeouts, TransportConfig

__all__ = ["Transport", "warn_insecure"]

logger = logging.getLogger("aioqruntime.transport")


class Transport:
    """Authenticated, retrying requests to the runtime API (``api_url``) and IAM (``iam_url``).

    Use as ``async with Transport(...) as transport`` (or ``open()`` then ``await aclose()``).
    ``api_key`` ``None`` sends no ``Authorization`` (servers that need none). ``session`` is a
    caller-owned ``aiohttp.ClientSession`` for the default transport: used as is, never closed
    here; ``transport`` replaces the default (aiohttp) one altogether.

    TLS certificates are verified unless ``config.verify`` is ``False``, which must be asked for
    explicitly and emits an :class:`~aioqruntime.InsecureTransportWarning` plus a WARNING log line.
    """

    def __init__(
        self,
        *,
        api_url: str,
        iam_url: str | None = None,
        api_key: Secret | None = None,
        instance: str | None = None,
        config: TransportConfig | None = None,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        rng: UniformSource | None = None,
        transport: HttpTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.iam_url = iam_url.rstrip("/") if iam_url else None
        self.instance = instance
        self.config = config or TransportConfig()
        self.retry = retry or RetryPolicy()
        self._rng = rng
        self._http: HttpTransport = transport or AiohttpTransport(self.config, session=session)
        self._owner: Transport | None = None  # set on with_options() copies
        # A caller-provided session or transport is already usable; ours opens with open().
        self._opened = session is not None or transport is not None
        self._closed = False
        self._headers = default_headers(client_app=self.config.client_application)
        self._headers["User-Agent"] = self.config.user_agent
        if instance:
            self._headers["Service-CRN"] = instance
        self.auth: IamAuth | None = None
        if api_key:
            if not self.iam_url:
                raise ValueError("an API key needs an IAM URL to exchange it at")
            self.auth = IamAuth(api_key, self._send_iam)
        #: Requests sent, attempts included (observability and tests).
        self.requests_sent = 0
        #: Retries by reason and re-authentications (see :meth:`statistics`).
        self.counters: Counter[str] = Counter()
        if self.config.verify is False:
            warn_insecure(self.api_url, stacklevel=3)

    # --- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def open(self) -> None:
        """Accept requests from now on (the connection pool itself opens on the first one)."""
        if self.closed:
            raise ServiceClosedError("this transport is closed")
        self._opened = True

    async def aclose(self) -> None:
        """Close the connection pool (a ``with_options`` copy leaves that to its owner)."""
        self._closed = True
        if self._owner is None:
            await self._http.aclose()

    @property
    def closed(self) -> bool:
        return self._closed or (self._owner is not None and self._owner.closed)

    @property
    def verifies_tls(self) -> bool:
        """Whether TLS certificates are verified (``False`` only after an explicit opt-out)."""
        return self.config.verify is not False

    def with_options(
        self, *, retry: RetryPolicy | None = None, timeouts: Timeouts | None = None
    ) -> Transport:
        """A copy with another retry policy or timeouts, sharing the pool, auth and counters.

        ``timeouts`` changes ``submit`` and ``submit_grace`` (the per-request budgets); the pool's
        connect/read timeouts are its owner's.
        """
        clone = copy.copy(self)
        clone._owner = self._owner or self
        if retry is not None:
            clone.retry = retry
        if timeouts is not None:
            clone.config = replace(self.config, timeouts=timeouts)
        return clone

    def statistics(self) -> dict[str, int]:
        """Counters: ``requests`` (attempts), ``retries`` and ``retries.<reason>`` (a status code,
        ``connect``, ``timeout``, ``connection``), ``reauthentications`` (401 then a new token)
        and ``iam_exchanges``."""
        stats = {"requests": self.requests_sent, "retries": 0, "reauthentications": 0}
        stats.update(self.counters)
        stats["iam_exchanges"] = self.auth.exchanges if self.auth is not None else 0
        return stats

    # --- requests ------------------------------------------------------------------------------

    async def send(
        self,
        request: HttpRequest,
        *,
        idempotent: bool | None = None,
        retry_rate_limited: bool = True,
    ) -> HttpResponse:
        """Send ``request`` to the runtime API; return the 2xx response or raise a typed error.

        ``idempotent`` overrides the method's default (GET/PUT/DELETE). ``retry_rate_limited``
        ``False`` raises a 429 at once (a caller that paces itself waits it out and learns).
        """
        repeatable = request.idempotent if idempotent is None else idempotent
        return await self._send_with_retries(
            replace(request, base_url=self.api_url),
            repeatable=repeatable,
            retry_rate_limited=retry_rate_limited,
            auth=True,
        )

    async def _send_iam(self, request: HttpRequest) -> HttpResponse:
        # The exchange has no side effect, so it is retried like an idempotent request.
        assert self.iam_url is not None
        return await self._send_with_retries(
            replace(request, base_url=self.iam_url, timeout=self.config.timeouts.iam),
            repeatable=True,
            retry_rate_limited=True,
            auth=False,
        )

    async def _send_with_retries(
        self, request: HttpRequest, *, repeatable: bool, retry_rate_limited: bool, auth: bool
    ) -> HttpResponse:
        method = request.method.upper()
        url = loggable_url(request.url())
        attempt = 0
        refreshed_token = False
        while True:
            attempt += 1
            authorization = await self.auth.authorization() if (auth and self.auth) else None
            try:
                response = await self._exchange(request, authorization)
            except APIConnectionError as error:
                if error.retryable and should_retry(
                    self.retry,
                    attempt,
                    idempotent=repeatable,
                    connection_error=True,
                    request_sent=error.request_sent,
                ):
                    reason = "connection" if error.request_sent else "connect"
                    if isinstance(error, APITimeoutError):
                        reason = "timeout"
                    await self._pause(attempt, None, method, url, str(error), reason)
                    continue
                raise
            if response.is_success:
                return response
            status_error = error_for_response(
                response.status, response.body, response.headers, method=method, url=url
            )
            if (
                isinstance(status_error, AuthenticationError)
                and authorization is not None
                and self.auth is not None
                and not refreshed_token
            ):
                # A revoked or expired token: exchange the key again once, then give up.
                refreshed_token = True
                self.counters["reauthentications"] += 1
                await self.auth.invalidate(authorization)
                continue
            if (retry_rate_limited or response.status != 429) and should_retry(
                self.retry, attempt, idempotent=repeatable, status=response.status
            ):
                status = str(response.status)
                await self._pause(
                    attempt, response.header("Retry-After"), method, url, status, status
                )
                continue
            raise status_error

    async def _pause(
        self, attempt: int, retry_after: str | None, method: str, url: str, why: str, reason: str
    ) -> None:
        self.counters["retries"] += 1
        self.counters[f"retries.{reason}"] += 1
        delay = retry_delay(self.retry, attempt, retry_after, self._rng, now=time.time())
        logger.info(
            "retrying %s %s in %.2fs (attempt %d failed: %s)", method, url, delay, attempt, why
        )
        await anyio.sleep(delay)

    async def _exchange(self, request: HttpRequest, authorization: str | None) -> HttpResponse:
        if self.closed or not self._opened:
            raise ServiceClosedError(
                "the transport is closed"
                if self.closed
                else "the transport is not open: use the service inside 'async with'"
            )
        headers = dict(self._headers)
        headers.update(request.headers)
        if authorization is not None:
            headers["Authorization"] = authorization
        self.requests_sent += 1
        return await self._http.send(replace(request, headers=headers))


def warn_insecure(url: str, *, stacklevel: int = 2) -> None:
    """Emit :class:`InsecureTransportWarning` and a WARNING log line for ``verify=False``."""
    message = (
        "TLS certificate verification is turned off (verify=False): the connection to "
        f"{loggable_url(url)} can be read and altered by anyone on the path"
    )
    warnings.warn(message, InsecureTransportWarning, stacklevel=stacklevel + 1)
    logger.warning("%s", message)
