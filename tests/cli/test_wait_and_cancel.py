"""job --wait (with Ctrl-C), cancel, and the exit status of a failed or cancelled job."""

from __future__ import annotations

import signal

import anyio
import pytest

from aioqruntime import AsyncSampler
from aioqruntime.server import ServerConfig
from tests.cli._helpers import cli_process, interact, run_cli, server_and_service, server_args, x_on


async def test_cancel_a_running_job(capsys: pytest.CaptureFixture[str]) -> None:
    # Every job stays Running for an hour: only the cancel can end this one.
    with anyio.fail_after(120):
        held = ServerConfig(workers=0, execution_delay=3600.0)
        async with server_and_service(held) as (server, service):
            backend = await service.backend("ibm_local5")
            args = server_args(server)
            job = await AsyncSampler(backend).run([x_on([1])], shots=10)
            await server.wait_for_job_state(job.job_id(), "Running")
            code, out, err = await run_cli(capsys, "cancel", job.job_id(), *args)
            assert code == 0, err
            assert f"cancel requested for job {job.job_id()} (was RUNNING)" in out
            assert server.job(job.job_id()).status.value == "Cancelled"
            code, out, err = await run_cli(capsys, "job", job.job_id(), *args)
            assert code == 3
            assert "status      CANCELLED" in out


async def test_wait_failed_job_and_cancel(capsys: pytest.CaptureFixture[str]) -> None:
    with anyio.fail_after(120):
        async with server_and_service() as (server, service):
            backend = await service.backend("ibm_local5")
            args = server_args(server)
            server.pause("ibm_local5")
            queued = await AsyncSampler(backend).run([x_on([1])], shots=10)
            waited = await AsyncSampler(backend).run([x_on([2])], shots=10)

            code, out, err = await run_cli(capsys, "job", queued.job_id(), *args)
            assert code == 0, err
            assert "status      QUEUED" in out
            assert "add --wait" in out
            code, out, _ = await run_cli(capsys, "jobs", *args, "--pending")
            assert len(out.splitlines()) == 3

            code, out, err = await run_cli(capsys, "cancel", queued.job_id(), *args)
            assert code == 0, err
            assert f"cancel requested for job {queued.job_id()} (was QUEUED)" in out
            await server.wait_for_job_state(queued.job_id(), "Cancelled")
            code, out, err = await run_cli(capsys, "cancel", queued.job_id(), *args)
            assert code == 1
            assert "already CANCELLED" in err
            code, out, err = await run_cli(capsys, "job", queued.job_id(), *args)
            assert code == 3
            assert "status      CANCELLED" in out
            assert "error" in out

            # --wait in a process whose stderr is not a terminal: the result, and no spinner.
            code, out, err = await anyio.to_thread.run_sync(
                interact,
                cli_process("job", waited.job_id(), "--wait", "-v", *args),
                lambda _process: anyio.from_thread.run_sync(server.resume, "ibm_local5"),
            )
            assert code == 0, err
            assert "status      DONE" in out
            assert "c: {'100': 10}" in out
            assert "\r" not in err

            server.fail_next_job("ibm_local5")
            failing = await AsyncSampler(backend).run([x_on([2])], shots=10)
            code, out, err = await run_cli(capsys, "job", failing.job_id(), *args, "--wait")
            assert code == 3
            assert "status      ERROR" in out
            assert "Injected failure" in out
            assert err == ""  # captured stderr is not a terminal: no progress line


async def test_ctrl_c_while_waiting_exits_130() -> None:
    with anyio.fail_after(120):
        async with server_and_service() as (server, service):
            server.pause()
            job = await AsyncSampler(await service.backend("ibm_local5")).run([x_on([0])])
            code, _, err = await anyio.to_thread.run_sync(
                interact,
                cli_process("job", job.job_id(), "--wait", "-v", *server_args(server)),
                lambda process: process.send_signal(signal.SIGINT),
            )
            assert code == 130
            assert "Traceback" not in err
            assert "interrupted" in err
            # Interrupting the wait left the job alone.
            assert server.job(job.job_id()).status.value == "Queued"
