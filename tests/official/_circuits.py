"""Circuits the flows run, transpiled the way official-client.md §6.6 says (preset pass manager)."""

from __future__ import annotations

from typing import Any

from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.transpiler import generate_preset_pass_manager


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def isa_bell(backend: Any) -> QuantumCircuit:
    """The Bell pair as an ISA circuit of ``backend`` (an official ``IBMBackend``)."""
    manager = generate_preset_pass_manager(backend=backend, optimization_level=1, seed_transpiler=7)
    return manager.run(bell())


def ry_pair() -> tuple[QuantumCircuit, Parameter]:
    """``ry(θ)`` on qubit 0 entangled onto qubit 1: ⟨ZZ⟩ = 1, ⟨Z0⟩ = cos θ, ⟨X0⟩ = sin θ."""
    theta = Parameter("θ")
    circuit = QuantumCircuit(2)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    return circuit, theta


def bell_counts(counts: dict[str, int]) -> tuple[int, int]:
    """(#'00', #'11') of a Bell result; asserts nothing else was measured."""
    assert set(counts) <= {"00", "11"}, counts
    return counts.get("00", 0), counts.get("11", 0)
