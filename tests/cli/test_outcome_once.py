"""``aioqruntime job ID`` of a cancelled job says so once, on stdout, with exit status 3: the
library's own warning about the job's outcome is not printed again on stderr."""

from __future__ import annotations

import subprocess

import anyio

from aioqruntime import AsyncSampler
from tests.cli._helpers import clean_env, cli_process, server_and_service, server_args, x_on


async def test_a_cancelled_job_is_reported_once() -> None:
    with anyio.fail_after(120):
        async with server_and_service() as (server, service):
            backend = await service.backend("ibm_local5")
            server.pause("ibm_local5")
            job = await AsyncSampler(backend).run([x_on([1])], shots=10)
            await job.cancel()
            await server.wait_for_job_state(job.job_id(), "Cancelled")

            def run() -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    cli_process("job", job.job_id(), *server_args(server)),
                    capture_output=True,
                    text=True,
                    env=clean_env(),
                    check=False,
                )

            completed = await anyio.to_thread.run_sync(run)
    assert completed.returncode == 3
    assert "status      CANCELLED" in completed.stdout
    assert completed.stderr == ""
