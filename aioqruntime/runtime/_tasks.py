"""``run_concurrently``: a task group whose failure reaches the caller as itself.

anyio task groups raise an ``ExceptionGroup`` as soon as a child fails, even when only one did.
The public methods that fan out requests (``service.backend()``, ``backends()``, ``resume()``)
must raise the typed error of the tree instead (``NotFoundError``, not an ``ExceptionGroup``
wrapping it), so their children go through this helper.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

import anyio

__all__ = ["run_concurrently"]

logger = logging.getLogger("aioqruntime.runtime")


async def run_concurrently(calls: Iterable[Callable[[], Awaitable[object]]]) -> None:
    """Await every call concurrently; the first ``Exception`` cancels the rest and is raised.

    Only ``Exception`` is caught in the children: a cancellation from outside passes through
    untouched (style C7). Failures of other children that happen before they are cancelled are
    logged at DEBUG (the first one is the one raised).
    """
    errors: list[Exception] = []

    async with anyio.create_task_group() as tg:

        async def guarded(call: Callable[[], Awaitable[object]]) -> None:
            try:
                await call()
            except Exception as exc:  # raised below, unwrapped from the task group
                errors.append(exc)
                tg.cancel_scope.cancel()

        for call in calls:
            tg.start_soon(guarded, call)
    if errors:
        for extra in errors[1:]:
            logger.debug("another concurrent request failed too: %r", extra)
        raise errors[0]
