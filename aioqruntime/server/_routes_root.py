"""Root routes: the IAM, Global Search and Global Catalog stand-ins, ``/openapi.json``, and the
authenticated test/admin routes under ``/_local``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from aioqruntime.protocol._states import SessionState
from aioqruntime.server._auth import APIKEY_GRANT
from aioqruntime.server._context import CONTEXT, read_json
from aioqruntime.server._errors import ApiFailure
from aioqruntime.server._faults import parse_fault_spec
from aioqruntime.server._openapi import openapi_document

__all__ = ["routes"]

routes = web.RouteTableDef()

PLAN_ID = "aioqruntime-local-plan"


@routes.post("/identity/token")
async def identity_token(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    try:
        form = await request.post()
    except (HttpProcessingError, ValueError):
        # A broken form or multipart body (the message quotes request bytes: not echoed).
        return _iam_error(400, "BXNIM0109E", "Property missing or invalid: grant_type/apikey")
    grant = form.get("grant_type")
    apikey = form.get("apikey")
    if grant != APIKEY_GRANT or not isinstance(apikey, str) or not apikey:
        return _iam_error(400, "BXNIM0109E", "Property missing or invalid: grant_type/apikey")
    if not ctx.auth.api_key_matches(apikey):
        return _iam_error(400, "BXNIM0415E", "Provided API key could not be found.")
    return web.json_response(ctx.auth.issue())


def _iam_error(status: int, code: str, message: str) -> web.Response:
    # IAM answers in its own format, not the runtime's ErrorContainer.
    return web.json_response(
        {"errorCode": code, "errorMessage": message, "context": {"requestId": "local"}},
        status=status,
    )


@routes.post("/v3/resources/search")
async def global_search(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    item = {
        "crn": ctx.instance,
        "name": "aioqruntime-local",
        "service_plan_unique_id": PLAN_ID,
        "tags": [],
        # The official client drops instances whose doc.extensions is empty.
        "doc": {"extensions": {"virtual_private_endpoints": {}}},
    }
    return web.json_response({"items": [item], "limit": 100})


@routes.get("/catalog/api/v1/{plan_id}")
async def global_catalog(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "id": request.match_info["plan_id"],
            "overview_ui": {"en": {"display_name": "Local"}},
            "metadata": {"pricing": {"type": "free"}},
        }
    )


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(str(request.url.origin())))


# -- /_local: test hooks for out-of-process use (authenticated like the API) -------------------
async def _optional_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiFailure(400, "The body must be a JSON object")
    return body


def _backend_arg(request: web.Request, body: dict[str, Any]) -> str | None:
    backend = body.get("backend")
    if backend is None:
        return None
    if not isinstance(backend, str):
        raise ApiFailure(400, "backend: must be a backend name")
    if backend not in request.app[CONTEXT].backends:
        raise ApiFailure(404, f"Backend {backend!r} not found")
    return backend


@routes.post("/_local/pause")
async def admin_pause(request: web.Request) -> web.Response:
    body = await _optional_body(request)
    request.app[CONTEXT].scheduler.pause(_backend_arg(request, body))
    return web.Response(status=204)


@routes.post("/_local/resume")
async def admin_resume(request: web.Request) -> web.Response:
    body = await _optional_body(request)
    request.app[CONTEXT].scheduler.resume(_backend_arg(request, body))
    return web.Response(status=204)


@routes.post("/_local/fail_next_job")
async def admin_fail_next(request: web.Request) -> web.Response:
    body = await _optional_body(request)
    backend = _backend_arg(request, body)
    if backend is None:
        raise ApiFailure(400, "backend: required")
    code = body.get("reason_code", 1517)
    if isinstance(code, bool) or not isinstance(code, int):
        raise ApiFailure(400, "reason_code: must be an integer")
    reason = str(body.get("reason", "Injected failure"))
    request.app[CONTEXT].scheduler.fail_next_job(backend, reason, code)
    return web.Response(status=204)


@routes.get("/_local/jobs/{id}/wait")
async def admin_wait_job(request: web.Request) -> web.Response:
    """Long-poll until the job reaches one of ``?state=`` (repeatable; default: any final)."""
    ctx = request.app[CONTEXT]
    job_id = request.match_info["id"]
    wanted = {s.lower() for s in request.query.getall("state", [])}
    if job_id not in ctx.store.jobs:
        raise ApiFailure(404, "Job not found")

    def reached() -> bool:
        job = ctx.store.jobs.get(job_id)
        if job is None:
            return True
        return job.status.value.lower() in wanted if wanted else job.final

    await ctx.store.wait_for(reached)
    job = ctx.store.jobs.get(job_id)
    if job is None:
        raise ApiFailure(404, "Job was deleted")
    return web.json_response(job.to_wire(include_params=False))


@routes.get("/_local/sessions/{id}/wait")
async def admin_wait_session(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    session_id = request.match_info["id"]
    wanted = {s.lower() for s in request.query.getall("state", [SessionState.CLOSED.value])}
    if session_id not in ctx.store.sessions:
        raise ApiFailure(404, "Session not found")
    session = ctx.store.sessions[session_id]
    await ctx.store.wait_for(lambda: session.state.value in wanted)
    return web.json_response(session.to_wire())


@routes.get("/_local/events")
async def admin_events(request: web.Request) -> web.Response:
    events = request.app[CONTEXT].store.events
    return web.json_response({"events": [list(e) for e in events]})


@routes.get("/_local/requests")
async def admin_requests(request: web.Request) -> web.Response:
    log = request.app[CONTEXT].request_log
    return web.json_response({"requests": [r._asdict() for r in log]})


@routes.get("/_local/faults")
async def admin_fault_counts(request: web.Request) -> web.Response:
    faults = request.app[CONTEXT].faults
    return web.json_response({"counts": dict(faults.counts), "log": [list(x) for x in faults.log]})


@routes.put("/_local/faults")
async def admin_set_faults(request: web.Request) -> web.Response:
    body = await _optional_body(request)
    spec = body.get("spec", "")
    seed = body.get("seed")
    if not isinstance(spec, str) or (seed is not None and not isinstance(seed, int)):
        raise ApiFailure(400, "spec: a string; seed: an integer")
    try:
        rules = parse_fault_spec(spec)
    except ValueError as exc:
        raise ApiFailure(400, str(exc)) from exc
    request.app[CONTEXT].faults.set_rules(rules, seed)
    return web.Response(status=204)
