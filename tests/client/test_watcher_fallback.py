"""The watcher against a service without the bulk job list (a third-party emulation).

A small loopback proxy in front of the local server takes away ``GET /jobs`` (405, 404, 501 or
an unreadable page) and, in the last tests, ``GET /jobs/{id}`` as well. Jobs must then be followed
one by one, under the same request ceiling, or fail with ``JobTrackingError``: never hang.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
import anyio
import pytest
from aiohttp import web

from aioqruntime import (
    APIStatusError,
    AsyncRuntimeService,
    AsyncSampler,
    AsyncSession,
    JobTrackingError,
)
from aioqruntime.runtime._watcher import MALFORMED_BEFORE_FALLBACK, MAX_SINGLE_GETS
from aioqruntime.server import LocalRuntimeServer, ServerConfig
from tests.client._helpers import FAST_CONFIG, FAST_RETRY, expected_bitstring, x_pattern

_HOP = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_ONE_JOB = re.compile(r"/jobs/[^/]+$")
FALLING_BACK = "following each job with GET /jobs/{id} instead"

#: What the proxy does with a request: ``None`` forwards it, a response replaces the answer.
Override = Callable[[web.Request], web.StreamResponse | None]


def is_list(request: web.Request) -> bool:
    return request.method == "GET" and request.path.endswith("/jobs")


def is_one_job(request: web.Request) -> bool:
    return request.method == "GET" and _ONE_JOB.search(request.path) is not None


def refuse(status: int) -> web.StreamResponse:
    body = {"errors": [{"message": "Method Not Allowed", "code": str(status)}]}
    return web.json_response(body, status=status)


@asynccontextmanager
async def emulation(
    override: Override,
) -> AsyncIterator[tuple[AsyncRuntimeService, Counter[str]]]:
    """A service reaching the local server through a proxy applying ``override``.

    Yields the service and counts of what the proxy saw (``list``, ``one``, ``other``).
    """
    seen: Counter[str] = Counter()
    async with (
        LocalRuntimeServer(config=ServerConfig(workers=0)) as server,
        aiohttp.ClientSession(auto_decompress=False) as upstream,
    ):

        async def forward(request: web.Request) -> web.StreamResponse:
            seen["list" if is_list(request) else "one" if is_one_job(request) else "other"] += 1
            replaced = override(request)
            if replaced is not None:
                return replaced
            async with upstream.request(
                request.method,
                server.url + request.path_qs,
                headers={k: v for k, v in request.headers.items() if k.lower() not in _HOP},
                data=await request.read(),
            ) as answer:
                return web.Response(
                    status=answer.status,
                    body=await answer.read(),
                    headers={k: v for k, v in answer.headers.items() if k.lower() not in _HOP},
                )

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            async with AsyncRuntimeService(
                token=server.token,
                instance=server.instance,
                url=f"http://127.0.0.1:{port}/api/v1",
                submissions_per_minute=None,
                retry=FAST_RETRY,
                transport_config=FAST_CONFIG,
            ) as service:
                yield service, seen
        finally:
            await runner.cleanup()


def no_list(status: int) -> Override:
    return lambda request: refuse(status) if is_list(request) else None


@pytest.mark.parametrize("status", [405, 404, 501])
async def test_without_the_list_jobs_are_followed_one_by_one(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aioqruntime")
    jobs_count = MAX_SINGLE_GETS + 5  # more than one tick's worth of per-job reads
    with anyio.fail_after(120):
        async with emulation(no_list(status)) as (service, seen):
            backend = await service.backend("ibm_local5")
            sampler = AsyncSampler(backend)
            jobs = [await sampler.run([x_pattern(i % 8, 3, 5)], shots=4) for i in range(jobs_count)]
            results = [await job for job in jobs]
            watcher = service._watcher
            assert watcher is not None
            assert watcher.fallback_ticks > 0
            # Within the ceiling: never more than one tick's reads (plus the two refused
            # list requests of the tick that found out).
            assert max(watcher.requests_per_tick) <= MAX_SINGLE_GETS + 2
    for i, result in enumerate(results):
        assert result[0].data.c.get_counts() == {expected_bitstring(i % 8, 3): 4}
    # The list was asked once (both first pages of one tick), then left alone.
    assert seen["list"] == 2
    assert seen["one"] >= jobs_count
    warnings = [r for r in caplog.records if FALLING_BACK in r.getMessage()]
    assert len(warnings) == 1 and f"answered {status}" in warnings[0].getMessage()


async def test_a_session_without_the_list_still_settles_every_job() -> None:
    with anyio.fail_after(120):
        async with emulation(no_list(405)) as (service, seen):
            backend = await service.backend("ibm_local5")
            async with AsyncSession(backend) as session:
                sampler = AsyncSampler(session)
                jobs = [await sampler.run([x_pattern(i, 3, 5)], shots=3) for i in range(4)]
                counts = [(await job)[0].data.c.get_counts() for job in jobs]
    assert counts == [{expected_bitstring(i, 3): 3} for i in range(4)]
    assert seen["list"] == 2 and seen["one"] >= 4


async def test_unreadable_lists_again_and_again_mean_per_job_reads() -> None:
    def mangle(request: web.Request) -> web.StreamResponse | None:
        return web.json_response({"count": "not a list of jobs"}) if is_list(request) else None

    with anyio.fail_after(120):
        async with emulation(mangle) as (service, seen):
            backend = await service.backend("ibm_local5")
            job = await AsyncSampler(backend).run([x_pattern(0b110, 3, 5)], shots=5)
            result = await job
            watcher = service._watcher
            assert watcher is not None and watcher.fallback_ticks > 0
    assert result[0].data.c.get_counts() == {"110": 5}
    # Two list requests per tick, for MALFORMED_BEFORE_FALLBACK ticks, then none.
    assert seen["list"] == 2 * MALFORMED_BEFORE_FALLBACK


@pytest.mark.parametrize("status", [405, 501])
async def test_when_nothing_can_answer_waiting_jobs_fail_with_a_typed_error(status: int) -> None:
    def nothing(request: web.Request) -> web.StreamResponse | None:
        return refuse(status) if is_list(request) or is_one_job(request) else None

    with anyio.fail_after(60):
        async with emulation(nothing) as (service, _seen):
            backend = await service.backend("ibm_local5")
            sampler = AsyncSampler(backend)
            jobs = [await sampler.run([x_pattern(1, 1, 5)], shots=1) for _ in range(3)]
            for job in jobs:
                with pytest.raises(JobTrackingError) as caught:
                    await job
                error = caught.value
                assert error.job_id == job.job_id() and job.job_id() in str(error)
                assert isinstance(error.__cause__, APIStatusError)
                assert error.__cause__.status == status
                assert job.done() and job.exception() is error


async def test_unreadable_answers_for_one_job_fail_it_with_a_typed_error() -> None:
    def garbage(request: web.Request) -> web.StreamResponse | None:
        if is_list(request):
            return refuse(405)
        if is_one_job(request):
            return web.json_response({"no": "id or status here"})
        return None

    with anyio.fail_after(60):
        async with emulation(garbage) as (service, seen):
            backend = await service.backend("ibm_local5")
            job = await AsyncSampler(backend).run([x_pattern(1, 1, 5)], shots=1)
            with pytest.raises(JobTrackingError, match="could not be read 3 times"):
                await job
    assert seen["one"] == 3
