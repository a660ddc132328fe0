"""``Transport``: the only aiohttp client code. Sends :class:`HttpRequest`, returns 2xx responses.

One ``aiohttp.ClientSession`` per transport, created in async code (or the caller's, which we never
close). Adds auth and the protocol headers, maps failures to the typed error tree, and retries:

* idempotent requests (GET/PUT/DELETE, and requests the caller declares idempotent such as
  ``PATCH accepting_jobs=false`` or a job cancel): connection failures, timeouts, 408/429/5xx and
  the forcelist, with exponential backoff + jitter, honouring ``Retry-After``;
* other requests: only failures that certainly happened before anything was sent (connection
  refused, connect timeout) and explicit refusals (429, 401 with a fresh token);
* ``POST /jobs`` (``submit_tag`` given): as above but a 429, raised at once (the runtime's
  submission limiter waits it out and learns the rate), and any failure after the body may have
  been received (timeout, reset, 5xx) raises :class:`AmbiguousSubmissionError` with the job's tag.
"""

from __future__ import annotations

import logging
import ssl
import time
import warnings
from collections import Counter
from types import TracebackType

import aiohttp
import anyio
from typing_extensions import Self
from yarl import URL

from aioqruntime._exceptions import (
    AmbiguousSubmissionError,
    APIError,
    APIStatusError,
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
from aioqruntime.transport._auth import IamAuth
from aioqruntime.transport._config import TransportConfig
from aioqruntime.transport._errors import TransportFailure, map_transport_errors

__all__ = ["Transport", "warn_insecure"]

logger = logging.getLogger("aioqruntime.transport")


class Transport:
    """Async HTTP to the runtime API (``api_url``) and IAM (``iam_url``).

    Use as ``async with Transport(...) as transport`` (or ``await transport.aclose()``). ``api_key``
    ``None`` sends no ``Authorization`` (servers that need none). ``session`` is a caller-owned
    ``aiohttp.ClientSession``: used as is, never closed here.

    TLS certificates are verified unless ``config.verify`` is ``False``, which must be asked for
    explicitly and emits an :class:`~aioqruntime.InsecureTransportWarning` plus a WARNING log line.
    The setting applies per request, so it holds for a caller-owned session too.
    """

    def __init__(
        self,
        *,
        api_url: str,
        iam_url: str | None,
        api_key: Secret | None,
        instance: str | None,
        config: TransportConfig | None = None,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        rng: UniformSource | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.iam_url = iam_url.rstrip("/") if iam_url else None
        self.instance = instance
        self.config = config or TransportConfig()
        self.retry = retry or RetryPolicy()
        self._session = session
        self._owns_session = session is None
        self._rng = rng
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
        #: Retries by reason, re-authentications, ambiguous submissions (see :meth:`statistics`).
        self.counters: Counter[str] = Counter()
        verify = self.config.verify
        if verify is False:
            warn_insecure(self.api_url, stacklevel=3)
        self._ssl: bool | ssl.SSLContext = (
            verify if isinstance(verify, ssl.SSLContext) else (bool(verify))
        )

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
        """Create the ``ClientSession`` (needs a running event loop; call from async code)."""
        if self._closed:
            raise ServiceClosedError("this transport is closed")
        if self._session is None:
            timeouts = self.config.timeouts
            connector = aiohttp.TCPConnector(
                limit=self.config.max_connections,
                limit_per_host=self.config.max_connections_per_host,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=timeouts.connect, sock_read=timeouts.read
                ),
                # aiohttp sends Accept-Encoding: gzip, deflate and decompresses transparently.
                auto_decompress=True,
                raise_for_status=False,
            )

    async def aclose(self) -> None:
        """Close our ``ClientSession`` (not a caller-owned one). Idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            # Bounded and shielded: closing must finish even while the caller is being cancelled.
            with anyio.move_on_after(5, shield=True):
                await session.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def verifies_tls(self) -> bool:
        """Whether TLS certificates are verified (``False`` only after an explicit opt-out)."""
        return self._ssl is not False

    def statistics(self) -> dict[str, int]:
        """Counters: ``requests`` (attempts), ``retries`` and ``retries.<reason>`` (a status code,
        ``connect``, ``timeout``, ``connection``), ``reauthentications`` (401 then a new token),
        ``iam_exchanges`` and ``ambiguous_submissions``."""
        stats = {"requests": self.requests_sent, "retries": 0, "reauthentications": 0}
        stats["ambiguous_submissions"] = 0
        stats.update(self.counters)
        stats["iam_exchanges"] = self.auth.exchanges if self.auth is not None else 0
        return stats

    # --- requests ------------------------------------------------------------------------------

    async def send(
        self,
        request: HttpRequest,
        *,
        idempotent: bool | None = None,
        submit_tag: str | None = None,
    ) -> HttpResponse:
        """Send ``request`` to the runtime API; return the 2xx response or raise a typed error.

        ``idempotent`` overrides the method's default (GET/PUT/DELETE). ``submit_tag`` marks a
        ``POST /jobs`` and is the tag an :class:`AmbiguousSubmissionError` carries (``""``: a
        submission without a client tag).
        """
        repeatable = request.idempotent if idempotent is None else idempotent
        return await self._send_with_retries(
            request, self.api_url, repeatable=repeatable, submit_tag=submit_tag, auth=True
        )

    async def _send_iam(self, request: HttpRequest) -> HttpResponse:
        # The exchange has no side effect, so it is retried like an idempotent request.
        assert self.iam_url is not None
        return await self._send_with_retries(
            request, self.iam_url, repeatable=True, submit_tag=None, auth=False
        )

    async def _send_with_retries(
        self,
        request: HttpRequest,
        base_url: str,
        *,
        repeatable: bool,
        submit_tag: str | None,
        auth: bool,
    ) -> HttpResponse:
        method = request.method.upper()
        url = request.url(base_url)
        attempt = 0
        refreshed_token = False
        while True:
            attempt += 1
            authorization = await self.auth.authorization() if (auth and self.auth) else None
            try:
                response = await self._exchange(
                    request, url, authorization, submit=submit_tag is not None
                )
            except TransportFailure as failure:
                error: APIError = failure.error
                if failure.sent and submit_tag is not None:
                    self.counters["ambiguous_submissions"] += 1
                    raise _ambiguous(error, submit_tag, method, url) from error
                if failure.retryable and should_retry(
                    self.retry,
                    attempt,
                    idempotent=repeatable,
                    connection_error=True,
                    request_sent=failure.sent,
                ):
                    reason = "connection" if failure.sent else "connect"
                    if isinstance(error, APITimeoutError):
                        reason = "timeout"
                    await self._pause(attempt, None, method, url, str(error), reason)
                    continue
                raise error from error.__cause__
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
            if submit_tag is not None and response.status >= 500:
                self.counters["ambiguous_submissions"] += 1
                raise _ambiguous(status_error, submit_tag, method, url) from status_error
            # should_retry repeats a 429 for any method: it says "not processed". Not for a
            # submission: the runtime's limiter waits it out for every queued one and learns.
            if not (submit_tag is not None and response.status == 429) and should_retry(
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
            "retrying %s %s in %.2fs (attempt %d failed: %s)",
            method,
            _loggable(url),
            delay,
            attempt,
            why,
        )
        await anyio.sleep(delay)

    async def _exchange(
        self, request: HttpRequest, url: str, authorization: str | None, *, submit: bool
    ) -> HttpResponse:
        session = self._session
        if session is None:
            raise ServiceClosedError(
                "the transport is not open: use the service inside 'async with'"
                if not self._closed
                else "the transport is closed"
            )
        headers = dict(self._headers)
        headers.update(request.headers)
        if authorization is not None:
            headers["Authorization"] = authorization
        timeouts = self.config.timeouts
        timeout = (
            aiohttp.ClientTimeout(total=timeouts.submit, sock_connect=timeouts.connect)
            if submit
            else None
        )
        method = request.method.upper()
        started = anyio.current_time()
        self.requests_sent += 1
        with map_transport_errors(method, _loggable(url)):
            async with session.request(
                method,
                URL(url, encoded=True),
                headers=headers,
                data=request.body,
                timeout=timeout if timeout is not None else aiohttp.helpers.sentinel,
                allow_redirects=False,
                ssl=self._ssl,
            ) as raw:
                body = await raw.read()
                response = HttpResponse(raw.status, dict(raw.headers), body)
        logger.debug(
            "%s %s -> %d (%d bytes, %.1f ms)",
            method,
            _loggable(url),
            response.status,
            len(body),
            (anyio.current_time() - started) * 1000,
        )
        return response


def warn_insecure(url: str, *, stacklevel: int = 2) -> None:
    """Emit :class:`InsecureTransportWarning` and a WARNING log line for ``verify=False``."""
    message = (
        "TLS certificate verification is turned off (verify=False): the connection to "
        f"{_loggable(url)} can be read and altered by anyone on the path"
    )
    warnings.warn(message, InsecureTransportWarning, stacklevel=stacklevel + 1)
    logger.warning("%s", message)


def _ambiguous(error: APIError, tag: str, method: str, url: str) -> AmbiguousSubmissionError:
    status = f" (HTTP {error.status})" if isinstance(error, APIStatusError) else ""
    hint = f"Look for a job tagged {tag!r} before submitting again." if tag else "It had no tag."
    return AmbiguousSubmissionError(
        f"job submission may or may not have been accepted{status}: {error}. {hint}",
        job_tag=tag or None,
        method=method,
        url=url,
    )


def _loggable(url: str) -> str:
    # Our URLs never carry credentials; drop the query anyway to keep log lines short.
    return url.split("?", 1)[0]
