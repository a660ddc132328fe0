"""The async client: service, sessions and batches, jobs as futures, and the shared watcher.

Import these from :mod:`aioqruntime` (``from aioqruntime import AsyncRuntimeService``).
"""

from __future__ import annotations

from aioqruntime.runtime._as_completed import as_completed
from aioqruntime.runtime._backend import BackendStatusInfo, ServiceBackend
from aioqruntime.runtime._for_primitives import run_off_loop, submit_in_job_mode
from aioqruntime.runtime._job import AsyncRuntimeJob, DoneCallback, JobStatusReading
from aioqruntime.runtime._journal import JournalEntry, JournalSession
from aioqruntime.runtime._options import MAX_JOB_INPUT_BYTES
from aioqruntime.runtime._service import AsyncRuntimeService
from aioqruntime.runtime._session import AsyncBatch, AsyncSession
from aioqruntime.runtime._submit import job_label

__all__ = [
    "MAX_JOB_INPUT_BYTES",
    "AsyncBatch",
    "AsyncRuntimeJob",
    "AsyncRuntimeService",
    "AsyncSession",
    "BackendStatusInfo",
    "DoneCallback",
    "JobStatusReading",
    "JournalEntry",
    "JournalSession",
    "ServiceBackend",
    "as_completed",
    "job_label",
    # for the primitives layer (not re-exported by the package):
    "run_off_loop",
    "submit_in_job_mode",
]
