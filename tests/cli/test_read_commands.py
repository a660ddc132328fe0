"""backends, jobs, job and sessions against a live server; jobs --resume."""

from __future__ import annotations

import json
import os

import anyio
import pytest
from qiskit.quantum_info import SparsePauliOp

from aioqruntime import AsyncEstimator, AsyncRuntimeService, AsyncSampler, AsyncSession
from aioqruntime.server import LocalRuntimeServer, ServerConfig
from tests.cli._helpers import run_cli, server_and_service, server_args, x_on


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
