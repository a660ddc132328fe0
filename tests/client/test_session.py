"""AsyncSession / AsyncBatch against the local server: every member, and the exit semantics."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from aioqruntime import (
    AsyncBatch,
    AsyncSampler,
    AsyncSession,
    InvalidInputError,
    JobCancelledError,
    SessionClosedError,
)
from tests.client._helpers import api_requests, expected_bitstring, local_service, x_pattern

BACKEND = "ibm_local5"


async def test_session_members_and_normal_exit() -> None:
    async with local_service() as (server, service):
        backend = await service.backend(BACKEND)
        async with AsyncSession(backend, max_time="1h 2m 3s") as session:
            assert session.service is service
            assert session.backend() == BACKEND
            assert session.session_id is not None
            created = api_requests(server, "POST", "/sessions")
            assert len(created) == 1
            assert await session.status() == "Pending"  # no job has started yet
            sampler = AsyncSampler(session)
            job = await sampler.run([x_pattern(0b101, 3, 5)], shots=10)
            result = await job
            assert result[0].data.c.get_counts() == {expected_bitstring(0b101, 3): 10}
            assert job.session_id == session.session_id
            details = await session.details()
            assert details is not None
            assert set(details) == {
                "id",
                "backend_name",
                "interactive_timeout",
                "max_time",
                "active_timeout",
                "state",
                "accepting_jobs",
                "last_job_started",
                "last_job_completed",
                "started_at",
                "closed_at",
                "activated_at",
                "mode",
                "usage_time",
            }
            assert details["id"] == session.session_id
            assert details["max_time"] == 3723
            assert details["mode"] == "dedicated"
            assert details["backend_name"] == BACKEND
            assert await session.status() == "In progress, accepting new jobs"
            assert isinstance(await session.usage(), float)
        # Normal exit closed it (PATCH accepting_jobs=false); with no job left it is closed.
        assert len(api_requests(server, "PATCH", f"/sessions/{session.session_id}")) == 1
        await server.wait_for_session_state(session.session_id)
        assert await session.status() == "Closed"
        with pytest.raises(SessionClosedError):
            await sampler.run([x_pattern(1, 1, 5)])


async def test_max_time_validated_before_any_request() -> None:
    async with local_service() as (server, service):
        backend = await service.backend(BACKEND)
        before = len(server.request_log)
        with pytest.raises(InvalidInputError):
            AsyncSession(backend, max_time="forever")
        with pytest.raises(ValueError):
            AsyncBatch(backend, max_time="1h oops")
        assert len(server.request_log) == before


async def test_close_then_from_id_and_mode_check() -> None:
    async with local_service() as (server, service):
        backend = await service.backend(BACKEND)
        async with AsyncBatch(backend) as batch:
            job = await AsyncSampler(batch).run([x_pattern(1, 1, 5)], shots=5)
            await job
            again = await AsyncBatch.from_id(batch.session_id or "", service)
            assert again.session_id == batch.session_id
            assert again.backend() == BACKEND
            assert again.mode == "batch"
            with pytest.raises(InvalidInputError):
                await AsyncSession.from_id(batch.session_id or "", service)
            await batch.close()
            await batch.close()  # a second close is harmless
            assert not batch.active
        patches = api_requests(server, "PATCH", f"/sessions/{batch.session_id}")
        # Two explicit closes, none at exit: the session was already closed locally.
        assert len(patches) == 2
        with pytest.raises(InvalidInputError):
            await AsyncSession.from_id("no-such-session", service)


async def test_session_run_raw_program_with_callback() -> None:
    from qiskit.primitives.containers.sampler_pub import SamplerPub

    from aioqruntime.codec import encode_sampler_pubs

    seen: list[str] = []
    async with local_service() as (server, service):
        backend = await service.backend(BACKEND)
        async with AsyncSession(backend) as session:
            pubs = encode_sampler_pubs([SamplerPub.coerce(x_pattern(0b11, 2, 5), 7)])
            job = await session.run(
                "sampler",
                {"pubs": pubs, "options": {}, "version": 2, "support_qiskit": True},
                options={"job_tags": ["raw"], "log_level": "INFO"},
                callback=lambda j: seen.append(j.job_id()),
            )
            assert job.tags == ["raw"]  # the user's tags, as the official client shows them
            assert job.client_tag is not None
            assert job.client_tag in server.job(job.job_id()).tags
            result = await job
            assert result[0].data.c.get_counts() == {"11": 7}
    assert seen == [job.job_id()]


async def test_normal_exit_waits_for_pending_jobs() -> None:
    async with local_service() as (server, service):
        backend = await service.backend(BACKEND)
        server.pause()
        async with AsyncSession(backend) as session:
            sampler = AsyncSampler(session)
            jobs = [await sampler.run([x_pattern(i, 3, 5)], shots=3) for i in range(3)]
            assert not any(job.done() for job in jobs)
            server.resume()
        # Leaving the block waited: every future is resolved, nothing to await.
        assert all(job.done() for job in jobs)
        for i, job in enumerate(jobs):
            assert job.result_nowait()[0].data.c.get_counts() == {expected_bitstring(i, 3): 3}


async def test_exception_exit_closes_and_reraises_unwrapped() -> None:
    async with local_service() as (server, service):
        backend = await service.backend(BACKEND)
        server.pause()
        with pytest.raises(KeyError, match="boom"):
            async with AsyncSession(backend) as session:
                job = await AsyncSampler(session).run([x_pattern(1, 1, 5)], shots=3)
                raise KeyError("boom")
        # Closed (not cancelled): the queued job still runs and is still awaitable.
        assert len(api_requests(server, "PATCH", f"/sessions/{session.session_id}")) == 1
        assert api_requests(server, "DELETE", f"/sessions/{session.session_id}/close") == []
        server.resume()
        result = await job
        assert result[0].data.c.get_counts() == {"1": 3}


async def test_cancellation_exit_with_on_error_cancel() -> None:
    async with local_service() as (server, service):
        backend = await service.backend(BACKEND)
        server.pause()
        with anyio.CancelScope() as scope:
            async with AsyncSession(backend, on_error="cancel") as session:
                job = await AsyncSampler(session).run([x_pattern(1, 1, 5)], shots=3)
                scope.cancel()  # as a fail_after around the block would
                await anyio.sleep_forever()
        assert scope.cancelled_caught
        assert len(api_requests(server, "DELETE", f"/sessions/{session.session_id}/close")) == 1
        server.resume()
        # The job was handed to the service's watcher: still awaitable, and cancelled.
        with pytest.raises(JobCancelledError):
            await job


async def test_session_cancel_with_queued_jobs() -> None:
    async with local_service() as (server, service):
        backend = await service.backend(BACKEND)
        server.pause()
        async with AsyncSession(backend) as session:
            jobs = [await AsyncSampler(session).run([x_pattern(1, 1, 5)]) for _ in range(3)]
            await session.cancel()
            assert not session.active
            for job in jobs:
                with pytest.raises(JobCancelledError):
                    await job
            with pytest.raises(SessionClosedError):
                await AsyncSampler(session).run([x_pattern(1, 1, 5)])
        # Cancelled locally: no PATCH at exit.
        assert api_requests(server, "PATCH", f"/sessions/{session.session_id}") == []


async def test_session_expiry_is_a_typed_error() -> None:
    async with local_service() as (server, service):
        backend = await service.backend(BACKEND)
        async with AsyncSession(backend, max_time=1) as session:
            await (await AsyncSampler(session).run([x_pattern(1, 1, 5)], shots=2))
            # max_ttl counts from activation: the server closes the session after one second.
            await server.wait_for_session_state(session.session_id or "")
            with pytest.raises(SessionClosedError):
                await AsyncSampler(session).run([x_pattern(1, 1, 5)])
            assert not session.active


async def test_simulator_backend_creates_no_session() -> None:
    async with local_service() as (server, service):
        simulator = await service.backend("ibm_local_simulator")
        assert simulator.is_simulator
        async with AsyncSession(simulator) as session:
            assert session.session_id is None
            assert await session.status() is None
            assert await session.details() is None
            result = await (await AsyncSampler(session).run([x_pattern(0b10, 2, 32)], shots=4))
            assert result[0].data.c.get_counts() == {"10": 4}
        assert api_requests(server, "POST", "/sessions") == []


async def test_no_task_left_after_close() -> None:
    before = set(asyncio.all_tasks())
    async with local_service() as (_server, service):
        backend = await service.backend(BACKEND)
        async with AsyncSession(backend) as session:
            await (await AsyncSampler(session).run([x_pattern(1, 1, 5)], shots=1))
    assert set(asyncio.all_tasks()) <= before
