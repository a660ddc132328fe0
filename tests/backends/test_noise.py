"""Noise models built from generated devices."""

from __future__ import annotations

from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_aer import AerSimulator

from aioqruntime.backends import default_devices, noise_model_for


def test_noise_model_for_ibm_local5() -> None:
    device = default_devices()[0]
    model = noise_model_for(device)
    assert not model.is_ideal()
    assert {"cz", "sx", "x", "measure"} <= set(model.noise_instructions)
    assert model.noise_qubits == [0, 1, 2, 3, 4]
    assert str(noise_model_for(device.backend())) == str(model)


def test_noisy_bell_state_has_a_few_errors() -> None:
    backend = default_devices()[0].backend()
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)
    simulator = AerSimulator(noise_model=noise_model_for(backend), seed_simulator=11)
    counts = simulator.run(isa, shots=4000).result().get_counts()
    wrong = counts.get("01", 0) + counts.get("10", 0)
    assert 0 < wrong < 400


def test_simulator_device_is_ideal() -> None:
    model = noise_model_for(default_devices()[3])
    assert model.is_ideal()
    assert "cx" in model.basis_gates


def test_aer_simulator_from_backend_accepts_a_runtime_backend() -> None:
    backend = default_devices()[1].backend()  # ibm_local27, ecr
    simulator = AerSimulator.from_backend(backend)
    assert simulator.num_qubits == 27
    assert not simulator.options.noise_model.is_ideal()
