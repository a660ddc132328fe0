"""IBM's documentation examples, ported by adding ``await`` / ``async with`` only, run against the
embedded local server (``AsyncRuntimeService()`` with no account configured, see conftest).

Each test names the page it ports. Sizes are the local devices' (5, 27 and 127 qubits) where the
page asks for a bigger device; the calls are the page's. The assertions after ``# checks`` are
ours. Examples that build primitives without a mode, with ``session=``, or set options objects
need the ``options`` branch and are marked so.
"""

from __future__ import annotations

import numpy as np
from qiskit.circuit import ClassicalRegister, Parameter, QuantumCircuit, QuantumRegister
from qiskit.circuit.library import real_amplitudes
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager

from aioqruntime import AsyncBatch as Batch
from aioqruntime import AsyncEstimator as Estimator
from aioqruntime import AsyncRuntimeService as QiskitRuntimeService
from aioqruntime import AsyncSampler as Sampler
from aioqruntime import AsyncSession as Session


def _bell() -> QuantumCircuit:
    qr = QuantumRegister(2, name="qr")
    cr = ClassicalRegister(2, name="cr")
    qc = QuantumCircuit(qr, cr, name="bell")
    qc.h(qr[0])
    qc.cx(qr[0], qr[1])
    qc.measure(qr, cr)
    return qc


async def test_session_class_example_the_seed() -> None:
    # docs/api/qiskit-ibm-runtime/session (the user's seed): Sampler(session=session).
    async with QiskitRuntimeService() as service:
        backend = await service.least_busy(operational=True, simulator=False)
        isa_circuit = generate_preset_pass_manager(backend=backend, optimization_level=1).run(
            _bell()
        )
        async with Session(backend=backend) as session:
            sampler = Sampler(session=session)  # type: ignore[call-arg]
            job = await sampler.run([isa_circuit])
            pub_result = (await job.result())[0]
            print(f"Sampler job ID: {job.job_id()}")
            print(f"Counts: {pub_result.data.cr.get_counts()}")
        # checks
        assert job.session_id == session.session_id is not None
        assert set(pub_result.data.cr.get_counts()) <= {"00", "11"}


async def test_primitives_in_a_session_runtime_service_page() -> None:
    # docs/api/qiskit-ibm-runtime/runtime-service: "using primitives within a session".
    async with QiskitRuntimeService() as service:
        psi = real_amplitudes(num_qubits=2, reps=2)
        H1 = SparsePauliOp.from_list([("II", 1), ("IZ", 2), ("XI", 3)])
        theta = [0, 1, 1, 2, 3, 5]
        bell = _bell()
        backend = await service.least_busy(simulator=False, operational=True)
        pm = generate_preset_pass_manager(target=backend.target, optimization_level=1)
        bell_isa_circuit = pm.run(bell)
        psi_isa_circuit = pm.run(psi)
        isa_observables = H1.apply_layout(psi_isa_circuit.layout)
        async with Session(backend=backend) as session:
            sampler = Sampler(mode=session)
            estimator = Estimator(mode=session)
            sampler_job = await sampler.run([bell_isa_circuit])
            estimator_job = await estimator.run([(psi_isa_circuit, isa_observables, theta)])
            sampler_result = await sampler_job.result()
            estimator_result = await estimator_job.result()
        # checks
        assert sampler_job.session_id == estimator_job.session_id == session.session_id
        assert sum(sampler_result[0].data.cr.get_counts().values()) > 0
        assert np.ndim(estimator_result[0].data.evs) == 0
        assert abs(float(estimator_result[0].data.evs)) <= 6.0  # |H1| <= 1 + 2 + 3


