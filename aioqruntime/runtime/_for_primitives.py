"""What the layers above (primitives, variational) need of an open service, as functions.

They used to reach into the service's private core; these are the named entry points instead.
The last section holds the seams tests use to observe or pace an open service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aioqruntime.protocol import PollSchedule
from aioqruntime.runtime._job import AsyncRuntimeJob
from aioqruntime.runtime._limiter import SubmissionLimiter
from aioqruntime.runtime._options import RuntimeOptions
from aioqruntime.runtime._submit import submit_job

if TYPE_CHECKING:
    from aioqruntime.runtime._service import AsyncRuntimeService
    from aioqruntime.runtime._session import AsyncSession

__all__ = [
    "replace_submission_limiter",
    "run_off_loop",
    "session_poll_schedule",
    "submission_limiter",
    "submit_in_job_mode",
]


async def run_off_loop(service: AsyncRuntimeService, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in one of the open service's worker threads (coercion, checks, encoding)."""
    return await (await service._open_core()).offload.run(fn, *args)


async def submit_in_job_mode(
    service: AsyncRuntimeService,
    *,
    program_id: str,
    backend_name: str,
    params: Mapping[str, Any],
    options: RuntimeOptions,
    result_decoder: Callable[[str], Any] | None = None,
) -> AsyncRuntimeJob:
    """One job on ``backend_name`` outside any session, watched by the service's watcher.

    ``result_decoder(text)`` replaces the default decoding of the results document.
    """
    return await submit_job(
        await service._open_core(),
        program_id=program_id,
        backend_name=backend_name,
        params=params,
        session_id=None,
        options=options,
        watcher=service._watcher_or_raise(),
        result_decoder=result_decoder,
    )


# --- seams for tests and diagnostics -------------------------------------------------------------


def submission_limiter(service: AsyncRuntimeService) -> SubmissionLimiter:
    """The open service's client-side pacing of ``POST /jobs`` (its queue, waits and rule)."""
    return service._core_or_raise().limiter


def replace_submission_limiter(service: AsyncRuntimeService, limiter: SubmissionLimiter) -> None:
    """Pace the open service's next submissions with ``limiter`` (tests: a time-scaled window)."""
    service._core_or_raise().limiter = limiter


def session_poll_schedule(session: AsyncSession) -> PollSchedule | None:
    """The schedule the entered session's (or batch's) own watcher polls by; ``None`` outside."""
    watcher = session._watcher
    return None if watcher is None else watcher.schedule
