"""``aioqruntime sessions``: dedicated and batch sessions read through the public session API."""

from __future__ import annotations

import json
from datetime import datetime

import anyio
import pytest

from aioqruntime import AsyncBatch, AsyncSampler, AsyncSession
from tests.cli._helpers import run_cli, server_and_service, server_args, x_on

#: The keys of the official ``Session.details()``, plus the status text the table shows.
DETAILS_KEYS = {
    "id",
    "backend_name",
    "interactive_timeout",
    "max_time",
    "active_timeout",
    "state",
    "accepting_jobs",
    "last_job_started",
    "last_job_completed",
    "started_at",
    "closed_at",
    "activated_at",
    "mode",
    "usage_time",
    "status",
}


async def test_dedicated_and_batch_sessions(capsys: pytest.CaptureFixture[str]) -> None:
    with anyio.fail_after(120):
        async with server_and_service() as (server, service):
            backend = await service.backend("ibm_local5")
            async with AsyncSession(backend) as session:
                await (await AsyncSampler(session).run([x_on([0])], shots=10))
            async with AsyncBatch(backend) as batch:
                sampler = AsyncSampler(batch)
                first = await sampler.run([x_on([1])], shots=10)
                second = await sampler.run([x_on([2])], shots=10)
                await first
                await second
            assert session.session_id is not None
            assert batch.session_id is not None
            args = server_args(server)

            code, out, err = await run_cli(capsys, "sessions", *args)
            assert code == 0, err
            rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
            assert rows.keys() == {session.session_id, batch.session_id}
            assert rows[session.session_id][1:2] == ["dedicated"]
            assert rows[batch.session_id][1:2] == ["batch"]
            assert "ibm_local5" in rows[batch.session_id]
            # Newest first: the batch's jobs came last.
            assert out.splitlines()[1].split()[0] == batch.session_id

            code, out, err = await run_cli(capsys, "sessions", *args, "--json")
            assert code == 0, err
            by_id = {entry["id"]: entry for entry in json.loads(out)}
            assert by_id[batch.session_id]["jobs_seen"] == 2
            assert by_id[session.session_id]["jobs_seen"] == 1
            for entry in by_id.values():
                assert set(entry["details"]) == DETAILS_KEYS
                assert entry["details"]["id"] == entry["id"]
                assert entry["details"]["backend_name"] == "ibm_local5"
                started = datetime.fromisoformat(entry["details"]["started_at"])
                assert started.tzinfo is not None
            assert by_id[batch.session_id]["details"]["mode"] == "batch"


async def test_no_sessions(capsys: pytest.CaptureFixture[str]) -> None:
    with anyio.fail_after(120):
        async with server_and_service() as (server, service):
            backend = await service.backend("ibm_local5")
            await (await AsyncSampler(backend).run([x_on([0])], shots=10))
            code, out, err = await run_cli(capsys, "sessions", *server_args(server))
            assert (code, out) == (0, "no sessions\n"), err
            assert "sessions of the 1 most recent jobs" in err
