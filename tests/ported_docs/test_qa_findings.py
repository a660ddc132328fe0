"""What a newcomer from IBM's documentation ran into, kept fixed: each test is the ported call
that went wrong, against the embedded local server (``AsyncRuntimeService()``, no account)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from qiskit import QuantumCircuit
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager

from aioqruntime import AsyncBatch as Batch
from aioqruntime import AsyncExecutor as Executor
from aioqruntime import AsyncRuntimeService as QiskitRuntimeService
from aioqruntime import AsyncSampler as Sampler
from aioqruntime import InvalidInputError
from aioqruntime.executor_estimator import AsyncEstimator as ExecutorEstimator
from aioqruntime.executor_sampler import AsyncSampler as ExecutorSampler
from aioqruntime.options import UnknownOptionError


async def test_sampler_circuit_without_classical_registers_warns_as_the_official() -> None:
    # docs/guides/get-started-with-sampler, with the measure_all() forgotten: the official
    # SamplerV2.run() warns (UserWarning) that the result will be empty, and still submits.
    async with QiskitRuntimeService() as service:
        backend = await service.least_busy(operational=True, simulator=False)
        circuit = QuantumCircuit(2)
        circuit.h(0)
        circuit.cx(0, 1)
        isa_circuit = generate_preset_pass_manager(backend=backend, optimization_level=1).run(
            circuit
        )
        with pytest.warns(UserWarning, match="0-th circuit has no output classical registers"):
            job = await Sampler(mode=backend).run([isa_circuit])
        result = await job.result()
        # checks
        assert list(result[0].data) == []


async def test_executor_sampler_circuit_without_classical_registers_is_refused_before_sending() -> (
    None
):
    # The same forgotten measure_all() with the executor-based Sampler: its job would run and
    # its result could not be decoded (an item without data; the official decoder fails too).
    async with QiskitRuntimeService() as service:
        backend = await service.least_busy(operational=True, simulator=False)
        circuit = QuantumCircuit(2)
        circuit.h(0)
        isa_circuit = generate_preset_pass_manager(backend=backend, optimization_level=1).run(
            circuit
        )
        before = len(await service.jobs(limit=None))
        with pytest.raises(InvalidInputError, match="pub 0: the circuit has no classical"):
            await ExecutorSampler(mode=backend).run([isa_circuit])
        # checks
        assert len(await service.jobs(limit=None)) == before


async def test_a_backend_not_awaited_as_the_mode_says_to_await_it() -> None:
    # Porting ``backend = service.backend(name)`` and forgetting the ``await``: the primitive
    # gets a coroutine; the error says which ``await`` is missing.
    async with QiskitRuntimeService() as service:
        backend = service.backend("ibm_local5")
        try:
            for primitive in (Sampler, ExecutorSampler):
                with pytest.raises(InvalidInputError, match=r"got a coroutine: forgot an 'await'"):
                    primitive(mode=backend)
        finally:
            backend.close()  # type: ignore[attr-defined]


async def test_executor_primitives_mode_and_backend_as_the_official() -> None:
    # docs/api/qiskit-ibm-runtime/executor-sampler-sampler (and the estimator's, the executor's):
    # ``sampler.backend()`` is the backend, ``sampler.mode`` the session or batch, ``None`` in
    # job mode.
    async with QiskitRuntimeService() as service:
        backend = await service.least_busy(operational=True, simulator=False)
        for primitive in (ExecutorSampler, ExecutorEstimator, Executor):
            in_job_mode = primitive(mode=backend)
            assert in_job_mode.mode is None
            assert in_job_mode.backend() is backend
        async with Batch(backend=backend) as batch:
            for primitive in (ExecutorSampler, ExecutorEstimator, Executor):
                in_batch = primitive(mode=batch)
                assert in_batch.mode is batch
                assert in_batch.backend() is backend


async def test_executor_primitives_finalize_options_as_the_official() -> None:
    # ``finalize_options()``: the options a run() would use, the "None" twirling fields resolved
    # (values checked against the official client's); the primitive's own options unchanged.
    async with QiskitRuntimeService() as service:
        backend = await service.least_busy(operational=True, simulator=False)
        sampler = ExecutorSampler(mode=backend)
        final = sampler.finalize_options()
        assert (final.twirling.enable_gates, final.twirling.enable_measure) == (False, False)
        assert sampler.options.twirling.enable_gates is None
        estimator = ExecutorEstimator(mode=backend)
        final_estimator = estimator.finalize_options()
        twirling = final_estimator.twirling
        assert (twirling.enable_gates, twirling.enable_measure) == (False, True)
        resilience = final_estimator.resilience
        assert (resilience.measure_mitigation, resilience.zne_mitigation) == (True, False)
        assert estimator.options.twirling.enable_measure is None


async def test_executor_options_typos_are_refused_at_assignment_and_update_works() -> None:
    # docs/guides/runtime-options-overview with the executor-based primitives: a misspelt
    # option name was silently ignored (the official refuses it at once: extra="forbid").
    async with QiskitRuntimeService() as service:
        backend = await service.least_busy(operational=True, simulator=False)
        sampler = ExecutorSampler(mode=backend)
        with pytest.raises(UnknownOptionError, match=r"'default_shot'.*did you mean 'default_sho"):
            sampler.options.default_shot = 5  # type: ignore[attr-defined]
        with pytest.raises(UnknownOptionError, match=r"did you mean 'enable_gates'"):
            sampler.options.twirling.enable_gate = True  # type: ignore[attr-defined]
        estimator = ExecutorEstimator(mode=backend)
        with pytest.raises(UnknownOptionError, match=r"did you mean 'resilience_level'"):
            estimator.options.update(resilence_level=2)
        # ``update()`` as the official: nested groups as dicts, merged into what is there.
        estimator.options.update(default_shots=2000, resilience={"zne": {"noise_factors": [1, 3]}})
        sampler.options.update(twirling={"enable_gates": True}, default_shots=100)
        executor = Executor(mode=backend)
        executor.options.update(environment={"job_tags": ["qa"]})
        # checks
        assert estimator.options.default_shots == 2000
        assert estimator.options.resilience.zne.noise_factors == [1, 3]
        assert estimator.options.resilience_level == 1  # untouched
        assert sampler.options.twirling.enable_gates is True
        assert sampler.options.default_shots == 100
        assert executor.options.environment.job_tags == ["qa"]


async def test_backend_configuration_in_the_official_units() -> None:
    # docs/guides/qpu-information: ``backend.configuration()`` attributes. The official
    # ``BackendConfiguration`` gives times in seconds, frequencies in hertz and ``online_date``
    # as a datetime (the wire has ns, µs, GHz and a string); the values are what the official
    # client read from the same local server.
    async with QiskitRuntimeService() as service:
        backend = await service.backend("ibm_local27")
        configuration = backend.configuration()
        # checks
        assert configuration.dt == pytest.approx(2.2222222222222221e-10)
        assert configuration.dtm == pytest.approx(2.2222222222222221e-10)
        assert backend.dtm == pytest.approx(2.2222222222222221e-10)
        assert configuration.rep_delay_range == pytest.approx([0.0, 0.0005])
        assert configuration.default_rep_delay == pytest.approx(0.00025)
        assert configuration.online_date == datetime(2024, 1, 1, tzinfo=timezone.utc)
        assert configuration.max_experiments == 300  # untouched
        assert configuration.to_dict()["dt"] == pytest.approx(0.2222222222222222)  # the wire's


async def test_backend_properties_records_read_as_the_official_objects() -> None:
    # docs/guides/qpu-information: iterating ``properties.qubits`` / ``properties.gates``; the
    # official entries are ``Nduv`` / ``GateProperties`` objects (``.name``, ``.value``,
    # ``.unit``, ``.date``; ``.gate``, ``.qubits``, ``.parameters``), not dicts.
    async with QiskitRuntimeService() as service:
        backend = await service.backend("ibm_local27")
        properties = backend.properties()
        t1 = next(entry for entry in properties.qubits[0] if entry.name == "T1")
        gate = next(g for g in properties.gates if g.gate == "sx" and g.qubits == [0])
        length = next(p for p in gate.parameters if p.name == "gate_length")
        # checks
        assert t1.unit == "us"
        assert t1.value * 1e-6 == pytest.approx(properties.t1(0))
        assert isinstance(t1.date, datetime)
        assert length.value * 1e-9 == pytest.approx(properties.gate_length("sx", 0))
        assert t1["name"] == "T1"  # still the wire's record
