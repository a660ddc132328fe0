"""Exactly-once ``POST /jobs``: submit, and after an ambiguous failure reconcile by client tag.

The decision logic is a sans-I/O generator (style A2): it yields :class:`Post`, :class:`Lookup`
and :class:`Sleep` steps and receives what each produced (a response, a :class:`JobList`, or the
:class:`APIError` the step raised). :func:`drive` runs it against the client layer; tests can run it
against anything.

The rule that keeps one ``run()`` to one job on the service: a submission is repeated only after
a lookup by its tag (``GET /jobs?tags=<tag>``), made once the failed request can no longer be in
progress on the service (the *grace*), found nothing. A found job is adopted instead. When the
lookups themselves keep failing past the retry budget, :class:`AmbiguousSubmissionError` (with the
tag) is raised: the job may exist, and only the tag can tell.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Final, TypeVar

import anyio

from aioqruntime._exceptions import (
    AmbiguousSubmissionError,
    APIConnectionError,
    APIError,
    APIStatusError,
)
from aioqruntime.protocol import (
    HttpRequest,
    Job,
    JobCreated,
    JobList,
    RetryPolicy,
    list_jobs,
    retry_delay,
)
from aioqruntime.protocol._retry import UniformSource

__all__ = [
    "Lookup",
    "Post",
    "Sleep",
    "Submitted",
    "drive",
    "lookup_request",
    "reconcile_flow",
    "submission_flow",
]

logger = logging.getLogger("aioqruntime.runtime")

#: A complete answer with one of these statuses comes from the service itself after it finished
#: handling the request: whatever happened is visible at once. Gateway statuses (502, 504, 52x),
#: timeouts and dropped connections may leave the request still running behind them.
_FINAL_ANSWER_STATUSES: Final = frozenset({500, 501, 503, 505})
#: ``created_after`` of the lookup: this long before the submission (tolerates clock skew).
_LOOKUP_MARGIN: Final = timedelta(minutes=15)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Post:
    """Send the ``POST /jobs`` (same body, same tag). Receives a :class:`JobCreated` or APIError."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """Send ``request`` (``GET /jobs?tags=<tag>``). Receives a :class:`JobList` or APIError."""

    request: HttpRequest


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds``. Receives ``None``."""

    seconds: float


Step = Post | Lookup | Sleep


@dataclass(frozen=True, slots=True)
class Submitted:
    """The job the submission produced; ``reconciled`` when it was found by its tag."""

    job_id: str
    backend: str | None
    session_id: str | None
    reconciled: bool = False


def lookup_request(tag: str, *, since: datetime | None = None) -> HttpRequest:
    """``GET /jobs?tags=<tag>`` (oldest first), bounded below by ``since`` minus a margin."""
    created_after = None if since is None else since - _LOOKUP_MARGIN
    return list_jobs(
        limit=10, tags=(tag,), created_after=created_after, descending=False, include_mocks=False
    )


def grace_for(error: AmbiguousSubmissionError, grace: float) -> float:
    """Seconds before a lookup can be trusted to show the job of this failed submission."""
    cause = error.__cause__
    if isinstance(cause, APIStatusError) and cause.status in _FINAL_ANSWER_STATUSES:
        return 0.0
    return grace


def reconcile_flow(
    tag: str,
    policy: RetryPolicy,
    *,
    request: HttpRequest,
    wait_first: float = 0.0,
    rng: UniformSource | None = None,
    failure: AmbiguousSubmissionError | None = None,
) -> Generator[Step, object, Job | None]:
    """Look the tag up until the service answers: the oldest job carrying it, or ``None``.

    Raises :class:`AmbiguousSubmissionError` (tag attached, last lookup error chained) after
    ``policy.max_attempts`` failed lookups.
    """
    if wait_first > 0:
        yield Sleep(wait_first)
    attempt = 0
    while True:
        attempt += 1
        answer = yield Lookup(request)
        if isinstance(answer, JobList):
            matches = [job for job in answer.jobs if tag in job.tags]
            if len(matches) > 1:
                logger.error("%d jobs carry the client tag %s", len(matches), tag)
            return matches[0] if matches else None
        assert isinstance(answer, APIError)
        if attempt >= policy.max_attempts:
            origin = f" after: {failure}" if failure is not None else ""
            raise AmbiguousSubmissionError(
                f"could not find out whether the job tagged {tag!r} was created: {attempt} "
                f"lookups failed (last: {answer}){origin}",
                job_tag=tag,
                method=answer.method,
                url=answer.url,
            ) from answer
        yield Sleep(retry_delay(policy, attempt, None, rng))


def submission_flow(
    tag: str,
    policy: RetryPolicy,
    *,
    request: HttpRequest,
    grace: float,
    rng: UniformSource | None = None,
) -> Generator[Step, object, Submitted]:
    """Submit once, reconciling every ambiguous failure by ``tag`` before any new attempt.

    A failure that certainly happened before the request was sent (connection refused, after the
    transport's own retries) is also retried here, with backoff, within ``policy.max_attempts``.
    Other errors (4xx, 429 after its retries...) are raised as they are: no job was created.
    """
    posts = 0
    while True:
        posts += 1
        answer = yield Post()
        if isinstance(answer, JobCreated):
            created = answer
            return Submitted(created.id, created.backend, created.session_id, False)
        assert isinstance(answer, APIError)
        if not isinstance(answer, AmbiguousSubmissionError):
            if isinstance(answer, APIConnectionError) and posts < policy.max_attempts:
                # Not sent at all (the client layer maps sent failures of a POST to
                # AmbiguousSubmissionError): e.g. the service is restarting. Safe to repeat.
                yield Sleep(retry_delay(policy, posts, None, rng))
                continue
            raise answer
        inner = reconcile_flow(
            tag,
            policy,
            request=request,
            wait_first=grace_for(answer, grace),
            rng=rng,
            failure=answer,
        )
        found = yield from inner
        if found is not None:
            logger.info("submission %s was accepted after all: job %s", tag, found.id)
            return Submitted(found.id, found.backend, found.session_id, True)
        cause = answer.__cause__
        if posts >= policy.max_attempts:
            # Confirmed absent: a definite failure now, typed by what the last attempt met.
            if isinstance(cause, APIError):
                raise cause
            raise answer
        logger.info("submission %s was not accepted; submitting again (attempt %d)", tag, posts + 1)
        yield Sleep(retry_delay(policy, posts, None, rng))


async def drive(
    flow: Generator[Step, object, T],
    *,
    post: Callable[[], Awaitable[JobCreated]],
    lookup: Callable[[HttpRequest], Awaitable[JobList]],
    on_step: Callable[[Step], None] | None = None,
) -> T:
    """Run ``flow``: ``post()`` for :class:`Post`, ``lookup(request)`` for :class:`Lookup`.

    Both come from the client layer (``client.jobs.create`` and ``client.jobs.list_page``).
    """
    answer: object = None
    while True:
        try:
            step = flow.send(answer)
        except StopIteration as stop:
            result: T = stop.value
            return result
        if on_step is not None:
            on_step(step)
        if isinstance(step, Sleep):
            await anyio.sleep(step.seconds)
            answer = None
        elif isinstance(step, Post):
            try:
                answer = await post()
            except APIError as exc:
                answer = exc
        else:
            try:
                answer = await lookup(step.request)
            except APIError as exc:
                answer = exc


def now_utc() -> datetime:
    """Wall-clock now (timestamps on the wire are wall-clock)."""
    return datetime.now(timezone.utc)