async def test_batch_partitions_with_mode_batch() -> None:
    # docs/guides/run-jobs-batch: partition circuits into jobs, run them in a batch.
    async with QiskitRuntimeService() as service:
        backend = await service.least_busy(operational=True, simulator=False)
        pm = generate_preset_pass_manager(backend=backend, optimization_level=1)
        circuits = [pm.run(_bell()) for _ in range(6)]
        max_circuits = 2
        partitions = [circuits[i : i + max_circuits] for i in range(0, len(circuits), max_circuits)]
        jobs = []
        async with Batch(backend=backend) as batch:
            sampler = Sampler(mode=batch)
            for partition in partitions:
                job = await sampler.run(partition)
                jobs.append(job)
        results = [await job.result() for job in jobs]
        # checks
        assert batch.session_id is not None
        assert all(job.session_id == batch.session_id for job in jobs)
        assert [len(r) for r in results] == [2, 2, 2]


async def test_batch_class_example_sampler_without_mode() -> None:
    # docs/api/qiskit-ibm-runtime/batch: ``with Batch(backend=backend): sampler = Sampler()``.
    async with QiskitRuntimeService() as service:
        backend = await service.least_busy(operational=True, simulator=False)
        pm = generate_preset_pass_manager(backend=backend, optimization_level=1)
        circuits = [pm.run(_bell()) for _ in range(4)]
        partitions = [circuits[i : i + 2] for i in range(0, len(circuits), 2)]
        jobs = []
        async with Batch(backend=backend):
            sampler = Sampler()  # type: ignore[call-arg]
            for partition in partitions:
                job = await sampler.run(partition)
                jobs.append(job)
        # checks
        assert all(job.session_id is not None for job in jobs)


async def test_job_mode() -> None:
    # docs/guides/execution-modes: job mode, the backend as the mode.
    async with QiskitRuntimeService() as service:
        backend = await service.least_busy(operational=True, simulator=False)
        pm = generate_preset_pass_manager(backend=backend, optimization_level=1)
        isa_circuit = pm.run(_bell())
        sampler = Sampler(mode=backend)
        job = await sampler.run([isa_circuit], shots=100)
        result = await job.result()
        # checks
        assert job.session_id is None
        assert sum(result[0].data.cr.get_counts().values()) == 100
        print(job.status())
        assert str(job.status()) == "DONE" and job.done()


async def test_estimator_parameter_sweep_with_apply_layout() -> None:
    # docs/guides/estimator-examples: a parameterized circuit, observables with apply_layout, a
    # sweep of parameter values broadcast against the observables.
    async with QiskitRuntimeService() as service:
        backend = await service.least_busy(operational=True, simulator=False, min_num_qubits=2)
        theta = Parameter("θ")
        circuit = QuantumCircuit(2)
        circuit.h(0)
        circuit.cx(0, 1)
        circuit.ry(theta, 0)
        params = np.linspace(-np.pi, np.pi, 8).reshape((8, 1))
        observables = [
            [SparsePauliOp(["XX", "IY"], [0.5, 0.5])],
            [SparsePauliOp("XX")],
            [SparsePauliOp("IY")],
        ]
        pm = generate_preset_pass_manager(optimization_level=1, backend=backend)
        isa_circuit = pm.run(circuit)
        isa_observables = [[ob[0].apply_layout(isa_circuit.layout)] for ob in observables]
        estimator = Estimator(mode=backend)
        job = await estimator.run([(isa_circuit, isa_observables, params)])
        result = (await job.result())[0]
        # checks: (3, 1) observables broadcast against (8, 1) parameters
        evs, stds = result.data.evs, result.data.stds
        assert evs.shape == stds.shape == (3, 8)
        # Linearity: <0.5 XX + 0.5 IY> is the mean of <XX> and <IY>, within shot noise.
        spread = 5 * np.sqrt(stds[0] ** 2 + 0.25 * (stds[1] ** 2 + stds[2] ** 2)) + 1e-9
        assert np.all(np.abs(evs[0] - 0.5 * (evs[1] + evs[2])) <= spread)


