"""The official 0.51.0 ``Executor``, ``executor_sampler.Sampler`` and
``executor_estimator.Estimator`` run unchanged against the local server's ``executor`` program,
with correct results.

The server is noiseless, so every expectation is exact up to shot noise; tolerances are a few
standard errors of the shots taken (never reached by a correct server, always by a wrong one: a
lost correlation or an unflipped twirl moves a value by far more).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import Executor, QuantumProgram
from qiskit_ibm_runtime.exceptions import IBMRuntimeError
from qiskit_ibm_runtime.executor_estimator import Estimator
from qiskit_ibm_runtime.executor_sampler import Sampler
from qiskit_ibm_runtime.results import QuantumProgramResult

from ._circuits import bell, bell_counts, isa_bell
from ._harness import BACKEND, ServerThread

TRACE = Path(__file__).parent.parent / "data" / "traces" / "f_executor_sampler.jsonl"


def _transpile(backend: Any, circuit: QuantumCircuit) -> QuantumCircuit:
    manager = generate_preset_pass_manager(backend=backend, optimization_level=1, seed_transpiler=7)
    return manager.run(circuit)


def _within(measured: float, exact: float, shots: int, sigmas: float = 5.0) -> bool:
    """``measured`` (a frequency or a <Z>-like value in [-1, 1]) is ``exact`` up to shot noise."""
    return abs(measured - exact) <= sigmas / np.sqrt(shots) + 1e-9


def _stored_params(local: ServerThread, job_id: str) -> dict[str, Any]:
    return json.loads(local.call(lambda: local.server.job(job_id).params_text))


def _rows(meas: np.ndarray) -> set[tuple[bool, ...]]:
    return {tuple(bool(b) for b in row) for row in meas.reshape(-1, meas.shape[-1])}


def test_executor_circuit_item_bell_with_passthrough(local: ServerThread, service: Any) -> None:
    backend = service.backend(BACKEND)
    passthrough = {"label": "bell", "n": 2, "weights": np.array([0.5, 1.5]), "nested": [None, 1.0]}
    program = QuantumProgram(shots=400, passthrough_data=passthrough)
    program.append_circuit_item(isa_bell(backend))
    job = Executor(backend).run(program)
    result = job.result()
    assert isinstance(result, QuantumProgramResult)
    meas = result[0]["meas"]
    assert meas.shape == (400, 2) and meas.dtype == np.bool_
    # Bit i of the register is column i; a Bell pair has both equal, and both values occur.
    assert _rows(meas) == {(False, False), (True, True)}
    assert _within(meas[:, 0].mean(), 0.5, 400)
    assert result.passthrough_data["label"] == "bell" and result.passthrough_data["n"] == 2
    assert result.passthrough_data["nested"] == [None, 1.0]
    np.testing.assert_array_equal(result.passthrough_data["weights"], [0.5, 1.5])
    assert [span.parts[0].idx_item for span in result.metadata.chunk_timing] == [0]
    looked_up = service.job(job.job_id())
    assert looked_up.primitive_id == "executor"
    assert isinstance(looked_up.inputs["quantum_program"], QuantumProgram)


def test_executor_circuit_item_with_a_3_by_p_argument_array(service: Any) -> None:
    backend = service.backend(BACKEND)
    a, b = Parameter("a"), Parameter("b")
    circuit = QuantumCircuit(2)
    circuit.ry(a, 0)
    circuit.ry(b, 1)
    circuit.measure_all()
    isa = _transpile(backend, circuit)
    arguments = np.array([[0.0, np.pi], [np.pi / 2, 0.3], [2.0, np.pi / 3]])
    columns = [list(isa.parameters).index(p) for p in (a, b)]
    ordered = np.empty_like(arguments)
    ordered[:, columns] = arguments
    shots = 2000
    program = QuantumProgram(shots=shots)
    program.append_circuit_item(isa, circuit_arguments=ordered)
    result = Executor(backend).run(program).result()
    meas = result[0]["meas"]
    assert meas.shape == (3, shots, 2)
    for row, (theta_a, theta_b) in enumerate(arguments):
        assert _within(meas[row, :, 0].mean(), np.sin(theta_a / 2) ** 2, shots)
        assert _within(meas[row, :, 1].mean(), np.sin(theta_b / 2) ** 2, shots)


def test_executor_samplex_item_flips_undo_measurement_twirling(service: Any) -> None:
    from samplomatic import build
    from samplomatic.transpiler import generate_boxing_pass_manager

    backend = service.backend(BACKEND)
    manager = generate_preset_pass_manager(backend=backend, optimization_level=0)
    manager.post_scheduling = generate_boxing_pass_manager(enable_gates=True, enable_measures=True)
    template, samplex = build(manager.run(bell()))
    program = QuantumProgram(shots=50, passthrough_data={"kind": "samplex"})
    # 40 randomizations: that none flips exactly one bit has probability 2^-40.
    program.append_samplex_item(template, samplex=samplex, shape=(40,))
    result = Executor(backend).run(program).result()
    item = result[0]
    assert set(item) == {"meas", "measurement_flips.meas"}
    assert item["meas"].shape == (40, 50, 2)
    assert item["measurement_flips.meas"].shape == (40, 1, 2)
    # Raw bits are twirled (some randomization flips exactly one bit); flips restore the pair.
    assert any(len(set(row)) == 2 for row in _rows(item["measurement_flips.meas"]))
    assert _rows(item["meas"] ^ item["measurement_flips.meas"]) == {(False, False), (True, True)}
    assert result.passthrough_data == {"kind": "samplex"}


@pytest.mark.parametrize("twirling", [False, True], ids=["plain", "twirled"])
def test_executor_sampler_bell_counts(service: Any, twirling: bool) -> None:
    backend = service.backend(BACKEND)
    sampler = Sampler(mode=backend)
    sampler.options.twirling.enable_gates = twirling
    sampler.options.twirling.enable_measure = twirling
    if twirling:
        sampler.options.twirling.num_randomizations = 10
        sampler.options.twirling.shots_per_randomization = 80
    result = sampler.run([isa_bell(backend)], shots=800).result()
    counts = result[0].data.meas.get_counts()
    zeros, ones = bell_counts(counts)
    assert zeros + ones == 800
    assert _within(ones / 800, 0.5, 800)
    if twirling:
        assert result[0].metadata["num_randomizations"] == 10


def test_executor_sampler_ry_sweep(service: Any) -> None:
    backend = service.backend(BACKEND)
    theta = Parameter("t")
    circuit = QuantumCircuit(1)
    circuit.ry(theta, 0)
    circuit.measure_all()
    isa = _transpile(backend, circuit)
    angles = np.linspace(0, np.pi, 5)
    shots = 1000
    result = Sampler(mode=backend).run([(isa, angles.reshape(-1, 1))], shots=shots).result()
    bits = result[0].data.meas
    assert bits.shape == (5,) and bits.num_shots == shots
    for index, angle in enumerate(angles):
        ones = bits[index].get_counts().get("1", 0)
        assert _within(ones / shots, np.sin(angle / 2) ** 2, shots)


def test_executor_estimator_default_options_zz_and_sweep(service: Any) -> None:
    backend = service.backend(BACKEND)
    theta = Parameter("t")
    circuit = QuantumCircuit(2)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    isa = _transpile(backend, circuit)
    zz = SparsePauliOp("ZZ").apply_layout(isa.layout)
    z0 = SparsePauliOp("IZ").apply_layout(isa.layout)
    angles = np.array([[0.0], [np.pi / 3], [2.0]])
    estimator = Estimator(mode=backend)
    estimator.options.default_shots = 4000
    result = estimator.run([(isa, [[zz], [z0]], angles.T)]).result()
    evs = result[0].data.evs
    assert evs.shape == (2, 3)
    # <ZZ> = 1 for every angle; <Z0> = cos(t). TREX rescales by a calibrated factor near 1.
    np.testing.assert_allclose(evs[0], 1.0, atol=0.1)
    np.testing.assert_allclose(evs[1], np.cos(angles[:, 0]), atol=0.1)


def test_executor_sampler_request_matches_the_recorded_trace(
    local: ServerThread, service: Any
) -> None:
    """Our server accepts exactly the document the official client sent the recording stub."""
    recorded = next(
        entry["body"]
        for entry in map(json.loads, TRACE.read_text().splitlines())
        if entry.get("method") == "POST" and entry.get("path", "").endswith("/jobs")
    )
    backend = service.backend(BACKEND)
    job = Sampler(mode=backend).run([isa_bell(backend)], shots=100)
    zeros, ones = bell_counts(job.result()[0].data.meas.get_counts())
    assert zeros + ones == 100
    ours = _stored_params(local, job.job_id())

    def shape_of(doc: Any) -> Any:
        if isinstance(doc, dict):
            return {key: shape_of(value) for key, value in doc.items() if key != "b64_data"}
        if isinstance(doc, list):
            return [shape_of(value) for value in doc]
        return type(doc).__name__

    assert shape_of(ours) == shape_of(recorded["params"])
    assert ours["quantum_program"]["items"][0]["circuit_arguments"]["shape"] == [0]


def test_noise_learner_is_refused_naming_it_not_emulated(service: Any) -> None:
    from qiskit_ibm_runtime.noise_learner import NoiseLearner

    backend = service.backend(BACKEND)
    circuit = QuantumCircuit(2)
    circuit.cx(0, 1)
    with pytest.raises(IBMRuntimeError, match="not emulated"):
        NoiseLearner(mode=backend).run([_transpile(backend, circuit)])


def test_executor_estimator_pec_with_a_given_layer_noise_model(service: Any) -> None:
    """PEC samples signed Pauli insertions from the noise maps (samplex inputs of their own)."""
    from qiskit.quantum_info import PauliLindbladMap

    backend = service.backend(BACKEND)
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    isa = _transpile(backend, circuit)
    zz = SparsePauliOp("ZZ").apply_layout(isa.layout)
    estimator = Estimator(mode=backend)
    estimator.options.resilience.pec_mitigation = True
    estimator.options.default_shots = 4000
    pubs = [(isa, zz)]
    layers = estimator.find_unique_layers(pubs, types="gates")
    assert layers
    noise = [
        PauliLindbladMap.from_list([("X" * layer.operation.num_qubits, 0.001)]) for layer in layers
    ]
    estimator.options.resilience.layer_noise_model = list(zip(layers, noise, strict=True))
    result = estimator.run(pubs).result()
    # The server is noiseless, so PEC inverts a noise that is not there: <ZZ> = 1 moves by
    # well under a percent, far inside the 0.1 allowed for shot noise.
    assert abs(float(result[0].data.evs) - 1.0) < 0.1
