"""Fixtures of the official-client conformance tests: one server per module, client factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aioqruntime.server import ServerConfig, SimulationPool

from ._harness import ServerThread, point_client_at, resolver_for


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test here drives the official client, whose V2 primitives are deprecated in 0.51.0.
    for item in items:
        if "tests/official/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.official)
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning"))


@pytest.fixture(scope="session")
def official_pool() -> Iterator[SimulationPool]:
    """One simulation worker for every server of the official-client tests."""
    pool = SimulationPool(workers=1)
    yield pool
    pool.close(wait=True)


@pytest.fixture(scope="module")
def server_config() -> ServerConfig:
    """Override per module for a differently configured server."""
    return ServerConfig(device_names=("ibm_local5", "ibm_local27"))


@pytest.fixture(scope="module")
def local(official_pool: SimulationPool, server_config: ServerConfig) -> Iterator[ServerThread]:
    """The module's local runtime server, running in a background thread."""
    running = ServerThread(server_config, official_pool).start()
    try:
        yield running
    finally:
        # Nothing a test paused may hold the shutdown.
        running.resume()
        running.stop()


ServiceFactory = Callable[..., Any]


@pytest.fixture
def make_service(local: ServerThread, monkeypatch: pytest.MonkeyPatch) -> ServiceFactory:
    """Build ``QiskitRuntimeService`` against ``local`` (configuration only, no patching).

    ``lookup=True`` goes through the Global Search/Catalog stand-ins (then the instance must be
    the server's own, which the search lists); ``lookup=False`` sets
    ``QISKIT_FUNCTIONS_EXPERIMENTAL=1`` and accepts any CRN (a fresh one isolates a test's jobs).
    """
    from qiskit_ibm_runtime import QiskitRuntimeService

    def make(*, instance: str | None = None, lookup: bool = False) -> QiskitRuntimeService:
        point_client_at(monkeypatch, local, lookup=lookup)
        return QiskitRuntimeService(
            token=local.token,
            instance=instance or local.instance,
            url=local.url,
            url_resolver=resolver_for(local),
        )

    return make


@pytest.fixture
def service(make_service: ServiceFactory) -> Any:
    return make_service()
