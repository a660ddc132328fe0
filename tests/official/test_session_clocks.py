"""Session clocks seen through the official client: the interactive TTL turns an idle session
inactive ("Pending"), and ``max_time`` closes it and cancels what is still queued."""

from __future__ import annotations

from typing import Any

import pytest
from qiskit_ibm_runtime import SamplerV2, Session
from qiskit_ibm_runtime.exceptions import RuntimeInvalidStateError

from aioqruntime.server import ServerConfig

from ._circuits import isa_bell
from ._harness import BACKEND, ServerThread


@pytest.fixture(scope="module")
def server_config() -> ServerConfig:
    return ServerConfig(device_names=(BACKEND,), interactive_ttl=0.3)


def _wait_session(local: ServerThread, session_id: str, *states: str) -> str:
    record = local.run(lambda: local.server.wait_for_session_state(session_id, *states))
    return str(record.state.value)


def test_idle_session_turns_inactive_then_active_again(local: ServerThread, service: Any) -> None:
    backend = service.backend(BACKEND)
    isa = isa_bell(backend)
    with Session(backend=backend) as session:
        sampler = SamplerV2(mode=session)
        sampler.run([isa], shots=10).result()
        assert _wait_session(local, session.session_id, "inactive") == "inactive"
        assert session.status() == "Pending"
        assert session.details()["state"] == "inactive"  # type: ignore[index]
        # An inactive session still takes jobs, and running one makes it active again.
        sampler.run([isa], shots=10).result()
        details = session.details()
        assert details is not None
        assert [t["status"] for t in details["timestamps"]][:4] == [
            "open",
            "active",
            "inactive",
            "active",
        ]
    assert session.status() == "Closed"


def test_max_time_closes_the_session_and_cancels_queued_jobs(
    local: ServerThread, service: Any
) -> None:
    backend = service.backend(BACKEND)
    isa = isa_bell(backend)
    session = Session(backend=backend, max_time=1)
    sampler = SamplerV2(mode=session)
    sampler.run([isa], shots=10).result()  # the first job starts the max_time clock
    local.pause(BACKEND)
    try:
        queued = sampler.run([isa], shots=10)
        assert _wait_session(local, session.session_id, "closed") == "closed"
        assert queued.status() == "CANCELLED"
        with pytest.raises(RuntimeInvalidStateError):
            queued.result()
        assert session.status() == "Closed"
        assert session.details()["max_time"] == 1  # type: ignore[index]
    finally:
        local.resume(BACKEND)
