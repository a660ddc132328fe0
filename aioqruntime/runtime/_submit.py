"""Submitting a job: check, serialize, pace, journal, ``POST /jobs`` exactly once, track.

The steps, each a function here: the client tag (:func:`_client_tags`), the wire body
(:func:`aioqruntime.protocol.job_body`, serialized in a worker thread), the limiter and the
journal (:func:`_paced_post`), the exactly-once flow of :mod:`._submission` driven against the
client layer (:func:`_post`), the mapping of a refused submission to a typed error
(:func:`_refused`), and the handle given to a watcher (:func:`_track`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import anyio

from aioqruntime._exceptions import (
    AmbiguousSubmissionError,
    APIError,
    APIStatusError,
    RateLimitError,
    SessionClosedError,
)
from aioqruntime.protocol import (
    CLIENT_TAG_PREFIX,
    MAX_JOB_TAGS,
    SESSION_CLOSED_CODE,
    HttpRequest,
    JobCreated,
    create_job,
    job_body,
    retry_delay,
)
from aioqruntime.runtime._job import AsyncRuntimeJob, DoneCallback
from aioqruntime.runtime._options import RuntimeOptions, check_job_size, check_submission
from aioqruntime.runtime._state import JobState
from aioqruntime.runtime._submission import (
    Lookup,
    Post,
    Step,
    Submitted,
    drive,
    lookup_request,
    now_utc,
    submission_flow,
)

if TYPE_CHECKING:
    from aioqruntime.runtime._core import ServiceCore
    from aioqruntime.runtime._watcher import JobWatcher

__all__ = ["current_label", "job_label", "journal_settlement", "submit_job"]

logger = logging.getLogger("aioqruntime.runtime")

_LABEL: ContextVar[str | None] = ContextVar("aioqruntime_job_label", default=None)


@contextmanager
def job_label(label: str | None) -> Iterator[None]:
    """Label every job submitted inside the block (by this task and the tasks it starts).

    The label is the caller's own name for a job: kept on the handle (``job.label``) and in the
    journal, never sent to the service. Works for every ``run()``, primitives included::

        with job_label("vqe-iteration-3"):
            job = await sampler.run([circuit])
    """
    token = _LABEL.set(label)
    try:
        yield
    finally:
        _LABEL.reset(token)


def current_label() -> str | None:
    """The label set by the innermost :func:`job_label` of this context."""
    return _LABEL.get()


async def submit_job(
    core: ServiceCore,
    *,
    program_id: str,
    backend_name: str,
    params: Mapping[str, Any],
    session_id: str | None,
    options: RuntimeOptions,
    watcher: JobWatcher,
    callback: DoneCallback | None = None,
    result_decoder: Callable[[str], Any] | None = None,
) -> AsyncRuntimeJob:
    """Check, serialize, pace, ``POST /jobs`` and return the watched job (no waiting for it).

    Everything that can be refused locally is refused before any request: the program id and
    inputs, the options (checked when ``options`` was built), and the serialized body's size
    against :data:`~aioqruntime.runtime._options.MAX_JOB_INPUT_BYTES` (measured in the worker
    thread that serializes it).
    """
    check_submission(program_id, params)
    label = options.label if options.label is not None else current_label()
    client_tag, tags, lookup_tag = _client_tags(options)
    body = job_body(
        program_id=program_id,
        backend=backend_name,
        params=params,
        tags=tags,
        session_id=session_id,
        log_level=options.log_level,
        image=options.image,
        max_execution_time=options.max_execution_time,
        private=bool(options.private),
    )
    request: HttpRequest = await core.offload.run(_job_request, body)
    journal = core.journal

    async def journal_submitting() -> None:
        if journal is not None:
            # Written before anything is sent: a crash from here on leaves the tag to look for.
            await journal.submitting(
                client_tag=client_tag,
                label=label,
                tags=options.tags,
                program_id=program_id,
                backend=backend_name,
                session_id=session_id,
            )

    try:
        submitted = await _paced_post(core, request, lookup_tag, journal_submitting)
    except APIError as exc:
        what = f"{program_id} to {backend_name}"
        error = await _refused(core, exc, what, client_tag, session_id)
        if error is exc:
            raise
        raise error from exc
    core.counters["submitted"] += 1
    if journal is not None:
        await journal.submitted(
            client_tag,
            job_id=submitted.job_id,
            backend=submitted.backend,
            session_id=submitted.session_id,
        )
    state: JobState[AsyncRuntimeJob] = JobState(
        submitted.job_id,
        watcher=watcher,
        backend_name=submitted.backend or backend_name,
        program_id=program_id,
        session_id=submitted.session_id or session_id,
        tags=tags,
        result_decoder=result_decoder,
    )
    job = AsyncRuntimeJob(state, core=core, client_tag=lookup_tag, label=label)
    if callback is not None:
        job.add_done_callback(callback)
    _track(core, state, client_tag, watcher, reconciled=submitted.reconciled)
    return job


def _client_tags(options: RuntimeOptions) -> tuple[str, list[str], str | None]:
    """Our client tag, the tags to send, and the tag to look the job up by (``None``: no room)."""
    client_tag = f"{CLIENT_TAG_PREFIX}{uuid.uuid4().hex}"
    tags = list(options.tags)
    if len(tags) < MAX_JOB_TAGS:
        tags.append(client_tag)
        return client_tag, tags, client_tag
    # No room for ours: the submission still works, only tag reconciliation will not
    # (an ambiguous failure then raises AmbiguousSubmissionError without a tag).
    logger.debug("8 user tags: submission goes without the client tag")
    return client_tag, tags, None


async def _refused(
    core: ServiceCore, exc: APIError, what: str, client_tag: str, session_id: str | None
) -> APIError | SessionClosedError:
    """The error a failed submission raises (logged; journal and counters updated)."""
    logger.warning(
        "submission of %s failed (session %s, client tag %s): %s: %s",
        what,
        session_id,
        client_tag,
        type(exc).__name__,
        exc,
    )
    if isinstance(exc, AmbiguousSubmissionError):
        core.counters["ambiguous"] += 1
        return exc  # the journal keeps 'submitting': resume() looks the tag up again
    await _rejected(core, client_tag)
    if session_id and isinstance(exc, APIStatusError) and exc.code == SESSION_CLOSED_CODE:
        return SessionClosedError(
            f"session {session_id} is closed and accepts no more jobs: {exc.server_message or exc}"
        )
    return exc


def _track(
    core: ServiceCore,
    state: JobState[AsyncRuntimeJob],
    client_tag: str,
    watcher: JobWatcher,
    *,
    reconciled: bool,
) -> None:
    assert state.handle is not None
    core.live[client_tag] = state.handle
    journal_settlement(core, state.handle, client_tag)
    watcher.track(state)
    logger.info(
        "submitted job %s (session %s, backend %s, program %s, client tag %s%s)",
        state.job_id,
        state.session_id,
        state.backend_name,
        state.program_id,
        client_tag,
        ", found by tag after an ambiguous failure" if reconciled else "",
    )


def journal_settlement(core: ServiceCore, job: AsyncRuntimeJob, client_tag: str) -> None:
    """Mark the journal row settled once the job's outcome reaches this process."""
    journal = core.journal
    if journal is None:
        return

    def settled(settled_job: AsyncRuntimeJob) -> None:
        if settled_job.done():  # abandoned jobs stay unfinished: resume() finds them
            journal.note_settled(client_tag)

    job.add_settle_listener(settled)


