"""``ServiceCore``: what every part of an open service shares (transport, limiters, caches).

Internal. It also owns the submission path (``submit``): serialize the body in a worker thread,
wait for the client-side rate limiter, journal the submission (when a journal is configured),
``POST /jobs`` with a client tag through the exactly-once flow of :mod:`._submission`, and hand the
new job to a watcher.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

import anyio

from aioqruntime._exceptions import (
    AmbiguousSubmissionError,
    APIError,
    APIStatusError,
    RateLimitError,
    SessionClosedError,
)
from aioqruntime.protocol import (
    MAX_JOB_TAGS,
    HttpRequest,
    HttpResponse,
    JobCreated,
    PollSchedule,
    SlidingWindowLimit,
    create_job,
)
from aioqruntime.runtime._job import AsyncRuntimeJob, DoneCallback
from aioqruntime.runtime._journal import Journal
from aioqruntime.runtime._options import RuntimeOptions, check_job_size, check_submission
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
from aioqruntime.transport import Transport

if TYPE_CHECKING:
    from aioqruntime.runtime._watcher import JobWatcher

__all__ = [
    "CLIENT_TAG_PREFIX",
    "RuntimeOptions",
    "ServiceCore",
    "SubmissionLimiter",
    "current_label",
    "job_label",
]

logger = logging.getLogger("aioqruntime.runtime")

#: Every submission carries ``aioqruntime:<uuid4 hex>``: finds the job after an ambiguous failure.
CLIENT_TAG_PREFIX: Final = "aioqruntime:"
#: IBM's code for "the session is closed" on ``POST /jobs``.
_SESSION_CLOSED_CODES: Final = frozenset({"1217"})

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


class SubmissionLimiter:
    """Client-side pacing of ``POST /jobs``: queues submissions instead of failing them.

    The arithmetic is :class:`~aioqruntime.protocol.SlidingWindowLimit`, the service's own rule
    (at most ``per_minute`` in any 60 s, so a burst never draws a 429); this only sleeps.
    ``window`` other than 60 s scales time (tests).
    """

    def __init__(self, per_minute: float, *, window: float | None = None) -> None:
        self._limit = (
            SlidingWindowLimit(max(1, int(per_minute)), window)
            if window is not None
            else SlidingWindowLimit.per_minute(per_minute)
        )
        self.waits = 0

    async def acquire(self) -> None:
        now = anyio.current_time()
        delay = self._limit.acquire_delay(now)
        if delay <= 0:
            return
        self.waits += 1
        logger.info("rate limit: job submission waits %.1fs", delay)
        try:
            await anyio.sleep(delay)
        except BaseException:
            # Cancelled while queued: free the reserved slot, then re-raise.
            self._limit.refund(now + delay)
            raise

    def throttle(self) -> None:
        """The server said 429: count it as a use, so the next submissions space out."""
        self._limit.throttle(anyio.current_time())


class ServiceCore:
    """Shared by the service, its sessions, jobs and watchers while the service is open."""

    def __init__(
        self,
        *,
        transport: Transport,
        instance: str | None,
        poll_schedule: PollSchedule,
        decode_threads: int,
        submissions_per_minute: float | None,
        journal: Journal | None = None,
        live: weakref.WeakValueDictionary[str, AsyncRuntimeJob] | None = None,
    ) -> None:
        self.transport = transport
        self.instance = instance
        self.poll_schedule = poll_schedule
        self.decode_limiter = anyio.CapacityLimiter(decode_threads)
        self.limiter = SubmissionLimiter(submissions_per_minute) if submissions_per_minute else None
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

    # --- CPU work off the loop -----------------------------------------------------------------

    async def decode_result(self, text: str, decoder: Callable[[str], Any] | None) -> Any:
        """Decode a results document in a worker thread (never on the event loop)."""
        if decoder is None:
            from aioqruntime.codec import loads

            decoder = loads
        return await anyio.to_thread.run_sync(decoder, text, limiter=self.decode_limiter)

    async def encode(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run an encoder (QPY, numpy, JSON) in a worker thread."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.decode_limiter)

    # --- submission ----------------------------------------------------------------------------

    async def submit(
        self,
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
        client_tag = f"{CLIENT_TAG_PREFIX}{uuid.uuid4().hex}"
        tags = list(options.tags)
        if len(tags) < MAX_JOB_TAGS:
            tags.append(client_tag)
            lookup_tag: str | None = client_tag
        else:
            # No room for ours: the submission still works, only tag reconciliation will not
            # (an ambiguous failure then raises AmbiguousSubmissionError without a tag).
            logger.debug("8 user tags: submission goes without the client tag")
            lookup_tag = None
        body: dict[str, Any] = {"program_id": program_id, "backend": backend_name}
        if session_id:
            body["session_id"] = session_id
        if options.log_level:
            body["log_level"] = options.log_level
        if options.image:
            body["runtime"] = options.image
        if options.max_execution_time:
            body["cost"] = options.max_execution_time
        if options.private:
            body["private"] = True
        body["tags"] = tags
        body["params"] = dict(params)
        request: HttpRequest = await self.encode(_job_request, body)
        if self.limiter is not None:
            await self.limiter.acquire()
        journal = self.journal
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
            submitted = await self._post(request, lookup_tag)
        except APIError as exc:
            logger.warning(
                "submission of %s to %s failed (session %s, client tag %s): %s: %s",
                program_id,
                backend_name,
                session_id,
                client_tag,
                type(exc).__name__,
                exc,
            )
            if isinstance(exc, AmbiguousSubmissionError):
                self.counters["ambiguous"] += 1
                raise  # the journal keeps 'submitting': resume() looks the tag up again
            if isinstance(exc, RateLimitError) and self.limiter is not None:
                self.limiter.throttle()
            await self._rejected(client_tag)
            if session_id and isinstance(exc, APIStatusError) and exc.code in _SESSION_CLOSED_CODES:
                raise SessionClosedError(
                    f"session {session_id} is closed and accepts no more jobs: "
                    f"{exc.server_message or exc}"
                ) from exc
            raise
        self.counters["submitted"] += 1
        if journal is not None:
            await journal.submitted(
                client_tag,
                job_id=submitted.job_id,
                backend=submitted.backend,
                session_id=submitted.session_id,
            )
        job = AsyncRuntimeJob(
            submitted.job_id,
            core=self,
            watcher=watcher,
            backend_name=submitted.backend or backend_name,
            program_id=program_id,
            session_id=submitted.session_id or session_id,
            tags=tags,
            client_tag=lookup_tag,
            label=label,
            result_decoder=result_decoder,
        )
        self.live[client_tag] = job
        self.journal_settlement(job, client_tag)
        if callback is not None:
            job.add_done_callback(callback)
        watcher.track(job)
        logger.info(
            "submitted job %s (session %s, backend %s, program %s, client tag %s%s)",
            job.job_id(),
            job.session_id,
            job.backend_name,
            program_id,
            client_tag,
            ", found by tag after an ambiguous failure" if submitted.reconciled else "",
        )
        return job

    def journal_settlement(self, job: AsyncRuntimeJob, client_tag: str) -> None:
        """Mark the journal row settled once the job's outcome reaches this process."""
        journal = self.journal
        if journal is None:
            return

        def settled(settled_job: AsyncRuntimeJob) -> None:
            if settled_job.done():  # abandoned jobs stay unfinished: resume() finds them
                journal.note_settled(client_tag)

        job.add_settle_listener(settled)

    async def _rejected(self, client_tag: str) -> None:
        self.counters["rejected"] += 1
        if self.journal is not None:
            await self.journal.set_state(client_tag, "rejected")

    async def _post(self, request: HttpRequest, tag: str | None) -> Submitted:
        """``POST /jobs`` once; reconcile by ``tag`` after an ambiguous failure (see module)."""
        transport = self.transport
        if tag is None:
            response = await transport.send(request, submit_tag="")
            created = JobCreated.from_json(response.json())
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
                    self.counters["resubmitted"] += 1
            elif isinstance(step, Lookup):
                self.counters["lookups"] += 1

        async def post() -> HttpResponse:
            return await transport.send(request, submit_tag=tag)

        submitted = await drive(flow, post=post, send=transport.send, on_step=count)
        if submitted.reconciled:
            self.counters["reconciled"] += 1
        return submitted


def _job_request(body: Mapping[str, Any]) -> HttpRequest:
    """Serialize a job body into its ``POST /jobs`` request, refusing one over the size limit.

    CPU work (JSON of possibly megabytes of encoded pubs): runs in a worker thread.
    """
    from aioqruntime.codec import dumps

    request = create_job(dumps(body))
    check_job_size(len(request.body or b""))
    return request
