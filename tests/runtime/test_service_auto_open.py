"""A service never entered opens on its first awaited use, in a task of its own, and closes from
any task: the official client's style (``service = QiskitRuntimeService()``) ported by adding
``await``, and notebooks, where every cell runs as its own task.

Everything runs against a real local server over loopback (the embedded one for the script).
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import os
import sqlite3
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest

from aioqruntime import AsyncRuntimeService, AsyncSampler, AsyncSession, ServiceClosedError
from aioqruntime.runtime._journal import Journal
from aioqruntime.server import LocalRuntimeServer, ServerConfig
from tests.client._helpers import FAST_RETRY, api_requests, x_pattern

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

T = TypeVar("T")

#: IBM's Session example (the class page's), ported by adding await / async with only: the
#: service is not entered. After it, the script says whether any child process (a simulation
#: worker of the embedded server) outlived asyncio.run.
LITERAL_PORT = """
import asyncio

from qiskit.circuit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager

from aioqruntime import AsyncRuntimeService as QiskitRuntimeService
from aioqruntime import AsyncSampler as Sampler
from aioqruntime import AsyncSession as Session


async def main():
    service = QiskitRuntimeService()
    backend = await service.least_busy(operational=True, simulator=False)

    qr = QuantumRegister(2, name="qr")
    cr = ClassicalRegister(2, name="cr")
    qc = QuantumCircuit(qr, cr, name="bell")
    qc.h(qr[0])
    qc.cx(qr[0], qr[1])
    qc.measure(qr, cr)

    pm = generate_preset_pass_manager(backend=backend, optimization_level=1)
    isa_circuit = pm.run(qc)

    async with Session(backend=backend) as session:
        sampler = Sampler(session=session)
        job = await sampler.run([isa_circuit])
        pub_result = (await job.result())[0]
        print(f"Sampler job ID: {job.job_id()}")
        print(f"Counts: {pub_result.data.cr.get_counts()}")


asyncio.run(main())

import os

try:
    os.waitpid(-1, os.WNOHANG)
    print("A CHILD PROCESS IS LEFT")
except ChildProcessError:
    print("NO CHILD PROCESS LEFT")
