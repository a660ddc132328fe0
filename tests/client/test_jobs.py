"""Jobs as futures: many in flight, callbacks, as_completed, cancellation, failures, the watcher."""

from __future__ import annotations

import math
import sys

import anyio
import pytest

from aioqruntime import (
    AsyncEstimator,
    AsyncSampler,
    AsyncSession,
    ConflictError,
    InvalidInputError,
    JobCancelledError,
    JobFailedError,
    JobNotDoneError,
    JobRanTooLongError,
    JobTimeoutError,
    as_completed,
)
from aioqruntime.protocol import JobStatus, PollSchedule
from aioqruntime.runtime._watcher import MAX_SINGLE_GETS

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

from tests.client._helpers import api_requests, expected_bitstring, local_service, x_pattern

WIDTH = 7  # 128 distinct patterns on the 27-qubit device


async def test_hundred_jobs_gathered_in_one_session_get_their_own_result() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local27")
        async with AsyncSession(backend) as session:
            sampler = AsyncSampler(session)
            jobs: dict[int, object] = {}

            async def submit_and_wait(pattern: int) -> None:
                job = await sampler.run([x_pattern(pattern, WIDTH, 27)], shots=4)
                jobs[pattern] = await job

            async with anyio.create_task_group() as tg:
                for pattern in range(100):
                    tg.start_soon(submit_and_wait, pattern)
        for pattern, result in jobs.items():
            counts = result[0].data.c.get_counts()  # type: ignore[index]
            assert counts == {expected_bitstring(pattern, WIDTH): 4}
        assert len(jobs) == 100
        # One results fetch per job, and far fewer status requests than one per job per tick.
        assert len([r for r in server.request_log if r.path.endswith("/results")]) == 100
        assert len(api_requests(server, "POST", "/jobs")) == 100


async def test_callbacks_fire_once_in_registration_order() -> None:
    calls: list[tuple[str, str]] = []
    async with local_service() as (_server, service):
        backend = await service.backend("ibm_local5")
        async with AsyncSession(backend) as session:
            job = await AsyncSampler(session).run([x_pattern(1, 1, 5)], shots=2)
            job.add_done_callback(lambda j: calls.append(("first", j.job_id())))
            job.add_done_callback(lambda j: calls.append(("second", j.job_id())))
            await job
            late = anyio.Event()
            job.add_done_callback(lambda j: late.set())  # added when done: called soon, not now
            assert not late.is_set()
            await late.wait()
    assert calls == [("first", job.job_id()), ("second", job.job_id())]


async def test_raising_callback_surfaces_at_exit() -> None:
    async with local_service() as (_server, service):
        backend = await service.backend("ibm_local5")

        def explode(_job: object) -> None:
            raise RuntimeError("callback failed")

        with pytest.raises(BaseExceptionGroup) as caught:
            async with AsyncSession(backend) as session:
                job = await AsyncSampler(session).run([x_pattern(1, 1, 5)], shots=2)
                job.add_done_callback(explode)
                await anyio.sleep_forever()  # the callback's failure cancels the body
        assert caught.group_contains(RuntimeError, match="callback failed")


async def test_as_completed_yields_each_job_as_it_finishes() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        async with AsyncSession(backend) as session:
            sampler = AsyncSampler(session)
            server.pause()
            jobs = [await sampler.run([x_pattern(i, 3, 5)], shots=2) for i in range(5)]
            server.fail_next_job("ibm_local5")
            server.resume()
            seen = []
            failures = 0
            async for job in as_completed(jobs):
                assert job.done()
                seen.append(job)
                if job.exception() is not None:
                    failures += 1
            assert sorted(j.job_id() for j in seen) == sorted(j.job_id() for j in jobs)
            assert failures == 1


async def test_cancelling_the_wait_leaves_the_remote_job_alone() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        async with AsyncSession(backend) as session:
            server.pause()
            job = await AsyncSampler(session).run([x_pattern(1, 1, 5)], shots=2)
            with anyio.move_on_after(0.01) as scope:
                await job
            assert scope.cancelled_caught
            assert not job.done()
            with pytest.raises(JobNotDoneError):
                job.result_nowait()
            with pytest.raises(JobTimeoutError, match="still runs"):
                await job.result(timeout=0.01)
            assert not job.done()
            server.resume()
            assert (await job)[0].data.c.get_counts() == {"1": 2}
        assert api_requests(server, "POST", f"/jobs/{job.job_id()}/cancel") == []


async def test_job_cancel_cancels_and_cancelling_a_final_job_conflicts() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        async with AsyncSession(backend) as session:
            server.pause()
            job = await AsyncSampler(session).run([x_pattern(1, 1, 5)])
            await job.cancel()
            with pytest.raises(JobCancelledError) as caught:
                await job
            assert caught.value.job_id == job.job_id()
            assert job.status() == JobStatus.CANCELLED == "CANCELLED"
            assert job.cancelled() and job.in_final_state() and not job.errored()
            server.resume()
            done = await AsyncSampler(session).run([x_pattern(1, 1, 5)], shots=1)
            await done
            with pytest.raises(ConflictError):
                await done.cancel()