async def test_specify_options() -> None:
    # docs/guides/specify-runtime-options: options as attributes, then run.
    async with QiskitRuntimeService() as service:
        backend = await service.least_busy(operational=True, simulator=False)
        isa_circuit = generate_preset_pass_manager(backend=backend, optimization_level=1).run(
            _bell()
        )
        sampler = Sampler(mode=backend)
        sampler.options.default_shots = 1000  # type: ignore[attr-defined]
        sampler.options.dynamical_decoupling.enable = True  # type: ignore[attr-defined]
        sampler.options.environment.job_tags = ["ported"]  # type: ignore[attr-defined]
        job = await sampler.run([isa_circuit])
        result = await job.result()
        # checks
        assert sum(result[0].data.cr.get_counts().values()) == 1000
        assert "ported" in job.tags


async def test_view_backend_details() -> None:
    # docs/guides/qpu-information: list, filter and inspect backends.
    async with QiskitRuntimeService() as service:
        listed = await service.backends()
        real = await service.backends(simulator=False, operational=True)
        big = await service.backends(min_num_qubits=27)
        quiet = await service.backends(
            filters=lambda b: b.num_qubits >= 27 and b.status().pending_jobs < 10
        )
        backend = await service.backend("ibm_local27")
        configuration = backend.configuration()
        properties = backend.properties()
        status = backend.status()
        edge = next(iter(backend.coupling_map.get_edges()))
        two_qubit_gate = next(g for g in ("cz", "ecr", "cx") if g in configuration.basis_gates)
        print(configuration.backend_name, configuration.n_qubits, configuration.basis_gates)
        print(properties.t1(0), properties.t2(0), properties.frequency(0))
        print(properties.readout_error(0), properties.gate_error(two_qubit_gate, edge))
        print(properties.last_update_date, status.operational, status.pending_jobs)
        # checks
        assert {b.name for b in real} == {b.name for b in listed if not b.is_simulator}
        at_least_27 = {"ibm_local27", "ibm_local127", "ibm_local_simulator"}
        assert {b.name for b in big} == {b.name for b in quiet} == at_least_27
        assert configuration.n_qubits == backend.num_qubits == 27
        assert configuration.backend_name == "ibm_local27" and "ecr" in configuration.basis_gates
        assert 50e-6 < properties.t1(0) < 500e-6  # seconds, as the official client gives them
        assert 4e9 < properties.frequency(0) < 6e9  # hertz
        assert 0 < properties.gate_error(two_qubit_gate, edge) < 0.1
        assert properties.last_update_date is not None and status.operational is True
        assert backend.target.num_qubits == 27


async def test_retrieve_jobs_later() -> None:
    # docs/guides/save-jobs and monitor-job: find a job again by id, by tag, by listing.
    async with QiskitRuntimeService() as service:
        backend = await service.backend("ibm_local5")
        isa_circuit = generate_preset_pass_manager(backend=backend, optimization_level=1).run(
            _bell()
        )
        job = await Sampler(mode=backend).run([isa_circuit], shots=10)
        job_id = job.job_id()
        await job.wait_for_final_state()
        await job.update_tags(["experiment-1"])

        retrieved_job = await service.job(job_id)
        result = await retrieved_job.result()
        tagged = await service.jobs(job_tags=["experiment-1"])
        recent = await service.jobs(limit=5, pending=False, backend_name="ibm_local5")
        print(retrieved_job.status(), await retrieved_job.usage(), retrieved_job.usage_estimation)
        # checks
        assert sum(result[0].data.cr.get_counts().values()) == 10
        assert [j.job_id() for j in tagged] == [job_id]
        assert job_id in [j.job_id() for j in recent]
        assert retrieved_job.primitive_id == "sampler" and retrieved_job.in_final_state()
        assert (await retrieved_job.backend()).name == "ibm_local5"
        assert "pubs" in await retrieved_job.inputs
        metrics = await retrieved_job.metrics()
        assert "usage" in metrics or "timestamps" in metrics
