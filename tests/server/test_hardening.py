"""Server lifecycle fixes: unwrapped exceptions, the idle close of sessions, a robust DB writer."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from aioqruntime.server import LocalRuntimeServer, ServerConfig
from aioqruntime.server._db import Database
from tests.server.conftest import Api, sampler_body


class _Mine(Exception):
    pass


async def test_exception_in_the_body_comes_out_unwrapped() -> None:
    with pytest.raises(_Mine):
        async with LocalRuntimeServer(config=ServerConfig(workers=0)):
            raise _Mine
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.01):
            async with LocalRuntimeServer(config=ServerConfig(workers=0)):
                await anyio.sleep_forever()


async def test_body_exception_is_not_replaced_by_a_crashed_background_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def crash() -> None:
        raise ZeroDivisionError

    with pytest.raises(_Mine) as info:
        async with LocalRuntimeServer(config=ServerConfig(workers=0)) as server:
            supervisor = server._ctx.scheduler._tg
            assert supervisor is not None
            supervisor.start_soon(crash, name="crasher")
            await anyio.lowlevel.checkpoint()  # a turn to crash, one for the callback
            await anyio.lowlevel.checkpoint()
            raise _Mine
    assert type(info.value) is _Mine
    assert "server task crasher crashed" in caplog.text
    # Without a body exception, the crash itself is reported at exit.
    with pytest.raises(RuntimeError, match="background task"):
        async with LocalRuntimeServer(config=ServerConfig(workers=0)) as server:
            supervisor = server._ctx.scheduler._tg
            assert supervisor is not None
            supervisor.start_soon(crash, name="crasher")
            await anyio.lowlevel.checkpoint()  # a turn to crash, one for the callback
            await anyio.lowlevel.checkpoint()


async def test_enter_and_exit_in_different_tasks() -> None:
    # The pytest-asyncio fixture pattern: set-up and tear-down run in different tasks.
    server = LocalRuntimeServer(config=ServerConfig(workers=0))
    await asyncio.get_running_loop().create_task(server.__aenter__())
    with pytest.raises(_Mine):
        try:
            raise _Mine
        except _Mine as exc:
            await asyncio.get_running_loop().create_task(
                server.__aexit__(type(exc), exc, exc.__traceback__)
            )
            raise


@pytest.mark.parametrize("config", [ServerConfig(session_idle_timeout=0.3)])
async def test_session_without_submissions_closes_after_the_idle_timeout(
    api: Api, server: LocalRuntimeServer
) -> None:
    idle = await api.json("POST", "/sessions", json={"mode": "batch"})
    closed = await server.wait_for_session_state(idle["id"], "closed")
    assert closed.state_reason == "no job submitted within the idle timeout"
    details = await api.json("GET", f"/sessions/{idle['id']}")
    assert details["state"] == "closed"
    assert details["accepting_jobs"] is False
    response = await api.request("POST", "/jobs", json=sampler_body(session_id=idle["id"]))
    assert response.status == 400


@pytest.mark.parametrize("config", [ServerConfig(session_idle_timeout=0.5)])
async def test_idle_close_waits_for_queued_jobs(api: Api, server: LocalRuntimeServer) -> None:
    server.pause()
    session = await api.json("POST", "/sessions", json={"mode": "dedicated"})
    job_id = await api.submit(sampler_body(session_id=session["id"], shots=5))
    await server.wait_for_event("session_idle", session["id"])
    record = server.session(session["id"])
    assert record.accepting_jobs is False and not record.closed  # still draining
    assert server.job(job_id).status.value == "Queued"
    server.resume()
    await server.wait_for_job_state(job_id, "completed")
    await server.wait_for_session_state(session["id"], "closed")


def test_idle_timeout_default_and_off() -> None:
    assert ServerConfig().session_idle_timeout == 1800.0
    assert ServerConfig(session_idle_timeout=None).session_idle_timeout is None


async def test_database_writer_survives_a_row_it_cannot_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    db = Database(tmp_path / "x.db")
    await anyio.to_thread.run_sync(db.open_and_load)
    db.start(asyncio.get_running_loop())
    try:
        db.put_session("s1", "crn-\udcff", "{}")  # a lone surrogate: sqlite3 cannot encode it
        db.put_session("s2", "crn-ok", "{}")
        with anyio.fail_after(10):
            await db.flush()
    finally:
        await anyio.to_thread.run_sync(db.stop_blocking)
    loaded = await anyio.to_thread.run_sync(db.open_and_load)
    assert [s for s, _ in loaded.sessions] == ["s2"]
    assert "database write failed: INSERT (UnicodeEncodeError)" in caplog.text
