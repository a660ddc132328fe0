"""Our executor-based primitives against the official 0.51.0 ones, on the same local server.

Both run the same pubs with the same options; the server is noiseless, so both estimate the same
exact values. Each comparison allows five combined standard errors (a correct pair differs by
more with probability below 1e-6; a lost twirl flip, a wrong axis or a missed TREX rescale
differs by far more). The official client is synchronous: it runs in a worker thread.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import anyio
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from aioqruntime import AsyncRuntimeService, AsyncSampler, AsyncSession, InvalidInputError
from aioqruntime.executor_estimator import AsyncEstimator as ExecutorEstimator
from aioqruntime.executor_sampler import AsyncSampler as ExecutorSampler
from aioqruntime.primitives import _executor_estimator, _executor_sampler
from aioqruntime.primitives._executor import decode_executor_result
from aioqruntime.protocol import job_results

BACKEND = "ibm_local5"


def _isa(backend: Any, circuit: QuantumCircuit) -> QuantumCircuit:
    manager = generate_preset_pass_manager(backend=backend, optimization_level=1, seed_transpiler=7)
    return manager.run(circuit)


def _bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def _same_frequency(ours: float, theirs: float, shots: int) -> bool:
    """Two estimates of one probability from ``shots`` each agree within 5 combined sigmas."""
    p = (ours + theirs) / 2
    sigma = math.sqrt(max(p * (1 - p), 1 / shots) * 2 / shots)
    return abs(ours - theirs) <= 5 * sigma


def _near(measured: float, exact: float, shots: int) -> bool:
    """A frequency from ``shots`` is the exact probability within 5 sigmas."""
    return abs(measured - exact) <= 5 * math.sqrt(max(exact * (1 - exact), 1 / shots) / shots)


async def _official(run: Callable[[], Any]) -> Any:
    return await anyio.to_thread.run_sync(run)


@pytest.mark.parametrize("twirling", [False, True], ids=["plain", "twirled"])
async def test_sampler_bell_counts_match_the_official_sampler(
    ours: Callable[[], AsyncRuntimeService], official: Callable[[], Any], twirling: bool
) -> None:
    from qiskit_ibm_runtime.executor_sampler import Sampler

    options = {"twirling": {"enable_gates": twirling, "enable_measure": twirling}}
    async with ours() as service:
        backend = await service.backend(BACKEND)
        isa = _isa(backend, _bell())
        our_result = await (await ExecutorSampler(backend, options=options).run([isa], shots=2000))

        def theirs() -> Any:
            service = official()
            official_backend = service.backend(BACKEND)
            official_isa = _isa(official_backend, _bell())
            return (
                Sampler(official_backend, options=options).run([official_isa], shots=2000).result()
            )

        their_result = await _official(theirs)
        ours_bits, their_bits = our_result[0].data.meas, their_result[0].data.meas
        assert ours_bits.num_shots == their_bits.num_shots
        our_counts, their_counts = ours_bits.get_counts(), their_bits.get_counts()
        assert set(our_counts) == set(their_counts) == {"00", "11"}
        shots = ours_bits.num_shots
        assert _same_frequency(our_counts["11"] / shots, their_counts["11"] / shots, shots)
        assert our_result[0].metadata.keys() == their_result[0].metadata.keys()
        if twirling:
            assert (
                our_result[0].metadata["num_randomizations"]
                == (their_result[0].metadata["num_randomizations"])
            )
        assert our_result.metadata["shots"] == their_result.metadata["shots"]


async def test_sampler_parameter_sweep_matches_the_official_sampler(
    ours: Callable[[], AsyncRuntimeService], official: Callable[[], Any]
) -> None:
    from qiskit_ibm_runtime.executor_sampler import Sampler

    theta = Parameter("t")
    circuit = QuantumCircuit(1)
    circuit.ry(theta, 0)
    circuit.measure_all()
    angles = np.linspace(0, math.pi, 5).reshape(-1, 1)
    options = {"twirling": {"enable_measure": True, "num_randomizations": 8}}
    async with ours() as service:
        backend = await service.backend(BACKEND)
        our_result = await (
            await ExecutorSampler(backend, options=options).run(
                [(_isa(backend, circuit), angles)], shots=800
            )
        )

        def theirs() -> Any:
            official_backend = official().backend(BACKEND)
            pub = (_isa(official_backend, circuit), angles)
            return Sampler(official_backend, options=options).run([pub], shots=800).result()

        their_result = await _official(theirs)
        our_bits, their_bits = our_result[0].data.meas, their_result[0].data.meas
        assert our_bits.shape == their_bits.shape == (5,)
        assert our_bits.num_shots == their_bits.num_shots == 800
        for index, angle in enumerate(angles[:, 0]):
            our_ones = our_bits[index].get_counts().get("1", 0) / 800
            their_ones = their_bits[index].get_counts().get("1", 0) / 800
            assert _same_frequency(our_ones, their_ones, 800)
            assert _near(our_ones, math.sin(angle / 2) ** 2, 800)


async def test_estimator_default_options_match_the_official_estimator(
    ours: Callable[[], AsyncRuntimeService], official: Callable[[], Any]
) -> None:
    """Default options: measurement twirling and TREX readout mitigation, both sides."""
    from qiskit_ibm_runtime.executor_estimator import Estimator

    theta = Parameter("t")
    circuit = QuantumCircuit(2)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    circuit.metadata = {"label": "ry-sweep"}
    angles = np.array([[0.0], [math.pi / 3], [2.0]])

    def pub(backend: Any) -> Any:
        isa = _isa(backend, circuit)
        zz = SparsePauliOp("ZZ").apply_layout(isa.layout)
        z0 = SparsePauliOp("IZ").apply_layout(isa.layout)
        return (isa, [[zz], [z0]], angles.T)

    async with ours() as service:
        backend = await service.backend(BACKEND)
        our_result = await (await ExecutorEstimator(backend).run([pub(backend)], precision=0.02))

        def theirs() -> Any:
            official_backend = official().backend(BACKEND)
            return Estimator(official_backend).run([pub(official_backend)], precision=0.02).result()

        their_result = await _official(theirs)
        ours_data, their_data = our_result[0].data, their_result[0].data
        assert set(ours_data.keys()) == set(their_data.keys())
        assert ours_data.evs.shape == their_data.evs.shape == (2, 3)
        combined = np.sqrt(ours_data.stds**2 + their_data.stds**2) + 0.01
        assert np.all(np.abs(ours_data.evs - their_data.evs) <= 5 * combined)
        exact = np.stack([np.ones(3), np.cos(angles[:, 0])])
        assert np.all(np.abs(ours_data.evs - exact) <= 5 * ours_data.stds + 0.02)
        assert our_result.metadata["shots"] == their_result.metadata["shots"] == 2500
        assert our_result[0].metadata == their_result[0].metadata
        assert our_result.metadata["target_precision"] == 0.02


# Noiseless data has zero spread at some factors: the library then fits unweighted, and says so.
@pytest.mark.filterwarnings("ignore:No positive, finite standard errors:UserWarning")
async def test_estimator_zne_level_2_matches_the_official_estimator(
    ours: Callable[[], AsyncRuntimeService], official: Callable[[], Any]
) -> None:
    """resilience_level 2: gate and measurement twirling, TREX and gate-folding ZNE."""
    from qiskit_ibm_runtime.executor_estimator import Estimator

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)

    def pub(backend: Any) -> Any:
        isa = _isa(backend, circuit)
        return (isa, [SparsePauliOp(label).apply_layout(isa.layout) for label in ("ZZ", "XX")])

    options = {"resilience_level": 2}
    async with ours() as service:
        backend = await service.backend(BACKEND)
        estimator = ExecutorEstimator(backend, options=options)
        our_result = await (await estimator.run([pub(backend)], precision=0.05))

    def theirs() -> Any:
        official_backend = official().backend(BACKEND)
        estimator = Estimator(official_backend, options=options)
        return estimator.run([pub(official_backend)], precision=0.05).result()

    their_result = await _official(theirs)
    ours_data, their_data = our_result[0].data, their_result[0].data
    assert set(ours_data.keys()) == set(their_data.keys())
    assert ours_data.evs_noise_factors.shape == their_data.evs_noise_factors.shape == (2, 3)
    assert ours_data.evs_extrapolated.shape == their_data.evs_extrapolated.shape
    # Noiseless: every noise factor gives <ZZ> = <XX> = 1 up to shot noise.
    factors = ours_data.evs_noise_factors
    assert np.all(np.abs(factors - 1.0) <= 5 * ours_data.stds_noise_factors + 0.02)
    difference = np.abs(factors - their_data.evs_noise_factors)
    combined = np.sqrt(ours_data.stds_noise_factors**2 + their_data.stds_noise_factors**2)
    assert np.all(difference <= 5 * combined + 0.02)
    assert our_result[0].metadata["resilience"]["zne"]["extrapolators"].shape == (2,)
    assert set(our_result[0].metadata) == set(their_result[0].metadata)


# Noiseless data has zero spread at some factors: the library then fits unweighted, and says so.
@pytest.mark.filterwarnings("ignore:No positive, finite standard errors:UserWarning")
@pytest.mark.parametrize("method", ["pec", "pea"])
async def test_estimator_with_a_given_noise_model_matches_the_official_estimator(
    ours: Callable[[], AsyncRuntimeService], official: Callable[[], Any], method: str
) -> None:
    """PEC, and ZNE by PEA: the layers come from find_unique_layers, each with the same small
    noise map."""
    from qiskit.quantum_info import PauliLindbladMap
    from qiskit_ibm_runtime.executor_estimator import Estimator

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)

    def with_noise(layers: list[Any]) -> list[Any]:
        return [
            (layer, PauliLindbladMap.from_list([("X" * layer.operation.num_qubits, 0.001)]))
            for layer in layers
        ]

    resilience: dict[str, Any] = (
        {"pec_mitigation": True}
        if method == "pec"
        else {"zne_mitigation": True, "zne": {"amplifier": "pea"}}
    )
    options: dict[str, Any] = {"default_shots": 2000, "resilience": resilience}
    async with ours() as service:
        backend = await service.backend(BACKEND)
        isa = _isa(backend, circuit)
        pubs = [(isa, SparsePauliOp("ZZ").apply_layout(isa.layout))]
        with pytest.raises(InvalidInputError, match="layer_noise_model"):
            ExecutorEstimator(backend, options=options)
        probe = ExecutorEstimator(backend, options={"resilience_level": 0})
        if method == "pec":
            probe.options.resilience.pec_mitigation = True
        else:
            probe.options.resilience.zne_mitigation = True
            probe.options.resilience.zne.amplifier = "pea"
        layers = await anyio.to_thread.run_sync(probe.find_unique_layers, pubs)
        assert layers
        options["resilience"]["layer_noise_model"] = with_noise(layers)
        estimator = ExecutorEstimator(backend, options=options)
        our_result = await (await estimator.run(pubs))

    def theirs() -> Any:
        official_backend = official().backend(BACKEND)
        official_isa = _isa(official_backend, circuit)
        official_pubs = [(official_isa, SparsePauliOp("ZZ").apply_layout(official_isa.layout))]
        estimator = Estimator(official_backend)
        estimator.options.default_shots = 2000
        if method == "pec":
            estimator.options.resilience.pec_mitigation = True
        else:
            estimator.options.resilience.zne_mitigation = True
            estimator.options.resilience.zne.amplifier = "pea"
        found = estimator.find_unique_layers(official_pubs, types="gates")
        estimator.options.resilience.layer_noise_model = with_noise(found)
        return len(found), estimator.run(official_pubs).result()

    their_layers, their_result = await _official(theirs)
    assert len(layers) == their_layers
    ours_data, their_data = our_result[0].data, their_result[0].data
    assert set(ours_data.keys()) == set(their_data.keys())
    # Noiseless server: PEC inverts a noise that is not there, <ZZ> = 1 moves well under 1 %.
    assert abs(float(ours_data.evs) - 1.0) <= 5 * float(ours_data.stds) + 0.02
    combined = math.hypot(float(ours_data.stds), float(their_data.stds))
    assert abs(float(ours_data.evs) - float(their_data.evs)) <= 5 * combined + 0.02
    assert our_result.metadata["shots"] == their_result.metadata["shots"]


async def test_a_job_of_our_sampler_is_read_by_the_official_client(
    ours: Callable[[], AsyncRuntimeService], official: Callable[[], Any]
) -> None:
    """Same wire: the official client decodes and post-processes a job we submitted."""
    async with ours() as service:
        backend = await service.backend(BACKEND)
        options = {"twirling": {"enable_measure": True}}
        job = await ExecutorSampler(backend, options=options).run(
            [_isa(backend, _bell())], shots=500
        )
        our_counts = (await job)[0].data.meas.get_counts()

        def theirs() -> Any:
            return official().job(job.job_id()).result()

        their_counts = (await _official(theirs))[0].data.meas.get_counts()
        assert their_counts == our_counts


async def test_executor_primitives_and_v2_primitives_share_a_session(
    ours: Callable[[], AsyncRuntimeService],
) -> None:
    async with ours() as service:
        backend = await service.backend(BACKEND)
        isa = _isa(backend, _bell())
        async with AsyncSession(backend) as session:
            executor_job = await ExecutorSampler(session).run([isa], shots=100)
            v2_job = await AsyncSampler(session).run([isa], shots=100)
            estimator_job = await ExecutorEstimator(session, options={"resilience_level": 0}).run(
                [
                    (
                        isa.remove_final_measurements(inplace=False),
                        SparsePauliOp("ZZ").apply_layout(isa.layout),
                    )
                ]
            )
            results = [await executor_job, await v2_job, await estimator_job]
        assert {job.session_id for job in (executor_job, v2_job, estimator_job)} == {
            session.session_id
        }
        assert sum(results[0][0].data.meas.get_counts().values()) == 100
        assert sum(results[1][0].data.meas.get_counts().values()) == 100
        assert abs(float(results[2][0].data.evs) - 1.0) <= 5 * float(results[2][0].data.stds) + 1e-9


async def test_preparation_and_post_processing_run_in_worker_threads(
    ours: Callable[[], AsyncRuntimeService], monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: dict[str, list[int]] = {}

    def recording(name: str, module: Any) -> None:
        original = getattr(module, name)

        def wrapper(*args: Any) -> Any:
            threads.setdefault(name, []).append(threading.get_ident())
            return original(*args)

        monkeypatch.setattr(module, name, wrapper)

    recording("prepare_sampler_program", _executor_sampler)
    recording("sampler_postprocess", _executor_sampler)
    recording("prepare_estimator_program", _executor_estimator)
    recording("estimator_postprocess", _executor_estimator)
    circuit = _bell()
    async with ours() as service:
        backend = await service.backend(BACKEND)
        isa = _isa(backend, circuit)
        sampled = await (await ExecutorSampler(backend).run([isa], shots=10))
        observable = SparsePauliOp("ZZ").apply_layout(isa.layout)
        unmeasured = isa.remove_final_measurements(inplace=False)
        estimated = await (await ExecutorEstimator(backend).run([(unmeasured, observable)]))
    assert sum(sampled[0].data.meas.get_counts().values()) == 10
    assert estimated[0].data.evs.shape == ()
    assert sorted(threads) == sorted(
        [
            "prepare_sampler_program",
            "sampler_postprocess",
            "prepare_estimator_program",
            "estimator_postprocess",
        ]
    )
    loop_thread = threading.get_ident()
    assert all(loop_thread not in idents for idents in threads.values())


async def test_a_job_of_the_official_sampler_is_read_by_our_decoder(
    ours: Callable[[], AsyncRuntimeService], official: Callable[[], Any]
) -> None:
    """The other direction: the official client's executor-sampler results, decoded by us."""
    from qiskit_ibm_runtime.executor_sampler import Sampler

    def theirs() -> Any:
        official_backend = official().backend(BACKEND)
        sampler = Sampler(official_backend, options={"twirling": {"enable_measure": True}})
        job = sampler.run([_isa(official_backend, _bell())], shots=300)
        return job.job_id(), job.result()[0].data.meas.get_counts()

    job_id, their_counts = await _official(theirs)
    async with ours() as service:
        response = await service.transport.send(job_results(job_id))
    decoded = await anyio.to_thread.run_sync(decode_executor_result, response.text())
    assert decoded[0].data.meas.get_counts() == their_counts
    assert decoded[0].metadata["num_randomizations"] == 5
