"""The Bell example of IBM's Session documentation, asynchronously.

Runs against the embedded local server by default; against IBM Quantum when QISKIT_IBM_TOKEN and
QISKIT_IBM_INSTANCE are set (QISKIT_IBM_URL optional). Prints the counts.

    python examples/bell_session.py
"""

from __future__ import annotations

import os

import anyio
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from aioqruntime import AsyncRuntimeService, AsyncSampler, AsyncSession


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


async def main() -> None:
    on_ibm = bool(os.environ.get("QISKIT_IBM_TOKEN") and os.environ.get("QISKIT_IBM_INSTANCE"))
    # With no arguments the account comes from QISKIT_IBM_TOKEN / _INSTANCE / _URL.
    service = AsyncRuntimeService() if on_ibm else AsyncRuntimeService.local()
    async with service:
        backend = await service.least_busy(min_num_qubits=2, simulator=False)
        pass_manager = generate_preset_pass_manager(backend=backend, optimization_level=1)
        isa_circuit = pass_manager.run(bell())

        async with AsyncSession(backend=backend, max_time="10m") as session:
            sampler = AsyncSampler(mode=session)
            job = await sampler.run([isa_circuit], shots=1000)
            print(f"job {job.job_id()} in session {session.session_id} on {backend.name}")
            result = await job
            print(f"session status: {await session.status()}")
        print("counts:", result[0].data.meas.get_counts())


if __name__ == "__main__":
    anyio.run(main)