async def test_job_cancel_stops_a_running_job() -> None:
    # Every job stays Running for an hour: only the cancel can end this one.
    async with local_service(execution_delay=3600.0) as (server, service):
        backend = await service.backend("ibm_local5")
        job = await AsyncSampler(backend).run([x_pattern(1, 1, 5)])  # job mode
        await server.wait_for_job_state(job.job_id(), "Running")
        await job.cancel()
        with anyio.fail_after(60), pytest.raises(JobCancelledError) as caught:
            await job
        assert caught.value.job_id == job.job_id()
        assert job.status() == JobStatus.CANCELLED
        assert server.job(job.job_id()).status.value == "Cancelled"
        assert len(api_requests(server, "POST", f"/jobs/{job.job_id()}/cancel")) == 1


async def test_failed_job_raises_typed_error_with_reason() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        server.fail_next_job("ibm_local5", reason="Injected failure", reason_code=1517)
        job = await AsyncSampler(backend).run([x_pattern(1, 1, 5)])  # job mode
        assert job.session_id is None
        with pytest.raises(JobFailedError) as caught:
            await job
        assert caught.value.reason_code == 1517
        assert "Error code 1517" in str(caught.value)
        assert job.status() == JobStatus.ERROR
        assert job.errored() and not job.running()
        assert "Injected failure" in (job.error_message() or "")
        with pytest.raises(JobFailedError):
            await job.result()
        await job.wait_for_final_state()  # final: returns, the job's error is for result()


async def test_ran_too_long_is_1305() -> None:
    async with local_service(max_execution_time=0.001, execution_delay=5.0) as (_s, service):
        backend = await service.backend("ibm_local5")
        job = await AsyncSampler(backend).run([x_pattern(1, 1, 5)])
        with pytest.raises(JobRanTooLongError) as caught:
            await job
        assert caught.value.reason_code == 1305
        assert job.status() == JobStatus.ERROR


async def test_non_isa_circuit_rejected_before_sending() -> None:
    from qiskit import QuantumCircuit

    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        circuit = QuantumCircuit(2)
        circuit.h(0)
        circuit.cx(0, 1)
        circuit.measure_all()
        with pytest.raises(InvalidInputError, match="'h' on qubits \\[0\\]"):
            await AsyncSampler(backend).run([circuit])
        wide = QuantumCircuit(6)
        with pytest.raises(InvalidInputError, match="6 qubits"):
            await AsyncSampler(backend).run([wide])
        with pytest.raises(InvalidInputError, match="unknown sampler options"):
            AsyncSampler(backend, options={"resilience_level": 1})
        assert api_requests(server, "POST", "/jobs") == []


async def test_estimator_and_options_on_the_wire() -> None:
    from qiskit.quantum_info import SparsePauliOp

    async with local_service() as (_server, service):
        backend = await service.backend("ibm_local5")
        circuit = x_pattern(0b1, 1, 5).remove_final_measurements(inplace=False)
        observable = SparsePauliOp("IIIIZ")
        estimator = AsyncEstimator(
            backend,
            options={
                "resilience_level": 0,
                "default_precision": 0.05,
                "environment": {"job_tags": ["est"]},
            },
        )
        job = await estimator.run([(circuit, observable)])
        result = await job
        assert math.isclose(float(result[0].data.evs), -1.0, abs_tol=0.2)
        assert "est" in job.tags


async def test_service_job_lookup_and_listing() -> None:
    async with local_service() as (_server, service):
        backend = await service.backend("ibm_local5")
        jobs = [await AsyncSampler(backend).run([x_pattern(1, 1, 5)], shots=1) for _ in range(3)]
        for job in jobs:
            await job
        again = await service.job(jobs[0].job_id())
        assert again.done()
        assert (await again)[0].data.c.get_counts() == {"1": 1}
        listed = await service.jobs(limit=None)
        assert {j.job_id() for j in jobs} <= {j.job_id() for j in listed}
        two = await service.jobs(limit=2, skip=1)
        assert len(two) == 2
        # Finished jobs from a listing fetch their result on first demand.
        assert (await two[0])[0].data.c.get_counts() == {"1": 1}
        await service.delete_job(jobs[2].job_id())
        usage = await service.usage()
        assert usage.raw is not None


async def test_bulk_polling_cost_with_500_pending_jobs() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        server.pause()
        # Full reads (reconciliation) as often as allowed: every (pages) ticks.
        full_ticks = PollSchedule(reconcile_every=1)
        async with AsyncSession(backend, poll_schedule=full_ticks) as session:
            sampler = AsyncSampler(session)
            circuit = x_pattern(1, 1, 5)
            async with anyio.create_task_group() as tg:
                for _ in range(500):
                    tg.start_soon(sampler.run, [circuit])
            watcher = session._watcher
            assert watcher is not None and watcher.pending == 500
            # A full tick with every job pending costs ceil(500 / 200) pages of the pending list
            # plus one page of recently finished jobs: 4 requests, not 500. With 3 pages it
            # comes every 3rd tick; the ticks between read the newest finished page only.
            await watcher.wait_for_tick()
            full = watcher.reconcile_ticks
            steady: list[int] = []
            while watcher.reconcile_ticks == full and len(steady) < 3:
                await watcher.wait_for_tick()
                steady.append(watcher.requests_per_tick[-1])
            assert watcher.reconcile_ticks == full + 1
            assert steady[-1] == 4 and set(steady[:-1]) <= {1}
            server.resume()
            await session.cancel()
        # Confirming 500 finished jobs: list pages, never one request per job.
        assert max(watcher.requests_per_tick) <= 4 + 4 + MAX_SINGLE_GETS
