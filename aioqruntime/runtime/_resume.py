"""``service.resume()``'s steps: find journaled submissions on the service, re-attach their jobs."""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from aioqruntime._exceptions import AmbiguousSubmissionError
from aioqruntime.runtime._job import AsyncRuntimeJob
from aioqruntime.runtime._journal import Journal, JournalEntry
from aioqruntime.runtime._state import JobState
from aioqruntime.runtime._submission import drive, lookup_request, reconcile_flow
from aioqruntime.runtime._submit import journal_settlement

if TYPE_CHECKING:
    from aioqruntime.runtime._core import ServiceCore
    from aioqruntime.runtime._watcher import JobWatcher

__all__ = ["look_up", "reattach"]

logger = logging.getLogger("aioqruntime.runtime")


async def look_up(core: ServiceCore, journal: Journal, entry: JournalEntry) -> JournalEntry | None:
    """Find the job of a submission journaled without its answer, by its client tag.

    Found: the journal records it and the entry comes back with its job id. Not found (the
    service never received it): marked ``not_found``. Lookups failing: left as it is (logged).
    """
    grace = core.transport.config.timeouts.submit_grace or 0.0
    flow = reconcile_flow(
        entry.client_tag,
        core.transport.retry,
        request=lookup_request(
            entry.client_tag, since=datetime.fromtimestamp(entry.submitted_at, timezone.utc)
        ),
        wait_first=max(0.0, entry.submitted_at + grace - time.time()),
    )
    try:
        job = await drive(flow, post=_no_post, lookup=core.client.jobs.list_page)
    except AmbiguousSubmissionError as exc:
        logger.warning("resume: could not look up %s: %s", entry.client_tag, exc)
        return None
    if job is None:
        logger.warning(
            "resume: no job carries %s (label %r): the submission never reached the service",
            entry.client_tag,
            entry.label,
        )
        await journal.set_state(entry.client_tag, "not_found")
        return None
    await journal.submitted(
        entry.client_tag, job_id=job.id, backend=job.backend, session_id=job.session_id
    )
    return dataclasses.replace(entry, job_id=job.id, session_id=job.session_id or entry.session_id)


def reattach(core: ServiceCore, watcher: JobWatcher, entry: JournalEntry) -> AsyncRuntimeJob:
    """A watched handle for the journaled job ``entry`` (which has its job id)."""
    assert entry.job_id is not None
    state: JobState[AsyncRuntimeJob] = JobState(
        entry.job_id,
        watcher=watcher,
        backend_name=entry.backend,
        program_id=entry.program_id,
        session_id=entry.session_id,
        tags=(*entry.tags, entry.client_tag),
    )
    job = AsyncRuntimeJob(state, core=core, client_tag=entry.client_tag, label=entry.label)
    core.live[entry.client_tag] = job
    journal_settlement(core, job, entry.client_tag)
    watcher.track(state)
    return job


async def _no_post() -> Any:
    raise AssertionError("a reconciliation flow never submits")
