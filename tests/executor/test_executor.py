"""``AsyncExecutor`` against the local server: programs in, ``QuantumProgramResult`` out.

The server is noiseless, so counts are exact up to shot noise; tolerances are five standard
errors of the shots taken (a wrong result misses by far more).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.transpiler import generate_preset_pass_manager
from samplomatic.quantum_program import CircuitItem

from aioqruntime import (
    AsyncBatch,
    AsyncExecutor,
    AsyncSampler,
    AsyncSession,
    ExecutorOptions,
    InvalidInputError,
    QuantumProgram,
    QuantumProgramResult,
)
from aioqruntime.primitives._executor import encode_program
from aioqruntime.runtime._context import mode_scope
from tests.client._helpers import api_requests, local_service

TRACE = Path(__file__).parent.parent / "data" / "traces" / "f_executor_sampler.jsonl"


def _isa(backend: Any, circuit: QuantumCircuit) -> QuantumCircuit:
    manager = generate_preset_pass_manager(backend=backend, optimization_level=1, seed_transpiler=7)
    return manager.run(circuit)


def _bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def _within(measured: float, exact: float, shots: int) -> bool:
    return abs(measured - exact) <= 5 * max(math.sqrt(exact * (1 - exact) / shots), 1 / shots)


async def test_bell_program_in_job_mode_gives_correlated_bits_and_timing() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        program = QuantumProgram(
            shots=400,
            items=[CircuitItem(_isa(backend, _bell()))],
            passthrough_data={"label": "bell", "weights": np.arange(3.0)},
        )
        job = await AsyncExecutor(backend).run(program)
        result = await job
        assert isinstance(result, QuantumProgramResult)
        assert job.program_id == "executor"
        assert server.job(job.job_id()).program_id == "executor"
        bits = result[0]["meas"]
        assert bits.shape == (400, 2)
        assert bits.dtype == np.bool_
        assert np.array_equal(bits[:, 0], bits[:, 1])  # only 00 and 11
        assert _within(float(bits[:, 0].mean()), 0.5, 400)
        assert result.passthrough_data["label"] == "bell"
        assert np.array_equal(result.passthrough_data["weights"], np.arange(3.0))
        assert len(result.timing) >= 1
        assert result.timing.duration >= 0
        assert result.metadata.chunk_timing[0].parts[0].idx_item == 0


async def test_argument_array_of_shape_3_by_p_sweeps_every_row() -> None:
    theta, phi = Parameter("theta"), Parameter("phi")
    circuit = QuantumCircuit(1)
    circuit.ry(theta, 0)
    circuit.rz(phi, 0)
    circuit.measure_all()
    angles = np.array([0.0, math.pi / 3, math.pi])
    async with local_service() as (_server, service):
        backend = await service.backend("ibm_local5")
        isa = _isa(backend, circuit)
        # Columns in the circuit's parameter order (phi, theta); rz does not change Z outcomes.
        arguments = np.stack([np.zeros(3), angles], axis=1)
        program = QuantumProgram(shots=1000, items=[CircuitItem(isa, circuit_arguments=arguments)])
        result = await (await AsyncExecutor(backend).run(program))
    bits = result[0]["meas"]
    assert bits.shape == (3, 1000, 1)
    for row, angle in enumerate(angles):
        assert _within(float(bits[row, :, 0].mean()), math.sin(angle / 2) ** 2, 1000)


async def test_executor_and_v2_sampler_share_one_session() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        isa = _isa(backend, _bell())
        async with AsyncSession(backend) as session:
            executor_job = await AsyncExecutor(session).run(
                QuantumProgram(shots=50, items=[CircuitItem(isa)])
            )
            sampler_job = await AsyncSampler(session).run([isa], shots=50)
            program_result = await executor_job
            sampler_result = await sampler_job
        assert executor_job.session_id == sampler_job.session_id == session.session_id
        assert server.job(executor_job.job_id()).program_id == "executor"
        assert server.job(sampler_job.job_id()).program_id == "sampler"
        assert program_result[0]["meas"].shape == (50, 2)
        assert sum(sampler_result[0].data.meas.get_counts().values()) == 50


async def test_executor_jobs_in_a_batch() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        program = QuantumProgram(shots=20, items=[CircuitItem(_isa(backend, _bell()))])
        async with AsyncBatch(backend) as batch:
            jobs = [await AsyncExecutor(batch).run(program) for _ in range(3)]
            results = [await job for job in jobs]
        assert {job.session_id for job in jobs} == {batch.session_id}
        assert all(server.job(job.job_id()).session_id == batch.session_id for job in jobs)
        assert [r[0]["meas"].shape for r in results] == [(20, 2)] * 3


async def test_mode_none_takes_the_current_session() -> None:
    # The runtime's mode_scope is what an 'async with' session block sets for its body.
    async with local_service() as (_server, service):
        backend = await service.backend("ibm_local5")
        async with AsyncSession(backend) as session:
            with mode_scope(session):
                executor = AsyncExecutor()
            job = await executor.run(
                QuantumProgram(shots=10, items=[CircuitItem(_isa(backend, _bell()))])
            )
            await job
        assert executor.mode is session
        assert job.session_id == session.session_id


async def test_options_reach_the_wire_and_the_job() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        options = {
            "environment": {"job_tags": ["mine"], "log_level": "info"},
            "execution": {"init_qubits": False, "rep_delay": 0.0001},
            "experimental": {"knob": 1},
            "max_execution_time": 300,
        }
        job = await AsyncExecutor(backend, options=options).run(
            QuantumProgram(shots=10, items=[CircuitItem(_isa(backend, _bell()))])
        )
        await job
        record = server.job(job.job_id())
    params = json.loads(record.params_text)
    assert params["schema_version"] == "v2.0"
    assert params["options"] == {
        "init_qubits": False,
        "rep_delay": 0.0001,
        "scheduler_timing": False,
        "stretch_values": False,
        "experimental": {"knob": 1},
    }
    assert "mine" in record.tags
    assert record.log_level.upper() == "INFO"
    assert record.cost == 300


async def test_the_official_quantum_program_keeps_its_semantic_role_and_encoding() -> None:
    from qiskit_ibm_runtime import QuantumProgram as OfficialProgram
    from qiskit_ibm_runtime.options_models import ExecutorOptions as OfficialOptions
    from qiskit_ibm_runtime.quantum_program.params_converters import (
        QUANTUM_PROGRAM_PARAMS_CONVERTERS,
    )

    theta = Parameter("theta")
    circuit = QuantumCircuit(2)
    circuit.rx(theta, 0)
    circuit.cx(0, 1)
    circuit.measure_all()
    program = OfficialProgram(
        shots=100,
        items=[CircuitItem(circuit, circuit_arguments=np.linspace(0, 1, 6).reshape(3, 2, 1))],
        passthrough_data={"a": [1, np.arange(3)], "b": {"c": "text"}},
    )
    program._semantic_role = "custom_role"
    ours = encode_program(program, ExecutorOptions(), semantic_role=program._semantic_role)
    theirs = QUANTUM_PROGRAM_PARAMS_CONVERTERS["v2.0"].encoder(program, OfficialOptions())
    assert ours == theirs.model_dump(mode="json")
    assert ours["quantum_program"]["semantic_role"] == "custom_role"


def test_request_body_has_the_shape_of_the_official_trace() -> None:
    """The trace's executor POST and ours name the same fields (values differ: circuits)."""
    records = [json.loads(line) for line in TRACE.read_text().splitlines()]
    (post,) = [r for r in records if r.get("method") == "POST" and r["path"] == "/api/v1/jobs"]
    official = post["body"]["params"]
    circuit = QuantumCircuit(1)
    circuit.measure_all()
    ours = encode_program(
        QuantumProgram(shots=100, items=[CircuitItem(circuit)]), ExecutorOptions()
    )
    assert set(ours) == set(official)
    assert set(ours["quantum_program"]) == set(official["quantum_program"])
    assert set(ours["quantum_program"]["circuits"]) == set(official["quantum_program"]["circuits"])
    assert (
        ours["quantum_program"]["items"][0].keys() == official["quantum_program"]["items"][0].keys()
    )
    assert ours["options"] == official["options"]


