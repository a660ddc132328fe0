"""The simulation pool's own behaviour: crashed workers, abandoned calls, closing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator

import aiohttp
import anyio
import pytest

from aioqruntime.codec import loads
from aioqruntime.server import LocalRuntimeServer, SimulationPool
from aioqruntime.server._executor import WorkerCrashedError

from .conftest import Api, exchange, sampler_body


def _params_text() -> str:
    return json.dumps(sampler_body(shots=100)["params"])


@pytest.fixture
async def own_pool() -> AsyncIterator[SimulationPool]:
    pool = SimulationPool(workers=1)
    try:
        await pool.warm_up()
        yield pool
    finally:
        await asyncio.to_thread(pool.close)


async def test_a_job_runs_in_a_worker(own_pool: SimulationPool) -> None:
    ok, text, stats = await own_pool.run_job("sampler", _params_text())
    assert ok, text
    counts = loads(text)[0].data.meas.get_counts()
    assert sum(counts.values()) == 100
    assert stats["executions"] == 100


async def test_a_dead_worker_fails_its_call_and_is_replaced(own_pool: SimulationPool) -> None:
    (pid,) = own_pool.worker_pids
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(WorkerCrashedError):
        await own_pool.run_job("sampler", _params_text())
    ok, text, _ = await own_pool.run_job("sampler", _params_text())
    assert ok, text
    (replacement,) = own_pool.worker_pids
    assert replacement != pid


async def test_a_failed_job_is_an_outcome_not_an_exception(own_pool: SimulationPool) -> None:
    ok, text, _ = await own_pool.run_job("no-such-program", "{}")
    assert not ok
    assert "cannot be simulated" in text
    ok, _, _ = await own_pool.run_job("sampler", _params_text())
    assert ok  # the worker is still in step with the pool


async def test_an_abandoned_call_leaves_the_worker_usable(own_pool: SimulationPool) -> None:
    # Cancelled at its first wait: the call was handed to the pool and is dropped (if not yet
    # started) or runs on with nobody waiting; either way the next call gets a worker in step.
    with anyio.move_on_after(0) as scope:
        await own_pool.run_job("sampler", _params_text())
    assert scope.cancelled_caught
    ok, text, _ = await own_pool.run_job("sampler", _params_text())
    assert ok, text


async def test_close_ends_the_worker_processes() -> None:
    pool = SimulationPool(workers=2)
    await pool.warm_up()
    pids = pool.worker_pids
    assert len(pids) == 2
    await asyncio.to_thread(pool.close)
    assert pool.worker_pids == []
    for pid in pids:  # reaped by close: the ids are gone, not zombies
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_a_job_whose_worker_died_fails_and_the_next_one_runs(
    own_pool: SimulationPool,
) -> None:
    async with (
        LocalRuntimeServer(pool=own_pool) as server,
        aiohttp.ClientSession() as http,
    ):
        api = Api(http, server, await exchange(http, server))
        (pid,) = own_pool.worker_pids
        os.kill(pid, signal.SIGKILL)  # as if a simulation had crashed it
        failed = await api.submit(sampler_body(shots=100))
        record = await server.wait_for_job_state(failed)
        assert record.status.value == "Failed"
        assert record.reason_code == 1517
        assert "WorkerCrashedError" in (record.reason or "")
        completed = await api.submit(sampler_body(shots=100))
        assert (await server.wait_for_job_state(completed)).status.value == "Completed"
