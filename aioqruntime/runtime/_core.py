"""``ServiceCore``: what every part of an open service shares (transport, limiters, caches).

Internal. It also owns the submission path (``submit``): serialize the body in a worker thread,
wait for the client-side rate limiter, ``POST /jobs`` with a client tag, and hand the new job to a
watcher.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import anyio

from aioqruntime._exceptions import (
    APIStatusError,
    InvalidInputError,
    RateLimitError,
    SessionClosedError,
)
from aioqruntime.protocol import (
    MAX_JOB_TAG_LENGTH,
    MAX_JOB_TAGS,
    JobCreated,
    PollSchedule,
    TokenBucket,
    create_job,
)
from aioqruntime.runtime._job import AsyncRuntimeJob, DoneCallback
from aioqruntime.transport import Transport

if TYPE_CHECKING:
    from aioqruntime.runtime._watcher import JobWatcher

__all__ = ["CLIENT_TAG_PREFIX", "RuntimeOptions", "ServiceCore", "SubmissionLimiter"]

logger = logging.getLogger("aioqruntime.runtime")

#: Every submission carries ``aioqruntime:<uuid4 hex>``: finds the job after an ambiguous failure.
CLIENT_TAG_PREFIX: Final = "aioqruntime:"
#: IBM's code for "the session is closed" on ``POST /jobs``.
_SESSION_CLOSED_CODES: Final = frozenset({"1217"})
_LOG_LEVELS: Final = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """The top-level (non-``params``) fields of a job body (protocol.md §3.1)."""

    log_level: str | None = None
    tags: tuple[str, ...] = ()
    max_execution_time: int | None = None
    private: bool = False
    image: str | None = None

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any] | None) -> RuntimeOptions:
        """From ``session.run(options=...)``: log_level, job_tags, max_execution_time, private."""
        options = dict(options or {})
        known = {"log_level", "job_tags", "tags", "max_execution_time", "private", "image"}
        unknown = set(options) - known
        if unknown:
            raise InvalidInputError(f"unknown runtime options: {sorted(unknown)}")
        tags = options.get("job_tags", options.get("tags")) or ()
        if isinstance(tags, str):
            raise InvalidInputError("job_tags must be a list of strings, not one string")
        return cls(
            log_level=options.get("log_level"),
            tags=tuple(tags),
            max_execution_time=options.get("max_execution_time"),
            private=bool(options.get("private", False)),
            image=options.get("image"),
        )

    def validate(self) -> None:
        if self.log_level is not None and self.log_level.upper() not in _LOG_LEVELS:
            raise InvalidInputError(f"log_level must be one of {sorted(_LOG_LEVELS)}")
        tags: object = self.tags
        if not isinstance(tags, tuple) or not all(isinstance(t, str) and t for t in tags):
            raise InvalidInputError("job tags must be a list of non-empty strings")
        long = [t for t in self.tags if len(t) > MAX_JOB_TAG_LENGTH]
        if long:
            raise InvalidInputError(f"job tags are at most {MAX_JOB_TAG_LENGTH} characters: {long}")
        if len(self.tags) > MAX_JOB_TAGS:
            raise InvalidInputError(f"a job takes at most {MAX_JOB_TAGS} tags")
        met: object = self.max_execution_time
        if met is not None and (isinstance(met, bool) or not isinstance(met, int) or met <= 0):
            raise InvalidInputError(f"max_execution_time must be a positive int, got {met!r}")


class SubmissionLimiter:
    """Client-side pacing of ``POST /jobs``: queues submissions instead of failing them.

    The arithmetic is :class:`~aioqruntime.protocol.TokenBucket`; this only sleeps (on the loop).
    """

    def __init__(self, per_minute: float, *, burst: int | None = None) -> None:
        self._bucket = TokenBucket(per_minute, burst=burst or max(1, int(per_minute)))
        self.waits = 0

    async def acquire(self) -> None:
        delay = self._bucket.acquire_delay(anyio.current_time())
        if delay <= 0:
            return
        self.waits += 1
        logger.info("rate limit: job submission waits %.1fs", delay)
        try:
            await anyio.sleep(delay)
        except BaseException:
            # Cancelled while queued: the reservation goes back to the bucket, then re-raise.
            self._bucket.refund(anyio.current_time())
            raise

    def throttle(self) -> None:
        """The server said 429: halve our pace for a while."""
        self._bucket.throttle(anyio.current_time())


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
    ) -> None:
        self.transport = transport
        self.instance = instance
        self.poll_schedule = poll_schedule
        self.decode_limiter = anyio.CapacityLimiter(decode_threads)
        self.limiter = SubmissionLimiter(submissions_per_minute) if submissions_per_minute else None
        self.closed = False

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
        """Serialize, pace, ``POST /jobs`` and return the watched job (no waiting for it)."""
        from aioqruntime.codec import dumps

        options.validate()
        client_tag = f"{CLIENT_TAG_PREFIX}{uuid.uuid4().hex}"
        tags = list(options.tags)
        if len(tags) < MAX_JOB_TAGS:
            tags.append(client_tag)
        else:
            # No room for ours: the submission still works, only tag reconciliation will not.
            logger.debug("8 user tags: submission goes without the client tag")
            client_tag = ""
        body: dict[str, Any] = {"program_id": program_id, "backend": backend_name}
        if session_id:
            body["session_id"] = session_id
        if options.log_level:
            body["log_level"] = options.log_level.upper()
        if options.image:
            body["runtime"] = options.image
        if options.max_execution_time:
            body["cost"] = options.max_execution_time
        if options.private:
            body["private"] = True
        body["tags"] = tags
        body["params"] = dict(params)
        text: str = await self.encode(dumps, body)
        request = create_job(text)
        if self.limiter is not None:
            await self.limiter.acquire()
        try:
            response = await self.transport.send(request, submit_tag=client_tag or None)
        except RateLimitError:
            if self.limiter is not None:
                self.limiter.throttle()
            raise
        except APIStatusError as exc:
            if session_id and (exc.code in _SESSION_CLOSED_CODES):
                raise SessionClosedError(
                    f"session {session_id} is closed and accepts no more jobs: "
                    f"{exc.server_message or exc}"
                ) from exc
            raise
        created = JobCreated.from_json(response.json())
        job = AsyncRuntimeJob(
            created.id,
            core=self,
            watcher=watcher,
            backend_name=created.backend,
            program_id=program_id,
            session_id=created.session_id or session_id,
            tags=tags,
            client_tag=client_tag or None,
            result_decoder=result_decoder,
        )
        if callback is not None:
            job.add_done_callback(callback)
        watcher.track(job)
        logger.debug("submitted job %s (%s on %s)", created.id, program_id, created.backend)
        return job


def validate_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Tags as a tuple, checked against the service's limits."""
    options = RuntimeOptions(tags=tuple(tags))
    options.validate()
    return options.tags
