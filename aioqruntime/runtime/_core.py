"""``ServiceCore``: what every part of an open service shares (transport, limiters, caches).

Internal. It also owns the submission path (``submit``): serialize the body in a worker thread,
wait for the client-side rate limiter, journal the submission (when a journal is configured),
``POST /jobs`` with a client tag through the exactly-once flow of :mod:`._submission`, and hand the
new job to a watcher.
"""

from __future__ import annotations

import logging
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, Literal

import anyio

from aioqruntime._exceptions import (
    AmbiguousSubmissionError,
    APIError,
    APIStatusError,
    InvalidInputError,
    RateLimitError,
    SessionClosedError,
)
from aioqruntime.client import RuntimeClient
from aioqruntime.protocol import (
    MAX_JOB_TAGS,
    HttpRequest,
    JobCreated,
    PollSchedule,
    SlidingWindowLimit,
    create_job,
    retry_delay,
)
from aioqruntime.protocol._ratelimit import SubmissionPacing
from aioqruntime.runtime._account import is_ibm_host
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
    "AUTO",
    "CLIENT_TAG_PREFIX",
    "IBM_SUBMISSIONS_PER_MINUTE",
    "RuntimeOptions",
    "ServiceCore",
    "SubmissionLimiter",
    "SubmissionRate",
    "current_label",
    "job_label",
    "resolve_submission_rate",
]

logger = logging.getLogger("aioqruntime.runtime")

