"""``aioqruntime job ID`` on executor jobs, as found again by id (the service cannot know who
submitted them): decoded by their semantic role, never a traceback."""

from __future__ import annotations

import json

import anyio
import pytest
from samplomatic.quantum_program import CircuitItem

from aioqruntime import AsyncExecutor, QuantumProgram
from aioqruntime.executor_sampler import AsyncSampler as ExecutorSampler
from tests.cli._helpers import run_cli, server_and_service, server_args, x_on


async def test_job_shows_executor_and_executor_sampler_jobs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with anyio.fail_after(120):
        async with server_and_service() as (server, service):
            backend = await service.backend("ibm_local5")
            program = QuantumProgram(shots=64, items=[CircuitItem(x_on([0, 2]))])
            raw = await AsyncExecutor(backend).run(program)
            sampled = await ExecutorSampler(backend).run([x_on([1])], shots=64)
            await raw
            await sampled
            args = server_args(server)

            code, out, err = await run_cli(capsys, "job", sampled.job_id(), *args)
            assert code == 0, err
            assert "program     executor" in out
            assert "pub 0       c: {'010': 64}, 64 shots" in out

            code, out, err = await run_cli(capsys, "job", raw.job_id(), *args)
            assert code == 0, err
            assert "item 0      c: bool array (64, 3)" in out

            code, out, err = await run_cli(capsys, "job", raw.job_id(), *args, "--json")
            assert code == 0, err
            (item,) = json.loads(out)["items"]
            assert item["arrays"] == {"c": {"shape": [64, 3], "dtype": "bool"}}
