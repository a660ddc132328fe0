"""``aioqruntime jobs | head -1``: a reader that stops early ends the command quietly."""

from __future__ import annotations

import os
import subprocess

import anyio

from aioqruntime import AsyncSampler
from tests.cli._helpers import clean_env, cli_process, server_and_service, server_args, x_on


async def test_a_closed_stdout_pipe_is_no_error_message() -> None:
    with anyio.fail_after(120):
        async with server_and_service() as (server, service):
            backend = await service.backend("ibm_local5")
            await (await AsyncSampler(backend).run([x_on([0])], shots=10))
            reader, writer = os.pipe()
            os.close(reader)  # the reader is gone before anything is written: EPIPE at once
            try:

                def run() -> subprocess.CompletedProcess[bytes]:
                    return subprocess.run(
                        cli_process("jobs", *server_args(server)),
                        stdout=writer,
                        stderr=subprocess.PIPE,
                        env=clean_env(),
                        check=False,
                    )

                completed = await anyio.to_thread.run_sync(run)
            finally:
                os.close(writer)
    assert completed.stderr.decode() == ""
    assert completed.returncode == 1  # as Python's documentation advises for EPIPE
