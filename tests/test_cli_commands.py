"""The service commands of the CLI (backends, jobs, job, sessions, cancel) against a live server.

The server runs in the test's event loop; the CLI runs its own loop, either in a worker thread
(``main([...])``, output captured by capsys) or in a subprocess when signals or the real process
boundary matter.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from aioqruntime import AsyncEstimator, AsyncRuntimeService, AsyncSampler, AsyncSession
from aioqruntime.cli import main
from aioqruntime.cli._main import build_parser as main_parser
from aioqruntime.cli._service import open_service
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


async def test_backends_jobs_job_and_sessions(capsys: pytest.CaptureFixture[str]) -> None:
    with anyio.fail_after(120):
        async with server_and_service() as (server, service):
            backend = await service.backend("ibm_local5")
            tagged_sampler = AsyncSampler(
                backend, options={"environment": {"job_tags": ["nightly"]}}
            )
            plain = await tagged_sampler.run([x_on([0, 2])], shots=100)
            async with AsyncSession(backend) as session:
                in_session = await AsyncSampler(session).run([x_on([1]), x_on([0, 1])], shots=20)
                observable = SparsePauliOp.from_list([("IIIIZ", 1.0), ("IIIZI", 2.0)])
                estimate = await AsyncEstimator(session).run([(x_on([], 0), observable)])
                await in_session
                await estimate
            await plain
            args = server_args(server)

            code, out, err = await run_cli(capsys, "backends", *args)
            assert code == 0, err
            lines = out.splitlines()
            assert lines[0].split()[:3] == ["NAME", "QUBITS", "STATUS"]
            assert any(line.split()[:2] == ["ibm_local5", "5"] for line in lines[1:])

            code, out, err = await run_cli(capsys, "backends", *args, "--json")
            assert code == 0, err
            assert "ibm_local27" in {d["name"] for d in json.loads(out)}

            code, out, err = await run_cli(capsys, "jobs", *args)
            assert code == 0, err
            listed = [line.split()[0] for line in out.splitlines()[1:]]
            # Newest first; the two session jobs may share a creation time, so as a set.
            assert set(listed[:2]) == {estimate.job_id(), in_session.job_id()}
            assert listed[2:] == [plain.job_id()]
            session_id = session.session_id
            assert session_id is not None

            code, out, _ = await run_cli(capsys, "jobs", *args, "--session", session_id)
            assert sorted(line.split()[0] for line in out.splitlines()[1:]) == sorted(listed[:2])
            code, out, _ = await run_cli(capsys, "jobs", *args, "--program", "estimator")
            assert [line.split()[0] for line in out.splitlines()[1:]] == [estimate.job_id()]
            code, out, _ = await run_cli(capsys, "jobs", *args, "--limit", "1", "--json")
            assert [j["job_id"] for j in json.loads(out)] == listed[:1]
            code, out, _ = await run_cli(capsys, "jobs", *args, "--pending")
            assert (code, out) == (0, "no jobs\n")
            code, out, _ = await run_cli(capsys, "jobs", *args, "--done", "--backend", "ibm_local5")
            assert len(out.splitlines()) == 4
            code, out, _ = await run_cli(capsys, "jobs", *args, "--backend", "ibm_local27")
            assert out == "no jobs\n"
            code, out, _ = await run_cli(capsys, "jobs", *args, "--tag", "nightly")
            assert [line.split()[0] for line in out.splitlines()[1:]] == [plain.job_id()]
            assert out.splitlines()[1].split()[-1] == "nightly"  # the client tag is not shown

            code, out, err = await run_cli(capsys, "job", plain.job_id(), *args)
            assert code == 0, err
            assert "status      DONE" in out
            assert "pub 0       c: {'101': 100}, 100 shots" in out

            code, out, err = await run_cli(capsys, "job", in_session.job_id(), *args, "--json")
            assert code == 0, err
            document = json.loads(out)
            assert document["session_id"] == session.session_id
            assert [p["counts"]["c"]["top"] for p in document["pubs"]] == [
                {"010": 20},
                {"011": 20},
            ]

            code, out, err = await run_cli(capsys, "job", estimate.job_id(), *args, "--json")
            assert code == 0, err
            (pub,) = json.loads(out)["pubs"]
            assert pub["evs"] == pytest.approx(3.0, abs=0.2)  # <Z0> + 2<Z1> on |00>

            code, out, err = await run_cli(capsys, "sessions", *args)
            assert code == 0, err
            assert "the API cannot list sessions" in err
            (row,) = out.splitlines()[1:]
            assert row.split()[:2] == [session.session_id, "dedicated"]
            assert "ibm_local5" in row


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


async def test_errors_are_one_line_and_exit_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with anyio.fail_after(120):
        async with server_and_service() as (server, _service):
            args = server_args(server)
            code, _, err = await run_cli(capsys, "job", "no-such-job", *args)
            assert code == 1
            assert err == "aioqruntime job: no job 'no-such-job' on this server/instance\n"
            code, _, err = await run_cli(capsys, "cancel", "no-such-job", *args)
            assert code == 1
            assert "no job 'no-such-job'" in err
            code, _, err = await run_cli(
                capsys, "jobs", "--url", server.url, "--token", "wrong-key"
            )
            assert code == 1
            assert "authentication failed" in err
            assert "wrong-key" not in err
            code, _, err = await run_cli(capsys, "jobs", "--url", server.url)
            assert code == 1
            assert "authentication failed" in err

    code, _, err = await run_cli(capsys, "jobs")
    assert code == 2
    assert "no server given" in err
    assert "aioqruntime serve" in err
    assert "--url" in err
    code, _, err = await run_cli(capsys, "jobs", "--limit", "0", "--url", "http://x")
    assert code == 2
    assert "--limit" in err
    code, _, err = await run_cli(capsys, "jobs", "--pending", "--done", "--url", "http://x")
    assert code == 2
    assert "not allowed with" in err
    code, _, err = await run_cli(capsys, "job")
    assert code == 2
    assert "ID" in err
    code, _, err = await run_cli(capsys, "cancel", "x", "--frobnicate")
    assert code == 2
    assert "unrecognized arguments" in err
    code, _, err = await run_cli(capsys, "jobs", "--url", "ftp://nowhere", "--token", "k")
    assert code == 2
    assert "url" in err
    # A server that is not there: a clear message after a few quick retries.
    code, _, err = await run_cli(capsys, "backends", "--url", "http://127.0.0.1:1", "--token", "k")
    assert code == 1
    assert "cannot reach the server" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["backends", "jobs", "job", "sessions", "cancel"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--url" in out
    assert "--token" in out
    assert "exit status" in out


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "serve", "backends", "jobs", "job", "sessions", "cancel"):
        assert command in out


def test_environment_variables_are_the_default_server() -> None:
    completed = subprocess.run(
        cli_process("jobs"),
        env={**clean_env(), "QISKIT_IBM_URL": "http://127.0.0.1:1", "QISKIT_IBM_TOKEN": "k"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    assert "127.0.0.1:1" in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/api/v1"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765/api/v1"),
        ("http://127.0.0.1:8765/api/v1", "http://127.0.0.1:8765/api/v1"),
        ("https://quantum.cloud.ibm.com/api/v1", "https://quantum.cloud.ibm.com/api/v1"),
        ("https://cloud.ibm.com", "https://quantum.cloud.ibm.com/api/v1"),
    ],
)
def test_url_without_path_means_api_v1(given: str, expected: str) -> None:
    # The CLI passes --url as given; the service resolves it (as 'serve' prints it, no path).
    args = main_parser().parse_args(["jobs", "--url", given, "--token", "k"])
    assert open_service(args).url == expected


async def test_jobs_resume_reattaches_to_journaled_jobs(
    capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str]
) -> None:
    journal = os.path.join(tmp_path, "journal.sqlite")
    with anyio.fail_after(120):
        async with LocalRuntimeServer(config=ServerConfig(workers=0)) as server:
            server.pause()
            # A first "process" submits with the journal on and goes away before the results.
            async with AsyncRuntimeService(
                token=server.token,
                instance=server.instance,
                url=server.api_url,
                submissions_per_minute=None,
                journal=journal,
            ) as service:
                backend = await service.backend("ibm_local5")
                sampler = AsyncSampler(backend)
                submitted = [(await sampler.run([x_on([k])], shots=10)).job_id() for k in (0, 1)]
            server.resume()
            code, out, err = await run_cli(
                capsys, "jobs", "--resume", journal, "--json", *server_args(server)
            )
            assert code == 0, err
            records = json.loads(out)
            assert sorted(r["job_id"] for r in records) == sorted(submitted)
            assert {r["status"] for r in records} == {"DONE"}
            assert all(r["error"] is None for r in records)
            # Everything was delivered: a second resume has nothing left to do.
            code, out, err = await run_cli(
                capsys, "jobs", "--resume", journal, *server_args(server)
            )
            assert code == 0, err
            assert "nothing to resume" in out


async def test_jobs_resume_without_a_journal_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str]
) -> None:
    missing = os.path.join(tmp_path, "absent.sqlite")
    code, _, err = await run_cli(
        capsys, "jobs", "--resume", missing, "--url", "http://127.0.0.1:9", "--token", "k"
    )
    assert code == 2
    assert "no journal file" in err
