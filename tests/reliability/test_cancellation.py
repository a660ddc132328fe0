"""Cancellation hygiene: waits, blocks left by exceptions, a session cancelled mid-submission.

After every scenario: no task of ours is left (``asyncio.all_tasks()``), the session ended per
the ``AsyncSession`` policy (``on_error="close"`` by default: PATCH, queued jobs still run;
``"cancel"``: DELETE), and no unclosed-resource warning is emitted.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import anyio
import pytest

from aioqruntime import AsyncBatch, AsyncSampler, AsyncSession, SessionClosedError
from aioqruntime.runtime import AsyncRuntimeService
from aioqruntime.server import FaultRule, LocalRuntimeServer, ServerConfig
from tests.client._helpers import FAST_CONFIG, FAST_RETRY, api_requests, local_service, x_pattern

BACKEND = "ibm_local5"


def _assert_clean(before: set[asyncio.Task[Any]]) -> None:
    assert {t for t in asyncio.all_tasks() if not t.done()} <= before
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


@asynccontextmanager
async def _traced_service(
    server: LocalRuntimeServer, on_request: Callable[[str, str], None], **options: Any
) -> AsyncIterator[AsyncRuntimeService]:
    """A service on a caller-owned ClientSession whose trace hook reports each request start."""

    async def started(_session: aiohttp.ClientSession, _ctx: SimpleNamespace, params: Any) -> None:
        on_request(params.method, str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(started)
    async with (
        aiohttp.ClientSession(trace_configs=[trace]) as http,
        AsyncRuntimeService(
            token=server.token,
            instance=server.instance,
            url=server.api_url,
            session=http,
            retry=FAST_RETRY,
            transport_config=FAST_CONFIG,
            submissions_per_minute=None,
            **options,
        ) as service,
    ):
        yield service


async def test_cancelling_waiters_leaves_jobs_running_and_awaitable() -> None:
    before = set(asyncio.all_tasks())
    async with local_service() as (server, service):
        backend = await service.backend(BACKEND)
        server.pause()
        jobs = [await AsyncSampler(backend).run([x_pattern(1, 1, 5)], shots=1) for _ in range(5)]
        waiting = anyio.Event()
        count = 0

        async def wait(job: Any) -> None:
            nonlocal count
            count += 1
            if count == len(jobs):
                waiting.set()
            await job

        async with anyio.create_task_group() as tg:
            for job in jobs:
                tg.start_soon(wait, job)
            await waiting.wait()
            tg.cancel_scope.cancel()
        assert all(server.job(j.job_id()).status.value == "Queued" for j in jobs)
        assert api_requests(server, "POST", "/cancel") == []
        server.resume()
        for job in jobs:
            assert (await job)[0].data.c.get_counts() == {"1": 1}
    _assert_clean(before)


async def test_service_block_left_by_exception_stops_everything() -> None:
    before = set(asyncio.all_tasks())
    with pytest.raises(LookupError, match="boom"):
        async with local_service() as (server, service):
            backend = await service.backend(BACKEND)
            server.pause()
            job = await AsyncSampler(backend).run([x_pattern(1, 1, 5)], shots=1)
            raise LookupError("boom")
    with pytest.raises(SessionClosedError):
        await job  # abandoned, not lost: the service says how to find it again
    _assert_clean(before)


@pytest.mark.parametrize("on_error", ["close", "cancel"])
async def test_batch_left_by_exception_ends_per_policy(on_error: str) -> None:
    before = set(asyncio.all_tasks())
    async with local_service() as (server, service):
        backend = await service.backend(BACKEND)
        server.pause()
        with pytest.raises(ValueError, match="inside"):
            async with AsyncBatch(backend, on_error=on_error) as batch:  # type: ignore[arg-type]
                job = await AsyncSampler(batch).run([x_pattern(1, 1, 5)], shots=1)
                raise ValueError("inside")
        sid = batch.session_id or ""
        patched = api_requests(server, "PATCH", f"/sessions/{sid}")
        deleted = api_requests(server, "DELETE", f"/sessions/{sid}/close")
        assert (len(patched), len(deleted)) == ((1, 0) if on_error == "close" else (0, 1))
        server.resume()
        if on_error == "close":
            assert (await job)[0].data.c.get_counts() == {"1": 1}  # handed to the service
        else:
            with pytest.raises(Exception, match="ancel"):
                await job
    _assert_clean(before)


async def test_cancelling_the_session_task_mid_submission(tmp_path: Path) -> None:
    before = set(asyncio.all_tasks())
    # POST /jobs is held 3 s by the server: the cancellation lands while it is in flight.
    faults = (FaultRule(path="/jobs", method="POST", latency=3.0),)
    journal = tmp_path / "journal.sqlite"
    async with LocalRuntimeServer(config=ServerConfig(workers=0, faults=faults)) as server:
        in_flight = anyio.Event()

        def seen(method: str, url: str) -> None:
            if method == "POST" and url.endswith("/jobs"):
                in_flight.set()

        async with _traced_service(server, seen, journal=journal) as service:
            backend = await service.backend(BACKEND)
            session_box: list[AsyncSession] = []

            async def use_session(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
                async with AsyncSession(backend) as session:
                    session_box.append(session)
                    task_status.started()
                    await AsyncSampler(session).run([x_pattern(1, 1, 5)], shots=1)
                    pytest.fail("the submission should have been cancelled")

            async with anyio.create_task_group() as tg:
                await tg.start(use_session)
                await in_flight.wait()
                tg.cancel_scope.cancel()
            session = session_box[0]
            record = server.session(session.session_id or "")
            assert record.accepting_jobs is False  # default policy: closed, not cancelled
            assert api_requests(server, "DELETE", f"/sessions/{session.session_id}/close") == []
            assert not session.active
            # The interrupted submission is in the journal with the tag that would find it.
            entries = await service.journal_entries()
            assert [e.state for e in entries] == ["submitting"]
            assert entries[0].client_tag.startswith("aioqruntime:")
            sessions = await service.journal_sessions()
            assert [s.state for s in sessions] == ["closed"]
            assert service.statistics()["watcher.pending"] == 0
    _assert_clean(before)


async def test_cancelling_during_reconciliation_leaves_nothing_behind() -> None:
    before = set(asyncio.all_tasks())
    faults = (
        FaultRule(path="/jobs", method="POST", statuses=((500, 1.0),)),
        FaultRule(path="/jobs", method="GET", latency=3.0),
    )
    async with LocalRuntimeServer(config=ServerConfig(workers=0, faults=faults)) as server:
        looking = anyio.Event()

        def seen(method: str, url: str) -> None:
            if method == "GET" and "tags=aioqruntime" in url:
                looking.set()

        async with _traced_service(server, seen) as service:
            backend = await service.backend(BACKEND)
            async with anyio.create_task_group() as tg:
                tg.start_soon(AsyncSampler(backend).run, [x_pattern(1, 1, 5)])
                await looking.wait()
                tg.cancel_scope.cancel()
            assert len(api_requests(server, "POST", "/jobs")) == 1  # cancelled, not resubmitted
    _assert_clean(before)
