"""One local server per module in a background thread, so the synchronous official client (run
in a worker thread) and our async client (on the test's loop) can use the same server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aioqruntime.runtime import AsyncRuntimeService
from aioqruntime.server import ServerConfig, SimulationPool
from tests.official._harness import ServerThread, point_client_at, resolver_for


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ServerThread]:
    pool = SimulationPool(workers=0)
    running = ServerThread(ServerConfig(device_names=("ibm_local5",)), pool).start()
    try:
        yield running
    finally:
        running.stop()
        pool.close(wait=True)


@pytest.fixture
def ours(shared_server: ServerThread) -> Callable[[], AsyncRuntimeService]:
    """Our service on the same server; enter it in the test (``async with ours() as service``):
    its task group must live in the test's own task."""

    def make() -> AsyncRuntimeService:
        return AsyncRuntimeService(
            token=shared_server.token,
            instance=shared_server.instance,
            url=shared_server.api_url,
            submissions_per_minute=None,
        )

    return make


@pytest.fixture
def official(shared_server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Any]:
    """Builds the official ``QiskitRuntimeService`` on the same server (configuration only)."""
    from qiskit_ibm_runtime import QiskitRuntimeService

    point_client_at(monkeypatch, shared_server, lookup=False)

    def make() -> Any:
        return QiskitRuntimeService(
            token=shared_server.token,
            instance=shared_server.instance,
            url=shared_server.url,
            url_resolver=resolver_for(shared_server),
        )

    return make
