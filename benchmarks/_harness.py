"""What the side-by-side benchmarks share: a loopback guard, a local server in a background
thread, and the configuration that points the official client at it (configuration only, as
shared/official-client.md describes)."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio.from_thread

from aioqruntime.server import LocalRuntimeServer, ServerConfig


def _is_loopback(host: Any) -> bool:
    if host in ("localhost", None):
        return True
    try:
        return ipaddress.ip_address(str(host).strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_non_loopback() -> None:
    """A wrong configuration fails loudly here instead of contacting any other host."""
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise OSError(f"benchmark: refusing to resolve non-loopback host {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise OSError(f"benchmark: refusing to connect to {address!r}")
        return real_connect(self, address)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = connect  # type: ignore[method-assign]


@contextmanager
def official_environment(server: LocalRuntimeServer) -> Iterator[None]:
    """IAM at the local server, no Global Search/Catalog look-up; restored afterwards."""
    saved = {k: os.environ.get(k) for k in ("IAM_URL", "QISKIT_FUNCTIONS_EXPERIMENTAL")}
    os.environ["IAM_URL"] = server.url
    os.environ["QISKIT_FUNCTIONS_EXPERIMENTAL"] = "1"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def official_service(server: LocalRuntimeServer) -> Iterator[Any]:
    """The official ``QiskitRuntimeService`` pointed at ``server`` by configuration only."""
    import warnings

    from qiskit_ibm_runtime import QiskitRuntimeService

    # SamplerV2/EstimatorV2 are deprecated in 0.51.0; the benchmark measures them as documented.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    with official_environment(server):
        yield QiskitRuntimeService(
            channel="ibm_quantum_platform",
            token=server.token,
            instance=server.instance,
            url=server.url + "/experimental/api/v1",
        )


@contextmanager
def server_in_background(
    config: ServerConfig, warm_up: Callable[[LocalRuntimeServer], Awaitable[None]]
) -> Iterator[LocalRuntimeServer]:
    """A local server on its own event loop thread (the official client is synchronous).

    ``warm_up`` runs one job first, so that no measured run pays the worker process start-up.
    """
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(LocalRuntimeServer(config=config)) as server,
    ):
        portal.call(warm_up, server)
        yield server
