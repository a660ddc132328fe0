"""Shared helpers: a local server plus a service connected to it over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from qiskit import QuantumCircuit

from aioqruntime.protocol import RetryPolicy
from aioqruntime.runtime import AsyncRuntimeService
from aioqruntime.server import LocalRuntimeServer, ServerConfig
from aioqruntime.transport import Timeouts, TransportConfig

#: Fast retries so retry tests do not wait seconds (the policy is injected, not patched).
FAST_RETRY = RetryPolicy(max_attempts=4, initial=0.001, max_delay=0.005, max_retry_after=0.01)
#: A short submit grace: on loopback a lost POST /jobs lands within milliseconds or never.
FAST_CONFIG = TransportConfig(timeouts=Timeouts(submit_grace=0.05))


@asynccontextmanager
async def local_service(
    *, service_options: dict[str, Any] | None = None, **config: Any
) -> AsyncIterator[tuple[LocalRuntimeServer, AsyncRuntimeService]]:
    """A fresh server (simulating in a thread) and a service connected to it."""
    config.setdefault("workers", 0)
    options: dict[str, Any] = {
        "submissions_per_minute": None,
        "retry": FAST_RETRY,
        "transport_config": FAST_CONFIG,
    }
    options.update(service_options or {})
    async with (
        LocalRuntimeServer(config=ServerConfig(**config)) as server,
        AsyncRuntimeService(
            token=server.token, instance=server.instance, url=server.api_url, **options
        ) as service,
    ):
        yield server, service


def x_pattern(pattern: int, width: int, num_qubits: int) -> QuantumCircuit:
    """An ISA circuit: X on the qubits of ``pattern``'s set bits, then measure ``width`` qubits."""
    circuit = QuantumCircuit(num_qubits, width)
    for qubit in range(width):
        if pattern >> qubit & 1:
            circuit.x(qubit)
    circuit.measure(range(width), range(width))
    return circuit


def expected_bitstring(pattern: int, width: int) -> str:
    return format(pattern, f"0{width}b")


def api_requests(server: LocalRuntimeServer, method: str, path: str) -> list[Any]:
    """Requests of the server's log with this method whose path ends with ``path``."""
    return [r for r in server.request_log if r.method == method and r.path.endswith(path)]


def server_jobs_by_tag(server: LocalRuntimeServer, job_ids: list[str]) -> dict[str, int]:
    """Server-side: how many of the server's jobs carry each client tag of ``job_ids``' jobs.

    Also checks that the server holds no job beyond ``job_ids`` (so a duplicate cannot hide).
    """
    total = sum(server.counts().values())
    assert total == len(set(job_ids)), f"server holds {total} jobs, client knows {len(job_ids)}"
    counts: dict[str, int] = {}
    for job_id in set(job_ids):
        for tag in server.job(job_id).tags:
            if tag.startswith("aioqruntime:"):
                counts[tag] = counts.get(tag, 0) + 1
    return counts
