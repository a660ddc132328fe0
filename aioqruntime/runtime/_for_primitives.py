"""What the layers above (primitives, variational) need of an open service, as functions.

They used to reach into the service's private core; these are the named entry points instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aioqruntime.runtime._job import AsyncRuntimeJob
from aioqruntime.runtime._options import RuntimeOptions
from aioqruntime.runtime._submit import submit_job

if TYPE_CHECKING:
    from aioqruntime.runtime._service import AsyncRuntimeService

__all__ = ["run_off_loop", "submit_in_job_mode"]


async def run_off_loop(service: AsyncRuntimeService, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in one of the open service's worker threads (coercion, checks, encoding)."""
    return await service._core_or_raise().offload.run(fn, *args)


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
        service._core_or_raise(),
        program_id=program_id,
        backend_name=backend_name,
        params=params,
        session_id=None,
        options=options,
        watcher=service._watcher_or_raise(),
        result_decoder=result_decoder,
    )