"""


def test_the_official_session_example_ported_literally_runs_as_a_script(tmp_path: Path) -> None:
    script = tmp_path / "literal_port.py"
    script.write_text(LITERAL_PORT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QISKIT_IBM_")}
    env["HOME"] = str(tmp_path)  # no saved account either: the embedded server
    done = subprocess.run(
        # ResourceWarnings shown: an unclosed socket or HTTP session would say so on stderr.
        [sys.executable, "-W", "always::ResourceWarning", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("Counts: ")]
    counts = ast.literal_eval(line.removeprefix("Counts: "))
    assert set(counts) <= {"00", "11"} and sum(counts.values()) > 0, line
    for bad in ("Traceback", "Task was destroyed", "Unclosed", "ResourceWarning"):
        assert bad not in done.stderr, done.stderr[-3000:]
    # The embedded server's workers were stopped and reaped when asyncio.run ended.
    assert "NO CHILD PROCESS LEFT" in done.stdout, done.stdout


@pytest.fixture
async def server() -> AsyncIterator[LocalRuntimeServer]:
    async with LocalRuntimeServer(config=ServerConfig(workers=0)) as running:
        yield running


def _service(server: LocalRuntimeServer, **options: Any) -> AsyncRuntimeService:
    return AsyncRuntimeService(
        token=server.token,
        instance=server.instance,
        url=server.api_url,
        submissions_per_minute=None,
        retry=FAST_RETRY,
        **options,
    )


async def _cell(awaitable: Awaitable[T]) -> T:
    """Awaits in a task of its own, as a notebook cell runs."""

    async def body() -> T:
        return await awaitable

    return await asyncio.create_task(body())


async def test_opened_in_one_task_then_used_and_closed_from_others(
    server: LocalRuntimeServer,
) -> None:
    service = _service(server)
    backend = await _cell(service.backend("ibm_local5"))
    job = await _cell(AsyncSampler(mode=backend).run([x_pattern(1, 1, 5)], shots=3))
    assert (await _cell(job.result()))[0].data.c.get_counts() == {"1": 3}
    session = AsyncSession(backend)  # never entered: opens on its first job
    in_session = await _cell(AsyncSampler(mode=session).run([x_pattern(0, 1, 5)], shots=2))
    assert (await _cell(in_session.result()))[0].data.c.get_counts() == {"0": 2}
    await _cell(session.close())
    await _cell(service.close())
    with pytest.raises(ServiceClosedError, match="the service is closed"):
        await service.backend("ibm_local5")
    with pytest.raises(ServiceClosedError, match="the service is closed"):
        await AsyncSampler(mode=backend).run([x_pattern(1, 1, 5)], shots=1)
    with pytest.raises(ServiceClosedError, match="the service is closed"):
        service.client  # noqa: B018 (the property raises)


async def test_concurrent_first_uses_open_the_service_once(server: LocalRuntimeServer) -> None:
    service = _service(server)
    listings = await asyncio.gather(*(service.backends() for _ in range(5)))
    names = [[b.name for b in listing] for listing in listings]
    assert set(names[0]) == set(server.backend_names)
    assert all(n == names[0] for n in names)
    # One opening, one transport: its one API key exchange.
    assert len(api_requests(server, "POST", "/identity/token")) == 1
    await service.close()


async def test_a_caller_cancelled_while_waiting_leaves_the_opening_to_the_others(
    server: LocalRuntimeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opening, release = asyncio.Event(), asyncio.Event()
    open_journal = Journal.open

    async def held_open(journal: Journal) -> None:  # the opening waits here until released
        opening.set()
        await release.wait()
        await open_journal(journal)

    monkeypatch.setattr(Journal, "open", held_open)
    service = _service(server, journal=tmp_path / "jobs.sqlite")
    first = asyncio.create_task(service.usage())
    opened = asyncio.create_task(opening.wait())
    await asyncio.wait([first, opened], return_when=asyncio.FIRST_COMPLETED)
    if first.done():
        first.result()  # the first use did not start opening the service: raise why
    second = asyncio.create_task(service.usage())
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    release.set()
    assert (await second).raw is not None
    assert len(api_requests(server, "POST", "/identity/token")) == 1
    assert await service.journal_entries() == []
    await service.close()


async def test_a_failed_opening_is_raised_to_each_caller_and_the_next_use_tries_again(
    server: LocalRuntimeServer, tmp_path: Path
) -> None:
    journal = tmp_path / "not-yet" / "jobs.sqlite"  # its directory is missing: sqlite fails
    service = _service(server, journal=journal)
    failures = await asyncio.gather(service.usage(), service.usage(), return_exceptions=True)
    assert all(isinstance(f, sqlite3.OperationalError) for f in failures), failures
    assert failures[0] is failures[1]  # one opening, its error raised to both, unchanged
    journal.parent.mkdir()
    assert (await service.usage()).raw is not None
    assert journal.exists()
    await service.close()


async def test_close_raises_what_stopped_a_service_that_opened_on_first_use(
    server: LocalRuntimeServer,
) -> None:
    service = _service(server)
    backend = await service.backend("ibm_local5")
    job = await AsyncSampler(mode=backend).run([x_pattern(1, 1, 5)], shots=2)

    def explode(_job: object) -> None:
        raise RuntimeError("callback failed")

    job.add_done_callback(explode)  # fires in the service's watcher, in the host task
    await job
    with pytest.raises(BaseExceptionGroup) as caught:
        await service.close()
    assert caught.group_contains(RuntimeError, match="callback failed")
    await service.close()  # raised once
    with pytest.raises(ServiceClosedError, match="the service is closed"):
        await service.usage()


async def test_close_is_idempotent_and_async_with_keeps_its_rules(
    server: LocalRuntimeServer,
) -> None:
    auto = _service(server)
    await auto.backend("ibm_local5")
    with pytest.raises(RuntimeError, match="opened on its first use"):
        async with auto:
            pass
    await auto.close()
    await auto.close()
    await auto.aclose()
    with pytest.raises(ServiceClosedError, match="the service is closed"):
        await auto.usage()

    unused = _service(server)
    await unused.close()  # closed before any use: it never opens
    with pytest.raises(ServiceClosedError, match="the service is closed"):
        await unused.usage()

    entered = _service(server)
    async with entered:
        with pytest.raises(RuntimeError, match="leave that block"):
            await _cell(entered.close())
        await entered.backend("ibm_local5")  # still open
        await entered.close()  # from the entering task: as leaving the block
        with pytest.raises(ServiceClosedError, match="the service is closed"):
            await entered.usage()
    await entered.close()


async def test_a_service_collected_while_still_open_warns(server: LocalRuntimeServer) -> None:
    service = _service(server)
    await service.usage()
    # Called directly: while open, a service is held by its own host task (anyio's cancel
    # scopes hold the tasks inside them), so garbage collection cannot be made to reach it.
    with pytest.warns(ResourceWarning, match="collected while still open"):
        service.__del__()
    await service.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        service.__del__()  # closed: nothing to say


def test_sync_accessors_and_other_event_loops_still_ask_for_async_with() -> None:
    service = AsyncRuntimeService(token="k", instance="crn:x", url="http://127.0.0.1:9/api/v1")
    # Under trio (any anyio backend but asyncio) there is no asyncio task to open it in. Driven
    # by hand, as another event loop would drive it, the first use runs with no asyncio loop.
    first_use = service.usage()
    with pytest.raises(ServiceClosedError) as refused:
        first_use.send(None)
    assert str(refused.value) == (
        "the service is not open: use 'async with AsyncRuntimeService(...)'"
    )
    if importlib.util.find_spec("trio") is not None:

        async def under_trio() -> None:
            with pytest.raises(ServiceClosedError, match=r"use 'async with [^,]*\)'$"):
                await service.usage()

        anyio.run(under_trio, backend="trio")

    async def sync_accessors() -> None:  # they do not open it: they say how
        with pytest.raises(ServiceClosedError, match="or await one of its methods first"):
            service.transport  # noqa: B018 (the property raises)
        with pytest.raises(ServiceClosedError, match="or await one of its methods first"):
            service.statistics()

    asyncio.run(sync_accessors())
