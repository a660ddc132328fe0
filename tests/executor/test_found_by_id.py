"""Executor jobs found again by id decode as their submitter meant them (not as raw dicts)."""

from __future__ import annotations

from typing import Any

from qiskit import QuantumCircuit
from qiskit.primitives import PrimitiveResult
from qiskit.transpiler import generate_preset_pass_manager
from samplomatic.quantum_program import CircuitItem

from aioqruntime import AsyncExecutor, AsyncRuntimeService, QuantumProgram, QuantumProgramResult
from aioqruntime.executor_sampler import AsyncSampler as ExecutorSampler
from tests.client._helpers import FAST_CONFIG, FAST_RETRY, local_service


def _bell_isa(backend: Any) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)


def _second_service(server: Any) -> AsyncRuntimeService:
    return AsyncRuntimeService(
        token=server.token,
        instance=server.instance,
        url=server.api_url,
        retry=FAST_RETRY,
        transport_config=FAST_CONFIG,
    )


async def test_an_executor_sampler_job_looked_up_by_id_gives_its_primitive_result() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        job = await ExecutorSampler(mode=backend).run([_bell_isa(backend)], shots=200)
        await job
        async with _second_service(server) as other:
            found = await other.job(job.job_id())
            result = await found.result()
    assert isinstance(result, PrimitiveResult)
    counts = result[0].data.meas.get_counts()
    assert sum(counts.values()) == 200
    assert set(counts) <= {"00", "11"}


async def test_a_plain_executor_job_looked_up_by_id_gives_a_quantum_program_result() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        program = QuantumProgram(shots=100, items=[CircuitItem(_bell_isa(backend))])
        job = await AsyncExecutor(backend).run(program)
        await job
        async with _second_service(server) as other:
            found = await other.job(job.job_id())
            result = await found.result()
    assert isinstance(result, QuantumProgramResult)
    assert result[0]["meas"].shape == (100, 2)
