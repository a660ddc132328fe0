"""``/jobs`` routes: create, list, get, cancel, delete, results, logs, metrics, tags."""

from __future__ import annotations

import math
from datetime import datetime, timezone

from aiohttp import web

from aioqruntime.protocol._states import ServerJobState
from aioqruntime.server._context import CONTEXT, ServerContext, read_json
from aioqruntime.server._errors import ApiFailure
from aioqruntime.server._records import JobRecord
from aioqruntime.server._submissions import (
    admit_submission,
    check_tags,
    parse_submission,
    record_job,
    submission_answer,
    validated_executions,
)

__all__ = ["routes"]

routes = web.RouteTableDef()

JOB_NOT_FOUND_CODE = "1291"


def _job(ctx: ServerContext, request: web.Request) -> JobRecord:
    job = ctx.store.jobs.get(request.match_info["id"])
    if job is None or job.instance != ctx.instance_of(request):
        # Another instance's job is as invisible as a job that does not exist.
        raise ApiFailure(404, "Job not found", code=JOB_NOT_FOUND_CODE)
    return job


def _on_mock(ctx: ServerContext, backend: str | None) -> bool:
    info = ctx.backends.get(backend or "")
    return info is not None and info.list_entry_extra.get("class") == "mock"


def _bool_query(request: web.Request, name: str, default: bool | None) -> bool | None:
    value = request.query.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ApiFailure(400, f"Query parameter {name!r} must be true or false, got {value!r}")


@routes.post("/jobs")
async def create_job(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    instance = ctx.instance_of(request)
    admit_submission(ctx, instance)
    submission = parse_submission(ctx, await read_json(request), instance)
    executions = await validated_executions(ctx, submission)
    caller = request.headers.get("X-Qx-Client-Application")
    job = record_job(ctx, submission, executions, caller)
    await ctx.store.flush()  # answer only once the job is durable
    return web.json_response(submission_answer(job))


def _parse_time(name: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise ApiFailure(400, f"{name}: {value!r} is not an ISO-8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _int_query(request: web.Request, name: str, default: int, low: int, high: float) -> int:
    # Out-of-range or malformed values fall back to the default, as the service documents.
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        return default
    return value if low <= value <= high else default


@routes.get("/jobs")
async def list_jobs(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    instance = ctx.instance_of(request)
    query = request.query
    limit = _int_query(request, "limit", 200, 1, 200)
    offset = _int_query(request, "offset", 0, 0, math.inf)
    pending = _bool_query(request, "pending", None)
    exclude = _bool_query(request, "exclude_params", True)
    sort = query.get("sort", "DESC").upper()
    if sort not in ("ASC", "DESC"):
        raise ApiFailure(400, f"sort: must be ASC or DESC, got {query.get('sort')!r}")
    after = (
        _parse_time("created_after", query["created_after"]) if "created_after" in query else None
    )
    before = (
        _parse_time("created_before", query["created_before"])
        if "created_before" in query
        else None
    )
    wanted_tags = set(query.getall("tags", []))
    jobs = [j for j in ctx.store.jobs.values() if j.instance == instance]
    if pending is not None:
        jobs = [j for j in jobs if (not j.final) is pending]
    for key, attribute in (
        ("backend", "backend"),
        ("program", "program_id"),
        ("session_id", "session_id"),
    ):
        if key in query:
            jobs = [j for j in jobs if getattr(j, attribute) == query[key]]
    if wanted_tags:
        jobs = [j for j in jobs if wanted_tags.issubset(j.tags)]
    if not _bool_query(request, "include_mocks", False):
        jobs = [j for j in jobs if not _on_mock(ctx, j.backend)]
    if after is not None:
        jobs = [j for j in jobs if j.created > after]
    if before is not None:
        jobs = [j for j in jobs if j.created < before]
    jobs.sort(key=lambda j: j.sequence, reverse=sort == "DESC")
    page = jobs[offset : offset + limit]
    return web.json_response(
        {
            "jobs": [j.to_wire(include_params=not exclude) for j in page],
            "count": len(jobs),
            "limit": limit,
            "offset": offset,
        }
    )


@routes.get("/jobs/{id}")
async def get_job(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    job = _job(ctx, request)
    exclude = _bool_query(request, "exclude_params", False)
    return web.json_response(job.to_wire(include_params=not exclude))


@routes.delete("/jobs/{id}")
async def delete_job(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    job = _job(ctx, request)
    if not job.final:
        raise ApiFailure(409, f"Job {job.id} is {job.status.value}; only final jobs can be deleted")
    ctx.store.delete_job(job)
    await ctx.store.flush()
    return web.Response(status=204)


@routes.post("/jobs/{id}/cancel")
async def cancel_job(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    job = _job(ctx, request)
    if job.final:
        raise ApiFailure(409, f"Job {job.id} cannot be cancelled: it is already {job.status.value}")
    was_running = job.status is ServerJobState.RUNNING
    ctx.store.move_job(job, ServerJobState.CANCELLED, reason="Job cancelled by the user")
    if was_running:
        ctx.scheduler.cancel_running(job.id)
    session = ctx.store.sessions.get(job.session_id or "")
    if session is not None:
        ctx.store.finish_session_if_drained(session)
    await ctx.store.flush()
    return web.Response(status=204)


@routes.get("/jobs/{id}/results")
async def job_results(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    job = _job(ctx, request)
    text = ctx.store.results.get(job.id)
    if text is None or not job.final:
        return web.Response(status=204)
    if job.private and job.status is ServerJobState.COMPLETED:
        # Private results can be read once, then the service deletes them.
        ctx.store.results.pop(job.id, None)
    content_type = "application/json" if job.status is ServerJobState.COMPLETED else "text/plain"
    return web.Response(text=text, content_type=content_type)


@routes.get("/jobs/{id}/logs")
async def job_logs(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    job = _job(ctx, request)
    return web.Response(text="\n".join(job.logs) + "\n", content_type="text/plain")


@routes.get("/jobs/{id}/metrics")
async def job_metrics(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    return web.json_response(_job(ctx, request).metrics())


@routes.put("/jobs/{id}/tags")
async def replace_tags(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    job = _job(ctx, request)
    body = await read_json(request)
    if not isinstance(body, dict) or "tags" not in body:
        raise ApiFailure(400, "The body must be a JSON object with 'tags'")
    job.tags = check_tags(ctx, body["tags"], "tags")
    ctx.store.save_job(job)
    await ctx.store.flush()
    return web.Response(status=204)
