"""The journal: a process killed after submitting loses nothing; a new one resumes every job."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import sys
from pathlib import Path

import anyio
import pytest
from anyio.streams.text import TextReceiveStream
from qiskit.primitives.containers.sampler_pub import SamplerPub

from aioqruntime import AsyncSampler, AsyncSession, BadRequestError
from aioqruntime.codec import dumps, encode_sampler_pubs
from aioqruntime.protocol import create_job
from aioqruntime.runtime import AsyncRuntimeService, job_label
from aioqruntime.runtime._journal import Journal
from aioqruntime.server import LocalRuntimeServer, ServerConfig
from tests.client._helpers import (
    FAST_CONFIG,
    FAST_RETRY,
    api_requests,
    expected_bitstring,
    server_jobs_by_tag,
    x_pattern,
)

ROOT = Path(__file__).resolve().parents[2]
JOBS = 100


def _service(server: LocalRuntimeServer, journal: Path) -> AsyncRuntimeService:
    return AsyncRuntimeService(
        token=server.token,
        instance=server.instance,
        url=server.api_url,
        journal=journal,
        retry=FAST_RETRY,
        transport_config=FAST_CONFIG,
        submissions_per_minute=None,
    )


async def test_sigkilled_submitter_is_resumed_with_every_result_once(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    async with LocalRuntimeServer(
        db_path=tmp_path / "server.db", config=ServerConfig(workers=0)
    ) as server:
        server.pause()  # nothing finishes while the child lives: every job is unfinished
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [
            sys.executable,
            "-m",
            "tests.reliability._journal_child",
            server.api_url,
            server.token,
            server.instance,
            str(journal),
            str(JOBS),
        ]
        async with await anyio.open_process(command, cwd=ROOT, env=env) as child:
            assert child.stdout is not None
            seen = ""
            async for text in TextReceiveStream(child.stdout):
                seen += text
                if f"JOURNALED {JOBS}" in seen:
                    break
            assert f"JOURNALED {JOBS}" in seen, seen
            child.send_signal(signal.SIGKILL)
            assert await child.wait() == -signal.SIGKILL
        assert len(api_requests(server, "POST", "/jobs")) == JOBS

        async with _service(server, journal) as service:
            entries = await service.journal_entries(unfinished_only=True)
            assert len(entries) == JOBS and all(e.job_id for e in entries)
            sessions = await service.journal_sessions()
            assert [(s.label, s.state) for s in sessions] == [("child-session", "open")]
            jobs = await service.resume()
            assert len(jobs) == JOBS
            server.resume()
            results = {}
            for job in jobs:
                results[job.label] = await job
            assert service.statistics()["watcher.result_requests"] == JOBS
            assert await service.resume() == []  # every outcome delivered: nothing left
        for index in range(JOBS):
            counts = results[f"pattern-{index}"][0].data.c.get_counts()
            assert counts == {expected_bitstring(index % 32, 5): 3}
        by_tag = server_jobs_by_tag(server, [job.job_id() for job in jobs])
        assert len(by_tag) == JOBS and set(by_tag.values()) == {1}
        assert len(api_requests(server, "GET", "/results")) == JOBS


async def test_crash_between_post_and_answer_is_recovered_by_tag(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    async with LocalRuntimeServer(config=ServerConfig(workers=0)) as server:
        # A process journaled two submissions, sent one of them, and died before the answers.
        journal = Journal(path)
        await journal.open()
        for tag, label in (("aioqruntime:sent", "arrived"), ("aioqruntime:lost", "never-sent")):
            await journal.submitting(
                client_tag=tag,
                label=label,
                tags=(),
                program_id="sampler",
                backend="ibm_local5",
                session_id=None,
            )
        await journal.aclose()
        pubs = encode_sampler_pubs([SamplerPub.coerce(x_pattern(5, 3, 5), 4)])
        body = {
            "program_id": "sampler",
            "backend": "ibm_local5",
            "tags": ["aioqruntime:sent"],
            "params": {"pubs": pubs, "version": 2, "support_qiskit": True, "options": {}},
        }
        async with _service(server, tmp_path / "other.sqlite") as raw:
            await raw.client.jobs.create(create_job(dumps(body)), tag="aioqruntime:sent")
        async with _service(server, path) as service:
            jobs = await service.resume()
            assert [j.label for j in jobs] == ["arrived"]
            assert (await jobs[0])[0].data.c.get_counts() == {expected_bitstring(5, 3): 4}
            states = {e.label: e.state for e in await service.journal_entries()}
        assert states == {"arrived": "settled", "never-sent": "not_found"}


async def test_journal_records_labels_sessions_and_settlement(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    async with LocalRuntimeServer(config=ServerConfig(workers=0)) as server:
        async with _service(server, path) as service:
            backend = await service.backend("ibm_local5")
            async with AsyncSession(backend, label="s1") as session:
                with pytest.raises(BadRequestError):  # refused: journaled as rejected
                    await session.run("sampler", {"pubs": [], "version": 2}, label="refused")
                with job_label("ctx"):
                    labelled = await AsyncSampler(session).run([x_pattern(1, 1, 5)], shots=1)
                assert labelled.label == "ctx"
                await labelled
            assert await service.resume() == []
        with contextlib.closing(sqlite3.connect(path)) as db:
            rows = db.execute("SELECT label, state FROM jobs ORDER BY rowid").fetchall()
            sessions = db.execute("SELECT label, state FROM sessions").fetchall()
        assert rows == [("refused", "rejected"), ("ctx", "settled")]
        assert sessions == [("s1", "closed")]
