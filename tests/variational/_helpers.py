"""Shared pieces: a local service, a small ISA ansatz, exact expectation values."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import anyio
import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit.transpiler import generate_preset_pass_manager

from aioqruntime import AsyncRuntimeService
from aioqruntime.runtime import ServiceBackend
from aioqruntime.server import LocalRuntimeServer, ServerConfig

BACKEND = "ibm_local5"
#: Aer adds Gaussian noise of this standard deviation: values are exact to ~1e-6.
PRECISION = 1e-6
TOLERANCE = 1e-4
HAMILTONIAN = SparsePauliOp.from_list([("ZZ", 1.0), ("XI", 0.5), ("IY", -0.3)])
OTHER = SparsePauliOp.from_list([("XX", 0.7), ("ZI", 0.2)])


@dataclass
class Env:
    service: AsyncRuntimeService
    server: LocalRuntimeServer
    backend: ServiceBackend


@asynccontextmanager
async def local_env(**config: Any) -> AsyncIterator[Env]:
    """A local server simulating in a thread, and a service connected to it."""
    config.setdefault("workers", 0)
    async with AsyncRuntimeService.local(config=ServerConfig(**config)) as service:
        backend = await service.backend(BACKEND)
        yield Env(service, service.server, backend)


def ansatz(measure: bool = False) -> QuantumCircuit:
    theta = ParameterVector("θ", 4)
    circuit = QuantumCircuit(2)
    circuit.ry(theta[0], 0)
    circuit.ry(theta[1], 1)
    circuit.cx(0, 1)
    circuit.ry(theta[2], 0)
    circuit.rz(theta[3], 1)
    if measure:
        circuit.measure_all()
    return circuit


@cache
def _pass_manager(backend_name: str, backend: Any) -> Any:
    return generate_preset_pass_manager(backend=backend, optimization_level=1, seed_transpiler=1)


def isa(backend: ServiceBackend, circuit: QuantumCircuit) -> QuantumCircuit:
    result: QuantumCircuit = _pass_manager(backend.name, backend).run(circuit)
    return result


def exact(circuit: QuantumCircuit, params: np.ndarray, observable: SparsePauliOp) -> float:
    state = Statevector(circuit.assign_parameters(params))
    return float(np.real(state.expectation_value(observable)))


def points(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, size=(count, 4))


async def run_all(calls: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run ``calls`` concurrently; each entry is the value or the exception it raised."""
    out: list[Any] = [None] * len(calls)

    async def one(index: int) -> None:
        try:
            out[index] = await calls[index]()
        except Exception as exc:
            out[index] = exc

    async with anyio.create_task_group() as tg:
        for index in range(len(calls)):
            tg.start_soon(one, index)
    return out


def job_posts(server: LocalRuntimeServer) -> int:
    return sum(1 for r in server.request_log if r.method == "POST" and r.path.endswith("/jobs"))


def peak_unfinished_jobs(server: LocalRuntimeServer) -> int:
    """The most jobs ever created and not yet final on the server, in event order."""
    unfinished = peak = 0
    for event, _, _ in server.events:
        if event == "job_queued":
            unfinished += 1
        elif event in ("job_completed", "job_failed", "job_cancelled"):
            unfinished -= 1
        peak = max(peak, unfinished)
    return peak


async def until(predicate: Callable[[], bool]) -> None:
    """Yield to the loop until ``predicate()`` holds (bounded; no sleeping)."""
    with anyio.fail_after(10):
        while not predicate():
            await anyio.lowlevel.checkpoint()