#: Every submission carries ``aioqruntime:<uuid4 hex>``: finds the job after an ambiguous failure.
CLIENT_TAG_PREFIX: Final = "aioqruntime:"
#: IBM's code for "the session is closed" on ``POST /jobs``.
_SESSION_CLOSED_CODES: Final = frozenset({"1217"})
#: IBM's documented limit on job submissions per user (protocol.md §8.4).
IBM_SUBMISSIONS_PER_MINUTE: Final = 5.0
#: ``submissions_per_minute`` default: IBM's limit on IBM's hosts, none elsewhere.
AUTO: Final = "auto"
SubmissionRate = float | Literal["auto"] | None
#: A submission held back longer than this is said at WARNING (once per backlog)...
NOTICE_AFTER: Final = 1.0
#: ...and not again within this many seconds.
NOTICE_INTERVAL: Final = 60.0

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

    The arithmetic is :class:`~aioqruntime.protocol._ratelimit.SubmissionPacing`: the configured
    rule (``per_minute``, the service's own sliding window, so a burst never draws a 429; ``None``
    for none), a gate closed by each 429 until its ``Retry-After``, and the rule learned from
    those 429s. This only waits. ``window`` other than 60 s scales time (tests).

    A wait of more than :data:`NOTICE_AFTER` seconds is said once at WARNING (how many wait, for
    how long), at most once per :data:`NOTICE_INTERVAL`; :meth:`backlog` feeds progress bars.
    """

    def __init__(self, per_minute: float | None, *, window: float | None = None) -> None:
        configured: SlidingWindowLimit | None = None
        if per_minute is not None:
            configured = (
                SlidingWindowLimit(max(1, int(per_minute)), window)
                if window is not None
                else SlidingWindowLimit.per_minute(per_minute)
            )
        self.pacing = SubmissionPacing(configured)
        #: Submissions that had to wait (for the rule or a 429's gate).
        self.waits = 0
        # The slot each waiting submission holds (the backlog's length and depth).
        self._held: list[float] = []
        self._changed = anyio.Event()  # rule or gate changed: waiters reserve again
        self._queue_changed = anyio.Event()
        self._noticed_at: float | None = None
        self._noticed_backlog = False

    @property
    def paced(self) -> bool:
        """Whether submissions are paced before any 429 (a configured or learned rule)."""
        return self.pacing.rule is not None

    @property
    def queued(self) -> int:
        """Submissions waiting right now."""
        return len(self._held)

    def backlog(self) -> tuple[int, float]:
        """Submissions waiting now, and seconds until the last of them may go."""
        if not self._held:
            return 0, 0.0
        return len(self._held), max(0.0, max(self._held) - anyio.current_time())

    def queue_changed(self) -> anyio.Event:
        """An event set the next time a submission starts or stops waiting (observability)."""
        return self._queue_changed

    async def acquire(self) -> None:
        """Wait until this submission may be sent (at once when nothing holds it back)."""
        counted = False
        while True:
            now = anyio.current_time()
            generation = self.pacing.generation
            slot = self.pacing.reserve(now)
            if slot <= now:
                return
            if not counted:
                counted = True
                self.waits += 1
                logger.info("rate limit: job submission waits %.1fs", slot - now)
            self._held.append(slot)
            self._queue_changed_now()
            try:
                changed = await self._hold(slot, generation)
            except BaseException:
                # Cancelled while queued: free the reserved slot, then re-raise.
                self.pacing.refund(slot)
                raise
            finally:
                self._held.remove(slot)
                self._queue_changed_now()
            if not changed:
                return
            self.pacing.refund(slot)  # a 429 changed the rules: queue again under the new ones

    async def _hold(self, slot: float, generation: int) -> bool:
        """Wait until ``slot``; True if a 429 changed the rules meanwhile (reserve again)."""
        changed = self._changed
        notice_at = anyio.current_time() + NOTICE_AFTER
        if slot > notice_at:
            with anyio.move_on_after(NOTICE_AFTER):
                await changed.wait()
            if self.pacing.generation != generation:
                return True
            self._notice()
        with anyio.move_on_after(max(0.0, slot - anyio.current_time())):
            await changed.wait()
        return self.pacing.generation != generation

    def _notice(self) -> None:
        now = anyio.current_time()
        if self._noticed_backlog or (
            self._noticed_at is not None and now - self._noticed_at < NOTICE_INTERVAL
        ):
            return
        self._noticed_backlog, self._noticed_at = True, now
        queued, wait = self.backlog()
        rule = self.pacing.rule
        why = (
            f"at most {rule.limit} per {rule.window:.4g}s"
            + (", learned from the service's 429 answers" if self.pacing.learned else "")
            if rule is not None
            else "the service answered 429"
        )
        logger.warning(
            "job submissions are held back client-side (%s): %d waiting, the last expected to be "
            "sent in %.0fs",
            why,
            queued,
            wait,
        )

    def _queue_changed_now(self) -> None:
        if not self._held:
            self._noticed_backlog = False  # the next backlog is said again
        self._queue_changed.set()
        self._queue_changed = anyio.Event()

    def accepted(self, sent_at: float) -> None:
        """The service took a submission sent at ``sent_at`` (``anyio.current_time()``)."""
        generation = self.pacing.generation
        self.pacing.accepted(anyio.current_time(), sent_at)
        if self.pacing.generation != generation:
            self._rules_changed()

    def throttle(self, retry_after: float, sent_at: float | None = None) -> None:
        """The service said 429: hold every submission ``retry_after`` s and learn its rule."""
        self.pacing.rejected(anyio.current_time(), retry_after, sent_at)
        self._rules_changed()

    def _rules_changed(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()


def resolve_submission_rate(value: SubmissionRate, api_url: str) -> float | None:
    """``"auto"``: IBM's documented 5 per minute on IBM's hosts, no client-side pacing elsewhere.

    A number is a rate per minute (``> 0``); ``None`` turns client-side pacing off (429 answers
    are still waited out and learned from).
    """
    if value == "auto":
        return IBM_SUBMISSIONS_PER_MINUTE if is_ibm_host(api_url) else None
    if value is None:
        return None
    given: object = value  # checked as anything: callers are not always type-checked
    if isinstance(given, bool) or not isinstance(given, (int, float)) or not given > 0:
        raise InvalidInputError(
            f"submissions_per_minute must be a positive number, 'auto' or None, got {value!r}"
        )
    return float(value)


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
        self.decode_limiter = anyio.CapacityLimiter(decode_threads)
        self.limiter = SubmissionLimiter(
            resolve_submission_rate(submissions_per_minute, transport.api_url)
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
        journal = self.journal

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
            submitted = await self._paced_post(request, lookup_tag, journal_submitting)
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

    async def _paced_post(
        self,
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
        retry = self.transport.retry
        while True:
            await self.limiter.acquire()
            if not sent:
                sent = True
                await before_first_send()
            sent_at = anyio.current_time()
            try:
                submitted = await self._post(request, lookup_tag)
            except RateLimitError as exc:
                rejections += 1
                wait = retry_delay(
                    retry, rejections, exc.headers.get("Retry-After"), now=time.time()
                )
                self.limiter.throttle(wait, sent_at)
                if rejections >= retry.max_attempts:
                    raise
                # Counted as the transport counts its own retries (statistics: retries.429).
                self.transport.counters["retries"] += 1
                self.transport.counters["retries.429"] += 1
                logger.info(
                    "job submission (client tag %s) refused with 429: sent again in %.2fs",
                    lookup_tag,
                    wait,
                )
                continue
            self.limiter.accepted(sent_at)
            return submitted

    async def _rejected(self, client_tag: str) -> None:
        self.counters["rejected"] += 1
        if self.journal is not None:
            await self.journal.set_state(client_tag, "rejected")

    async def _post(self, request: HttpRequest, tag: str | None) -> Submitted:
        """``POST /jobs`` once; reconcile by ``tag`` after an ambiguous failure (see module)."""
        transport = self.transport
        jobs = self.client.jobs
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
                    self.counters["resubmitted"] += 1
            elif isinstance(step, Lookup):
                self.counters["lookups"] += 1

        async def post() -> JobCreated:
            return await jobs.create(request, tag=tag)

        submitted = await drive(flow, post=post, lookup=jobs.list_page, on_step=count)
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
