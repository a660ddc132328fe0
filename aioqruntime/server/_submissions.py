"""``POST /jobs`` as a service: admit, parse the body, validate the params, record the job.

The route (``_routes_jobs.create_job``) only strings these together, so each rule lives in one
small function. The checks run in the order the service applies them (the first problem found is
the one answered), and every refusal is an :class:`ApiFailure` with the code clients rely on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio

from aioqruntime.server._context import ServerContext
from aioqruntime.server._errors import ApiFailure
from aioqruntime.server._limits import SubmissionRateLimiter
from aioqruntime.server._records import JobRecord, SessionRecord, new_id, utcnow
from aioqruntime.server._scheduler import BackendInfo
from aioqruntime.server._validate import JobValidationError, validate_params

__all__ = [
    "JobSubmission",
    "admit_submission",
    "check_tags",
    "parse_submission",
    "record_job",
    "submission_answer",
    "validated_executions",
]

#: Programs the local server runs; other real programs are refused with 400, unknown ones 404.
SUPPORTED_PROGRAMS = frozenset({"sampler", "estimator", "executor"})
#: Real programs whose work (learning a device's noise, calibrating it) an emulator cannot do.
NOT_EMULATED = frozenset({"noise-learner", "calibrate"})
KNOWN_UNSUPPORTED = frozenset({"circuit-runner", "qasm3-runner"})
LOG_LEVELS = frozenset({"critical", "error", "warning", "info", "debug"})
SESSION_CLOSED_CODE = "1217"

#: Two threads at a time decode and validate params (QPY/numpy work stays off the event loop).
_VALIDATION_LIMITER: list[anyio.CapacityLimiter] = []


def _limiter() -> anyio.CapacityLimiter:
    if not _VALIDATION_LIMITER:
        _VALIDATION_LIMITER.append(anyio.CapacityLimiter(2))
    return _VALIDATION_LIMITER[0]


@dataclass
class JobSubmission:
    """A ``POST /jobs`` body whose fields are all well-formed (params not yet validated)."""

    instance: str
    program_id: str
    backend: BackendInfo
    backend_name: str
    params: dict[str, Any]
    session_id: str | None = None
    session: SessionRecord | None = None
    tags: list[str] = field(default_factory=list)
    log_level: str = "warning"
    cost: int | None = None
    private: bool = False
    runtime: str | None = None
    calibration_id: str | None = None


def admit_submission(ctx: ServerContext, instance: str) -> None:
    """The server's ``--rate-limit``: 429 with ``Retry-After`` when the instance is over it."""
    if ctx.limiter is None:
        return
    wait = ctx.limiter.try_acquire(instance)
    if wait is not None:
        raise ApiFailure(
            429,
            f"Too many job submissions: at most {ctx.limiter.per_minute} per minute",
            code="rate_limited",
            headers={"Retry-After": SubmissionRateLimiter.retry_after_header(wait)},
        )


def check_tags(ctx: ServerContext, value: Any, where: str) -> list[str]:
    """``value`` as a list of tags within the server's limits, or 400."""
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


def parse_submission(ctx: ServerContext, body: Any, instance: str) -> JobSubmission:
    """Every field of the body checked, in the service's order; 400/404 on the first problem."""
    if not isinstance(body, dict):
        raise ApiFailure(400, "The request body must be a JSON object")
    program_id = _program_id(body)
    backend_name = _backend_name(ctx, body)
    session_id = body.get("session_id")
    session = _open_session(ctx, session_id, instance, backend_name)
    submission = JobSubmission(
        instance=instance,
        program_id=program_id,
        backend=ctx.backends[backend_name],
        backend_name=backend_name,
        params={},
        session_id=session_id,
        session=session,
        tags=check_tags(ctx, body.get("tags"), "tags"),
    )
    _read_job_fields(body, submission)
    params = body.get("params")
    if not isinstance(params, dict):
        raise ApiFailure(400, "params: a JSON object with the program inputs is required")
    submission.params = params
    return submission


def _program_id(body: dict[str, Any]) -> str:
    program_id = body.get("program_id")
    if not isinstance(program_id, str) or not program_id:
        raise ApiFailure(400, "program_id: a program id is required")
    if program_id in SUPPORTED_PROGRAMS:
        return program_id
    if program_id in NOT_EMULATED:
        raise ApiFailure(
            400,
            f"program_id: {program_id!r} is not emulated by the local server (it measures "
            "a real device's noise); only 'sampler', 'estimator' and 'executor' run here",
        )
    if program_id in KNOWN_UNSUPPORTED:
        raise ApiFailure(400, f"program_id: {program_id!r} is not run by the local server")
    raise ApiFailure(404, f"program_id: program {program_id!r} not found", code="not_found")


def _backend_name(ctx: ServerContext, body: dict[str, Any]) -> str:
    backend_name = body.get("backend")
    if not isinstance(backend_name, str) or not backend_name:
        raise ApiFailure(400, "backend: a backend name is required")
    if backend_name not in ctx.backends:
        raise ApiFailure(400, f"backend: backend {backend_name!r} not found", code="1007")
    return backend_name


def _open_session(
    ctx: ServerContext, session_id: Any, instance: str, backend_name: str
) -> SessionRecord | None:
    """The caller's session that accepts jobs on ``backend_name``, ``None`` for job mode."""
    if session_id is None:
        return None
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
    return session


def _read_job_fields(body: dict[str, Any], submission: JobSubmission) -> None:
    """The job's optional settings (log level, cost, privacy, image, calibration)."""
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
    submission.log_level = log_level.lower()
    submission.cost = cost
    submission.private = private
    submission.runtime = runtime
    submission.calibration_id = calibration_id


async def validated_executions(ctx: ServerContext, submission: JobSubmission) -> int:
    """The params validated in a worker thread; their executions, or 400 with code 1002."""
    backend = submission.backend
    try:
        return await anyio.to_thread.run_sync(
            lambda: validate_params(
                submission.program_id,
                submission.params,
                backend=submission.backend_name,
                target=backend.target,
                configuration=backend.configuration,
                max_executions=ctx.config.max_executions,
                max_inflated_bytes=ctx.config.max_inflated_bytes,
            ),
            limiter=_limiter(),
        )
    except JobValidationError as exc:
        raise ApiFailure(400, str(exc), code="1002") from exc


def record_job(
    ctx: ServerContext, submission: JobSubmission, executions: int, caller: str | None
) -> JobRecord:
    """The queued job in the store (and its session touched); the caller flushes."""
    job = JobRecord(
        id=new_id(),
        instance=submission.instance,
        program_id=submission.program_id,
        backend=submission.backend_name,
        created=utcnow(),
        params_text=json.dumps(submission.params),
        session_id=submission.session_id,
        tags=submission.tags,
        cost=submission.cost,
        log_level=submission.log_level,
        private=submission.private,
        runtime=submission.runtime,
        calibration_id=submission.calibration_id,
        caller=caller,
        executions=executions,
    )
    session = submission.session
    if session is not None:
        session.backend = session.backend or submission.backend_name
        session.last_job_submitted = job.created
        ctx.store.save_session(session)
    ctx.store.add_job(job)
    return job


def submission_answer(job: JobRecord) -> dict[str, Any]:
    """The body of a successful ``POST /jobs``."""
    answer: dict[str, Any] = {"id": job.id, "backend": job.backend}
    if job.session_id is not None:
        answer["session_id"] = job.session_id
    if job.private:
        answer["private"] = True
    return answer