async def _paced_post(
    core: ServiceCore,
    request: HttpRequest,
    lookup_tag: str | None,
    before_first_send: Callable[[], Awaitable[None]],
) -> Submitted:
    """Wait for the limiter, journal, ``POST /jobs``; a 429 is waited out and sent again.

    A 429 means the service created nothing, so sending the same body again is safe; the
    limiter holds every submission until its ``Retry-After`` and learns the service's rule.
    Only ``retry.max_attempts`` 429 answers in a row for one submission raise
    :class:`RateLimitError` (time spent queued does not count).
    """
    sent = False
    rejections = 0
    retry = core.transport.retry
    while True:
        await core.limiter.acquire()
        if not sent:
            sent = True
            await before_first_send()
        sent_at = anyio.current_time()
        try:
            async with core.limiter.sending:
                submitted = await _post(core, request, lookup_tag)
        except RateLimitError as exc:
            rejections += 1
            wait = retry_delay(retry, rejections, exc.headers.get("Retry-After"), now=time.time())
            core.limiter.throttle(wait, sent_at)
            if rejections >= retry.max_attempts:
                raise
            # Counted as the transport counts its own retries (statistics: retries.429).
            core.transport.counters["retries"] += 1
            core.transport.counters["retries.429"] += 1
            logger.info(
                "job submission (client tag %s) refused with 429: sent again in %.2fs",
                lookup_tag,
                wait,
            )
            continue
        core.limiter.accepted(sent_at)
        return submitted


async def _rejected(core: ServiceCore, client_tag: str) -> None:
    core.counters["rejected"] += 1
    if core.journal is not None:
        await core.journal.set_state(client_tag, "rejected")


async def _post(core: ServiceCore, request: HttpRequest, tag: str | None) -> Submitted:
    """``POST /jobs`` once; reconcile by ``tag`` after an ambiguous failure (see module)."""
    transport = core.transport
    jobs = core.client.jobs
    if tag is None:
        created = await jobs.create(request, tag=None)
        return Submitted(created.id, created.backend, created.session_id)
    grace = transport.config.timeouts.submit_grace or 0.0
    flow = submission_flow(
        tag,
        transport.retry,
        request=lookup_request(tag, since=now_utc()),
        grace=grace,
    )
    posts = 0

    def count(step: Step) -> None:
        nonlocal posts
        if isinstance(step, Post):
            posts += 1
            if posts > 1:
                core.counters["resubmitted"] += 1
        elif isinstance(step, Lookup):
            core.counters["lookups"] += 1

    async def post() -> JobCreated:
        return await jobs.create(request, tag=tag)

    submitted = await drive(flow, post=post, lookup=jobs.list_page, on_step=count)
    if submitted.reconciled:
        core.counters["reconciled"] += 1
    return submitted


def _job_request(body: Mapping[str, Any]) -> HttpRequest:
    """Serialize a job body into its ``POST /jobs`` request, refusing one over the size limit.

    CPU work (JSON of possibly megabytes of encoded pubs): runs in a worker thread.
    """
    from aioqruntime.codec import dumps  # the codec (qiskit) loads on first use

    request = create_job(dumps(body))
    check_job_size(len(request.body or b""))
    return request
