"""``ServiceCore``: what the parts of an open service share, and nothing else.

Internal. The parts live in their own modules: the REST client (:mod:`aioqruntime.client`),
submission pacing (:mod:`._limiter`), CPU work off the loop (:mod:`._offload`) and the
submission path (:mod:`._submit`); this object only holds them for the service, its sessions,
jobs and watchers while the service is open.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aioqruntime.client import RuntimeClient
from aioqruntime.protocol import CLIENT_TAG_PREFIX, PollSchedule
from aioqruntime.runtime._journal import Journal
from aioqruntime.runtime._limiter import (
    AUTO,
    IBM_SUBMISSIONS_PER_MINUTE,
    NOTICE_AFTER,
    NOTICE_INTERVAL,
    SubmissionLimiter,
    SubmissionRate,
    resolve_submission_rate,
)
from aioqruntime.runtime._offload import Offload
from aioqruntime.runtime._options import RuntimeOptions
from aioqruntime.transport import Transport

if TYPE_CHECKING:
    from aioqruntime.runtime._job import AsyncRuntimeJob

__all__ = [
    "AUTO",
    "CLIENT_TAG_PREFIX",
    "IBM_SUBMISSIONS_PER_MINUTE",
    "NOTICE_AFTER",
    "NOTICE_INTERVAL",
    "RuntimeOptions",
    "ServiceCore",
    "SubmissionLimiter",
    "SubmissionRate",
    "resolve_submission_rate",
]


class ServiceCore:
    """Shared by the service, its sessions, jobs and watchers while the service is open."""

    def __init__(
        self,
        *,
        transport: Transport,
        instance: str | None,
        poll_schedule: PollSchedule,
        decode_threads: int,
        submissions_per_minute: SubmissionRate,
        journal: Journal | None = None,
        live: weakref.WeakValueDictionary[str, AsyncRuntimeJob] | None = None,
    ) -> None:
        self.transport = transport
        #: The typed REST client: every request of the runtime goes through it.
        self.client = RuntimeClient(transport)
        self.instance = instance
        self.poll_schedule = poll_schedule
        self.offload = Offload(decode_threads)
        self.limiter = SubmissionLimiter(
            resolve_submission_rate(submissions_per_minute, transport.api_url),
            connections=transport.config.max_connections_per_host,
        )
        self.journal = journal
        #: Jobs of this service by client tag, while their handles are alive (resume() reuses).
        self.live: weakref.WeakValueDictionary[str, AsyncRuntimeJob] = (
            live if live is not None else weakref.WeakValueDictionary()
        )
        self.closed = False
        #: ``await service.backend(name)`` of the owning service (``job.backend()`` uses it).
        self.backend_loader: Callable[[str], Awaitable[Any]] | None = None
        #: ``submitted``, ``reconciled`` (found by tag after an ambiguous failure),
        #: ``resubmitted`` (confirmed absent, sent again), ``lookups``, ``rejected``, ``ambiguous``.
        self.counters: Counter[str] = Counter()