async def test_journal_records_executor_jobs(tmp_path: Path) -> None:
    journal = tmp_path / "jobs.sqlite"
    async with local_service(service_options={"journal": str(journal)}) as (_server, service):
        backend = await service.backend("ibm_local5")
        job = await AsyncExecutor(backend).run(
            QuantumProgram(shots=10, items=[CircuitItem(_isa(backend, _bell()))])
        )
        await job
        entries = await service.journal_entries()
    (entry,) = entries
    assert entry.program_id == "executor"
    assert entry.job_id == job.job_id()


@pytest.mark.parametrize(
    ("make_program", "message"),
    [
        (lambda isa: "not a program", "QuantumProgram"),
        (lambda isa: QuantumProgram(shots=10, items=[]), "no items"),
        (lambda isa: QuantumProgram(shots=10**9, items=[CircuitItem(isa)]), "shots"),
        (lambda isa: QuantumProgram(shots=10, items=[CircuitItem(_bell())]), "not supported"),
    ],
)
async def test_bad_programs_are_refused_before_anything_is_sent(
    make_program: Any, message: str
) -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        program = make_program(_isa(backend, _bell()))
        with pytest.raises(InvalidInputError, match=message):
            await AsyncExecutor(backend).run(program)
        assert api_requests(server, "POST", "/jobs") == []


@pytest.mark.parametrize(
    "options",
    [
        {"unknown": 1},
        {"environment": {"log_level": "LOUD"}},
        {"execution": {"init_qubits": "yes"}},
        {"execution": {"rep_delay": -1.0}},
        {"max_execution_time": 0},
        {"environment": {"job_tags": "one-string"}},
        "not a dict",
    ],
)
async def test_bad_options_are_refused_when_the_executor_is_built(options: Any) -> None:
    async with local_service() as (_server, service):
        backend = await service.backend("ibm_local5")
        with pytest.raises(InvalidInputError):
            AsyncExecutor(backend, options=options)


def test_a_mode_is_required_outside_a_session_block() -> None:
    with pytest.raises(InvalidInputError, match="mode"):
        AsyncExecutor()


async def test_options_changed_after_construction_are_checked_at_run() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        executor = AsyncExecutor(backend)
        executor.options.execution.init_qubits = "no"  # type: ignore[assignment]
        with pytest.raises(InvalidInputError, match="init_qubits"):
            await executor.run(
                QuantumProgram(shots=10, items=[CircuitItem(_isa(backend, _bell()))])
            )
        assert api_requests(server, "POST", "/jobs") == []
