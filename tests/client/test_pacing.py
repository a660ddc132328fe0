"""Client-side pacing of ``POST /jobs``: IBM's limit only on IBM's hosts, 429s waited out and
learned from (against the local server's own rate limit), and said when it holds jobs back."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest

from aioqruntime import (
    AsyncRuntimeJob,
    AsyncRuntimeService,
    AsyncSampler,
    InvalidInputError,
    as_completed,
)
from aioqruntime.protocol import RetryPolicy
from aioqruntime.runtime._core import (
    IBM_SUBMISSIONS_PER_MINUTE,
    SubmissionLimiter,
    resolve_submission_rate,
)
from aioqruntime.runtime._for_primitives import replace_submission_limiter, submission_limiter
from tests.client._helpers import api_requests, local_service, server_jobs_by_tag, x_pattern

#: Fast backoff, but the server's Retry-After honoured whole (it is what the test is about).
RETRY_AFTER_HONOURED = RetryPolicy(max_attempts=4, initial=0.001, max_delay=0.005)
HELD_BACK = "job submissions are held back client-side"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "url",
    [
        "https://quantum.cloud.ibm.com/api/v1",
        "https://eu-de.quantum.cloud.ibm.com/api/v1",
        "https://private.us-east.quantum.cloud.ibm.com/api/v1",
        "https://quantum.test.cloud.ibm.com/api/v1",
        "https://QUANTUM.CLOUD.IBM.COM./api/v1",
        "https://api.quantum.ibm.com/runtime",
        "https://runtime-us-east.quantum-computing.ibm.com",
    ],
)
def test_ibm_hosts_get_ibms_documented_limit(url: str) -> None:
    assert resolve_submission_rate("auto", url) == IBM_SUBMISSIONS_PER_MINUTE == 5.0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765/api/v1",
        "http://[::1]:8765/api/v1",
        "http://localhost:8765/experimental/api/v1",
        "https://runtime.example.org/api/v1",
        "https://quantum.cloud.ibm.com.example.org/api/v1",
        "https://notcloud.ibm.com/api/v1",
        "https://ibm.com/api/v1",
    ],
)
def test_other_hosts_are_not_paced_unless_asked(url: str) -> None:
    assert resolve_submission_rate("auto", url) is None
    assert resolve_submission_rate(12, url) == 12.0
    assert resolve_submission_rate(0.5, url) == 0.5
    assert resolve_submission_rate(None, "https://quantum.cloud.ibm.com/api/v1") is None


@pytest.mark.parametrize("value", [0, -1, float("nan"), "fast", True])
def test_a_bad_rate_is_refused(value: Any) -> None:
    with pytest.raises(InvalidInputError, match="submissions_per_minute"):
        resolve_submission_rate(value, "http://127.0.0.1:1/api/v1")


async def test_a_bad_rate_given_to_the_service_is_refused_before_any_request() -> None:
    async with local_service() as (server, _service):
        before = len(server.request_log)
        service = AsyncRuntimeService(
            token=server.token,
            instance=server.instance,
            url=server.api_url,
            submissions_per_minute=-5,
        )
        with pytest.raises(InvalidInputError, match="submissions_per_minute"):
            async with service:
                pass
        assert len(server.request_log) == before


async def _submit_all(sampler: AsyncSampler, count: int) -> list[AsyncRuntimeJob]:
    jobs: list[AsyncRuntimeJob] = []

    async def one(pattern: int) -> None:
        jobs.append(await sampler.run([x_pattern(pattern, 3, 5)], shots=2))

    async with anyio.create_task_group() as tg:
        for pattern in range(count):
            tg.start_soon(one, pattern % 8)
    return jobs


async def test_a_service_by_url_on_loopback_sends_a_burst_at_once() -> None:
    # The README's way of reaching `aioqruntime serve`: by URL, with the default pacing.
    options = {"submissions_per_minute": "auto"}
    async with local_service(service_options=options) as (server, service):
        limiter = submission_limiter(service)
        assert not limiter.paced
        jobs = await _submit_all(AsyncSampler(await service.backend("ibm_local5")), 12)
        for job in jobs:
            await job
        assert limiter.waits == 0
        assert len(api_requests(server, "POST", "/jobs")) == 12


async def test_429s_are_waited_out_and_the_services_rate_is_learned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="aioqruntime")
    # The local server's limit, time-scaled: 3 submissions in any 1 s window.
    options = {"submissions_per_minute": "auto", "retry": RETRY_AFTER_HONOURED}
    async with local_service(
        rate_limit_per_minute=3, rate_limit_window=1.0, service_options=options
    ) as (server, service):
        jobs = await _submit_all(AsyncSampler(await service.backend("ibm_local5")), 10)
        for job in jobs:
            await job  # every one of them succeeded
        posts = api_requests(server, "POST", "/jobs")
        refused = [r for r in posts if r.status == 429]
        assert refused and len(posts) == 10 + len(refused)
        assert service.statistics()["retries.429"] == len(refused)
        # None duplicated: exactly one server job per client tag, and no other job.
        assert set(server_jobs_by_tag(server, [job.job_id() for job in jobs]).values()) == {1}
        pacing = submission_limiter(service).pacing
        assert pacing.learned and pacing.rule is not None
        assert pacing.rule.limit <= 3 and pacing.rule.window >= 1.0
    held = [r for r in caplog.records if HELD_BACK in r.getMessage()]
    assert len(held) == 1 and held[0].levelno == logging.WARNING
    assert "learned from the service's 429 answers" in held[0].getMessage()
    match = re.search(
        r"(\d+) waiting, the last expected to be sent in (\d+)s", held[0].getMessage()
    )
    assert match is not None and 1 <= int(match[1]) <= 7


@contextmanager
def _warning_event(logger: str, text: str) -> Iterator[tuple[anyio.Event, list[str]]]:
    """An event set when a WARNING containing ``text`` is logged (awaited, never slept on)."""
    event = anyio.Event()
    messages: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno == logging.WARNING and text in record.getMessage():
                messages.append(record.getMessage())
                event.set()

    handler = Catch()
    target = logging.getLogger(logger)
    target.addHandler(handler)
    try:
        yield event, messages
    finally:
        target.removeHandler(handler)


async def test_held_back_submissions_are_said_once_and_shown_on_the_progress_bar() -> None:
    async with local_service() as (server, service):
        # One per minute: the first goes at once, the next three wait (1, 2 and 3 minutes).
        limiter = SubmissionLimiter(1, window=60.0)
        replace_submission_limiter(service, limiter)
        sampler = AsyncSampler(await service.backend("ibm_local5"))
        server.pause()  # the first job stays pending while the bar is looked at
        first = await sampler.run([x_pattern(1, 1, 5)], shots=1)
        with _warning_event("aioqruntime.runtime", HELD_BACK) as (said, messages):
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(sampler.run, [x_pattern(1, 1, 5)])
                while limiter.queued < 3:
                    await limiter.queue_changed().wait()
                terminal = FakeTerminal()
                iterator = as_completed([first], stream=terminal)
                async with anyio.create_task_group() as reader:
                    reader.start_soon(_drain, iterator)
                    with anyio.fail_after(30):
                        await said.wait()  # after about a second of waiting
                    server.resume()
                tg.cancel_scope.cancel()  # the queued submissions are given up: nothing sent
        assert limiter.queued == 0
        assert len(api_requests(server, "POST", "/jobs")) == 1
        assert len(messages) == 1
        match = re.search(r"(\d+) waiting, the last expected to be sent in (\d+)s", messages[0])
        assert match is not None and 1 <= int(match[1]) <= 3
        assert int(match[2]) >= 60 * int(match[1]) - 5
        assert "at most 1 per 60s" in messages[0]
        frames = [frame for frame in terminal.getvalue().split("\r") if frame]
        bar = re.search(r"0/1 \d+s, 3 waiting to be submitted \(~(\d+)s\)$", frames[0])
        assert bar is not None and 120 < int(bar[1]) <= 180, frames[0]
        assert frames[-1].startswith("jobs [" + "#" * 24 + "] 1/1")


async def _drain(iterator: as_completed) -> None:
    async for _ in iterator:
        pass
