"""``/jobs`` routes: create, list, get, cancel, delete, results, logs, metrics, tags."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

import anyio
from aiohttp import web

from aioqruntime.protocol._states import ServerJobState
from aioqruntime.server._context import CONTEXT, ServerContext, read_json
from aioqruntime.server._errors import ApiFailure
from aioqruntime.server._limits import SubmissionRateLimiter
from aioqruntime.server._records import JobRecord, new_id, utcnow
from aioqruntime.server._validate import JobValidationError, validate_params

__all__ = ["routes"]

routes = web.RouteTableDef()

#: Programs the local server runs; other real programs are refused with 400, unknown ones 404.
SUPPORTED_PROGRAMS = frozenset({"sampler", "estimator", "executor"})
#: Real programs whose work (learning a device's noise, calibrating it) an emulator cannot do.
NOT_EMULATED = frozenset({"noise-learner", "calibrate"})
KNOWN_UNSUPPORTED = frozenset({"circuit-runner", "qasm3-runner"})
LOG_LEVELS = frozenset({"critical", "error", "warning", "info", "debug"})
SESSION_CLOSED_CODE = "1217"
JOB_NOT_FOUND_CODE = "1291"

#: One thread at a time decodes and validates params (QPY/numpy work stays off the event loop).
_VALIDATION_LIMITER: list[anyio.CapacityLimiter] = []


def _limiter() -> anyio.CapacityLimiter:
    if not _VALIDATION_LIMITER:
        _VALIDATION_LIMITER.append(anyio.CapacityLimiter(2))
    return _VALIDATION_LIMITER[0]


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


def _tags(ctx: ServerContext, value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ApiFailure(400, f"{where}: must be a list of strings")
    limit, length = ctx.config.max_tags, ctx.config.max_tag_length
    if limit is not None and len(value) > limit:
        raise ApiFailure(400, f"{where}: at most {limit} tags are allowed, got {len(value)}")
    if length is not None:
        for tag in value:
            if len(tag) > length:
                raise ApiFailure(400, f"{where}: tag {tag[:20]!r}... is longer than {length} chars")
    return list(value)


@routes.post("/jobs")
async def create_job(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    instance = ctx.instance_of(request)
    if ctx.limiter is not None:
        wait = ctx.limiter.try_acquire(instance)
        if wait is not None:
            raise ApiFailure(
                429,
                f"Too many job submissions: at most {ctx.limiter.per_minute} per minute",
                code="rate_limited",
                headers={"Retry-After": SubmissionRateLimiter.retry_after_header(wait)},
            )
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiFailure(400, "The request body must be a JSON object")
    program_id = body.get("program_id")
    if not isinstance(program_id, str) or not program_id:
        raise ApiFailure(400, "program_id: a program id is required")
    if program_id not in SUPPORTED_PROGRAMS:
        if program_id in NOT_EMULATED:
            raise ApiFailure(
                400,
                f"program_id: {program_id!r} is not emulated by the local server (it measures "
                "a real device's noise); only 'sampler', 'estimator' and 'executor' run here",
            )
        if program_id in KNOWN_UNSUPPORTED:
            raise ApiFailure(400, f"program_id: {program_id!r} is not run by the local server")
        raise ApiFailure(404, f"program_id: program {program_id!r} not found", code="not_found")
    backend_name = body.get("backend")
    if not isinstance(backend_name, str) or not backend_name:
        raise ApiFailure(400, "backend: a backend name is required")
    if backend_name not in ctx.backends:
        raise ApiFailure(400, f"backend: backend {backend_name!r} not found", code="1007")
    backend = ctx.backends[backend_name]

    session_id = body.get("session_id")
    session = None
    if session_id is not None:
        if not isinstance(session_id, str) or not 1 <= len(session_id) <= 36:
            raise ApiFailure(400, "session_id: must be a string of 1 to 36 characters")
        session = ctx.store.sessions.get(session_id)
        if session is None or session.instance != instance:
            raise ApiFailure(400, f"session_id: session {session_id!r} not found")
        # Refused with 400 (not 409): the service validates the submission and rejects it,
        # it never creates a job in a closed session (protocol.md §13 leaves the code open).
        if session.closed or not session.accepting_jobs:
            raise ApiFailure(
                400,
                f"Session {session_id} has been closed; it does not accept new jobs",
                code=SESSION_CLOSED_CODE,
            )
        if session.backend and session.backend != backend_name:
            raise ApiFailure(
                400,
                f"backend: session {session_id} runs on {session.backend!r}, not {backend_name!r}",
            )
    tags = _tags(ctx, body.get("tags"), "tags")
    log_level = body.get("log_level", "warning")
    if not isinstance(log_level, str) or log_level.lower() not in LOG_LEVELS:
        raise ApiFailure(400, f"log_level: must be one of {sorted(LOG_LEVELS)} (any case)")
    cost = body.get("cost")
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int) or cost < 0):
        raise ApiFailure(400, "cost: must be a non-negative integer number of seconds")
    private = body.get("private", False)
    if not isinstance(private, bool):
        raise ApiFailure(400, "private: must be a boolean")
    runtime = body.get("runtime")
    if runtime is not None and not isinstance(runtime, str):
        raise ApiFailure(400, "runtime: must be a string 'name:tag'")
    calibration_id = body.get("calibration_id")
    if calibration_id is not None and not isinstance(calibration_id, str):
        raise ApiFailure(400, "calibration_id: must be a string")
    params = body.get("params")
    if not isinstance(params, dict):
        raise ApiFailure(400, "params: a JSON object with the program inputs is required")

    try:
        executions = await anyio.to_thread.run_sync(
            lambda: validate_params(
                program_id,
                params,
                backend=backend_name,
                target=backend.target,
                configuration=backend.configuration,
                max_executions=ctx.config.max_executions,
                max_inflated_bytes=ctx.config.max_inflated_bytes,
            ),
            limiter=_limiter(),
        )
    except JobValidationError as exc:
        raise ApiFailure(400, str(exc), code="1002") from exc

    job = JobRecord(
        id=new_id(),
        instance=instance,
        program_id=program_id,
        backend=backend_name,
        created=utcnow(),
        params_text=json.dumps(params),
        session_id=session_id,
        tags=tags,
        cost=cost,
        log_level=log_level.lower(),
        private=private,
        runtime=runtime,
        calibration_id=calibration_id,
        caller=request.headers.get("X-Qx-Client-Application"),
        executions=executions,
    )
    if session is not None:
        session.backend = session.backend or backend_name
        session.last_job_submitted = job.created
        ctx.store.save_session(session)
    ctx.store.add_job(job)
    await ctx.store.flush()  # answer only once the job is durable
    answer: dict[str, Any] = {"id": job.id, "backend": job.backend}
    if session_id is not None:
        answer["session_id"] = session_id
    if private:
        answer["private"] = True
    return web.json_response(answer)


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
    job.tags = _tags(ctx, body["tags"], "tags")
    ctx.store.save_job(job)
    await ctx.store.flush()
    return web.Response(status=204)
