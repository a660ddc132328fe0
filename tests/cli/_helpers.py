"""A live server for the CLI, and running the CLI in a thread or as a process.

The server runs in the test's event loop; the CLI runs its own loop, either in a worker thread
(``main([...])``, output captured by capsys) or in a subprocess when signals or the real process
boundary matter.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import pytest
from qiskit import QuantumCircuit

from aioqruntime import AsyncRuntimeService
from aioqruntime.cli import main
from aioqruntime.server import LocalRuntimeServer, ServerConfig


@asynccontextmanager
async def server_and_service(
    config: ServerConfig | None = None,
) -> AsyncIterator[tuple[LocalRuntimeServer, AsyncRuntimeService]]:
    async with (
        LocalRuntimeServer(config=config or ServerConfig(workers=0)) as server,
        AsyncRuntimeService(
            token=server.token,
            instance=server.instance,
            url=server.api_url,
            submissions_per_minute=None,
        ) as service,
    ):
        yield server, service


def x_on(qubits: list[int], width: int = 3, num_qubits: int = 5) -> QuantumCircuit:
    circuit = QuantumCircuit(num_qubits, width)
    for qubit in qubits:
        circuit.x(qubit)
    circuit.measure(range(width), range(width))
    return circuit


def server_args(server: LocalRuntimeServer) -> list[str]:
    # The base URL exactly as 'aioqruntime serve' prints it (no /api/v1).
    return ["--url", server.url, "--token", server.token]


async def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``main(argv)`` in a worker thread (it runs its own event loop); (status, stdout, stderr)."""

    def call() -> int:
        try:
            return main(list(argv))
        except SystemExit as exc:  # argparse: --help or a usage error
            return int(exc.code or 0)

    capsys.readouterr()
    code = await anyio.to_thread.run_sync(call)
    out, err = capsys.readouterr()
    return code, out, err


def cli_process(*argv: str) -> list[str]:
    return [sys.executable, "-m", "aioqruntime", *argv]


def interact(
    argv: list[str], then: Callable[[subprocess.Popen[bytes]], object]
) -> tuple[int, str, str]:
    """Run ``argv``; once its stderr says it is waiting for the job, ``then(process)``; the end.

    Plain ``subprocess`` in a worker thread, not an asyncio child watcher: the CLI threads of
    other tests run event loops of their own, and the watcher raced with them (a returncode 255
    once in a while).
    """
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
        # A shell that runs the suite in the background (CI may) starts it with SIGINT ignored,
        # and an ignored SIGINT is inherited: give the CLI the default disposition, as a terminal
        # would, so Ctrl-C reaches it.
        preexec_fn=_default_sigint,
    ) as process:
        assert process.stderr is not None
        seen = b""
        while b"waiting for job" not in seen:
            line = process.stderr.readline()
            if not line:
                break  # it ended early: the assertions on its output will tell why
            seen += line
        then(process)
        out, err = process.communicate(timeout=60)
    return process.returncode, out.decode(), (seen + err).decode()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QISKIT_IBM_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env
