"""``/sessions`` routes: create, details, stop accepting (close), cancel."""

from __future__ import annotations

from aiohttp import web

from aioqruntime.protocol._states import ServerJobState, SessionMode
from aioqruntime.server._context import CONTEXT, ServerContext, read_json
from aioqruntime.server._errors import ApiFailure
from aioqruntime.server._records import SessionRecord, new_id, utcnow

__all__ = ["routes"]

routes = web.RouteTableDef()

_INT32_MAX = 2_147_483_647


def _session(ctx: ServerContext, request: web.Request) -> SessionRecord:
    session = ctx.store.sessions.get(request.match_info["id"])
    if session is None or session.instance != ctx.instance_of(request):
        raise ApiFailure(404, "Session not found")
    return session


def _positive_int(body: dict[str, object], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _INT32_MAX:
        raise ApiFailure(400, f"{key}: must be an integer between 1 and {_INT32_MAX}")
    return value


@routes.post("/sessions")
async def create_session(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiFailure(400, "The request body must be a JSON object")
    mode_text = body.get("mode")
    try:
        mode = SessionMode(mode_text)
    except ValueError:
        raise ApiFailure(400, "mode: must be 'dedicated' or 'batch'") from None
    backend = body.get("backend") or body.get("backend_name")
    if backend is not None:
        if not isinstance(backend, str):
            raise ApiFailure(400, "backend: must be a backend name")
        if backend not in ctx.backends:
            raise ApiFailure(400, f"backend: backend {backend!r} not found", code="1007")
    max_ttl = _positive_int(body, "max_ttl") or ctx.config.default_max_ttl
    # Only channel partners may choose the interactive TTL; others get the server's.
    interactive = _positive_int(body, "interactive_ttl")
    # Unknown keys (the official client sends "instance") are ignored, as the service does.
    session = SessionRecord(
        id=new_id(),
        instance=ctx.instance_of(request),
        backend=backend or "",
        mode=mode,
        max_ttl=max_ttl,
        interactive_ttl=float(interactive) if interactive else ctx.config.interactive_ttl,
        created=utcnow(),
    )
    ctx.store.add_session(session)
    await ctx.store.flush()
    return web.json_response(session.to_wire())


@routes.get("/sessions/{id}")
async def get_session(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    return web.json_response(_session(ctx, request).to_wire())


@routes.patch("/sessions/{id}")
async def update_session(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    session = _session(ctx, request)
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("accepting_jobs"), bool):
        raise ApiFailure(400, "accepting_jobs: a boolean is required")
    if body["accepting_jobs"]:
        if session.closed:
            raise ApiFailure(409, f"Session {session.id} is closed and cannot accept jobs again")
        session.accepting_jobs = True
        ctx.store.save_session(session)
    elif not session.closed:
        # Close: queued and running jobs still run; the session closes once none remain.
        session.accepting_jobs = False
        session.state_reason = "closed by the user"
        ctx.store.save_session(session)
        ctx.store.finish_session_if_drained(session)
    await ctx.store.flush()
    return web.Response(status=204)


@routes.delete("/sessions/{id}/close")
async def cancel_session(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    session = _session(ctx, request)
    if not session.closed:
        # Cancel: stop accepting, queued jobs will not run, running ones finish.
        session.accepting_jobs = False
        session.state_reason = "cancelled by the user"
        ctx.store.save_session(session)
        ctx.store.cancel_queued(
            ctx.store.session_jobs(session.id, ServerJobState.QUEUED),
            "Session was cancelled; job did not run",
        )
        ctx.store.finish_session_if_drained(session)
    await ctx.store.flush()
    return web.Response(status=204)
