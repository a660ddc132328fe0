"""The aiohttp application: route table under both API prefixes, and the middleware chain.

Middlewares, outermost first:

1. ``record``: appends every request to ``server.request_log`` (method, path, query, status,
   instance) — also the ones that fail or are dropped — and registers the handler as in flight
   (shutdown cancels what is still running after a short grace);
2. ``inject_faults``: decides a request's fault (``_faults``); an injected 4xx/5xx or ``drop``
   is answered here (after the rule's latency) without running the handler; ``drop_after`` runs
   the handler and then drops the connection instead of answering;
3. ``errors``: turns :class:`ApiFailure` and aiohttp's own HTTP errors into the service's
   ``ErrorContainer`` JSON, a client that went away into a quiet DEBUG line, and any other
   unexpected exception into a logged 500;
4. ``authenticate``: every API and ``/_local`` route needs ``Bearer <jwt>`` or ``apikey <key>``;
5. ``body_limit``: a declared ``Content-Length`` above ``max_body_bytes`` is refused with 413
   before the body is read (a chunked body is cut off at the same size by aiohttp);
6. ``hold``: the latency of a request that goes on to its handler is waited here, *after* its
   body was read: aiohttp fails every later read of a request whose client disconnected, so
   reading first makes a held request behave like one whose answer was lost, never like one that
   silently vanished.

Requests that aiohttp refuses before any of this runs (a request line or header above 8190 bytes,
a malformed HTTP message) get the same ``ErrorContainer`` body from :class:`_RequestHandler`,
which logs only the error's class: aiohttp's own message quotes the offending bytes, which may
hold a credential.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import NoReturn

import anyio
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from aioqruntime.server import _routes_backends, _routes_jobs, _routes_root, _routes_sessions
from aioqruntime.server._auth import AuthError
from aioqruntime.server._context import (
    API_PREFIXES,
    CONTEXT,
    RequestRecord,
    ServerContext,
    api_path,
)
from aioqruntime.server._errors import ApiFailure, error_response
from aioqruntime.server._faults import retry_after_header

__all__ = ["JsonErrorsRunner", "build_app"]

logger = logging.getLogger("aioqruntime.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Without a configured limit, bodies up to this size are read (aiohttp's default is only 1 MiB).
_UNLIMITED_BODY = 1 << 30
#: Seconds of latency ``hold`` waits for a request (set by ``inject_faults``).
_HOLD = web.RequestKey("aioqruntime_fault_hold", float)


def _trace() -> str:
    return secrets.token_hex(8)


@web.middleware
async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    status = 599  # stays if the connection is dropped or the handler is cancelled
    task = ctx.inflight.enter()
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        ctx.inflight.leave(task)
        ctx.request_log.append(
            RequestRecord(
                request.method,
                request.path,
                request.query_string,
                status,
                request.headers.get("Service-CRN"),
            )
        )


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    if request.path.startswith("/_local"):
        return await handler(request)
    decision = ctx.faults.decide(request.method, api_path(request.path) or request.path)
    if decision is None:
        return await handler(request)
    status = decision.status
    if decision.drop or status is not None:
        # The handler never runs, so the wait cannot lose anything: wait here.
        if decision.latency > 0:
            await anyio.sleep(decision.latency)
        if status is None:
            _drop_connection(request)  # no answer at all: the client sees a dropped connection
        headers = {}
        if status in (429, 503):
            headers["Retry-After"] = retry_after_header(decision.retry_after)
        return error_response(
            status,
            f"Injected fault: {status}",
            trace=_trace(),
            code="injected_fault",
            headers=headers,
        )
    if decision.latency > 0:
        request[_HOLD] = decision.latency
    response = await handler(request)
    if decision.drop_after:
        # The handler ran (a job was created...); its answer is lost on the way back.
        _drop_connection(request)
    return response


def _drop_connection(request: web.Request) -> NoReturn:
    if request.transport is not None:
        request.transport.abort()
    raise _Dropped()


class _Dropped(web.HTTPException):
    status_code = 599
    empty_body = True


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiFailure as exc:
        return error_response(
            exc.status, exc.message, trace=_trace(), code=exc.code, headers=exc.headers
        )
    except _Dropped:
        raise
    except ConnectionError:
        # The client went away (aiohttp fails reads of a request whose connection was lost):
        # nobody is left to answer, and it is not the server's fault.
        logger.debug("client disconnected during %s %s", request.method, request.path)
        _drop_connection(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason
        if exc.status == 413:
            message = "Request body too large"
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(exc.status, message, trace=_trace(), headers=headers)
    except HttpProcessingError as exc:
        # A malformed body (e.g. a broken multipart form): the client's fault. The message
        # quotes request bytes, so it is neither logged nor echoed.
        status = exc.code if 400 <= exc.code < 500 else 400
        logger.debug("malformed request body in %s %s", request.method, request.path)
        return error_response(status, "Malformed request body", trace=_trace())
    except Exception:
        logger.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, "Internal server error", trace=_trace())


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if api_path(path) is not None or path.startswith("/_local"):
        ctx = request.app[CONTEXT]
        try:
            ctx.auth.check(request.headers.get("Authorization"))
        except AuthError as exc:
            raise ApiFailure(401, str(exc), code="unauthorized") from exc
    elif path.startswith("/v3/resources/search"):
        try:
            request.app[CONTEXT].auth.check(request.headers.get("Authorization"))
        except AuthError as exc:
            raise ApiFailure(401, str(exc), code="unauthorized") from exc
    return await handler(request)


@web.middleware
async def body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    limit = request.app[CONTEXT].config.max_body_bytes
    if limit is not None and (request.content_length or 0) > limit:
        raise ApiFailure(413, f"Request body larger than {limit} bytes")
    return await handler(request)


@web.middleware
async def hold(request: web.Request, handler: Handler) -> web.StreamResponse:
    delay = request.get(_HOLD)
    if delay:
        await _read_body(request)
        with request.app[CONTEXT].inflight.holding():
            await anyio.sleep(delay)
    return await handler(request)


async def _read_body(request: web.Request) -> None:
    """Read (and let aiohttp cache) the body, so the handler finds it after a disconnect."""
    if request.content_type == "multipart/form-data":
        try:
            await request.post()  # cached for the handler's own ``post()``
        except (HttpProcessingError, ValueError):
            raise ApiFailure(400, "Malformed request body") from None
    else:
        await request.read()  # cached for ``read()``, ``json()`` and ``post()`` of a plain form


class _RequestHandler(RequestHandler):
    """aiohttp's connection handler, answering its own refusals in the ``ErrorContainer`` shape."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            # Our own bug escaped every middleware: log it, answer without any detail.
            logger.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
            text = "Internal server error"
        else:
            # aiohttp's message quotes the offending request bytes: log the class only.
            logger.debug("refused a malformed HTTP request (%s)", type(exc).__name__)
            text = "Malformed HTTP request (request line or headers too long or invalid)"
        if request.writer.output_size > 0:
            raise ConnectionError("the response had started; cannot send an error answer")
        response = error_response(status, text, trace=_trace())
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _RequestHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorsRunner(web.AppRunner):
    """An ``AppRunner`` whose connections use :class:`_RequestHandler`."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return _Server(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )


def build_app(context: ServerContext) -> web.Application:
    limit = context.config.max_body_bytes
    app = web.Application(
        middlewares=[record, inject_faults, errors, authenticate, body_limit, hold],
        client_max_size=limit if limit is not None else _UNLIMITED_BODY,
    )
    app[CONTEXT] = context
    for prefix in API_PREFIXES:
        api = web.Application(client_max_size=limit if limit is not None else _UNLIMITED_BODY)
        api[CONTEXT] = context
        for table in (_routes_jobs.routes, _routes_sessions.routes, _routes_backends.routes):
            api.add_routes(table)
        app.add_subapp(prefix, api)
    app.add_routes(_routes_root.routes)
    return app
