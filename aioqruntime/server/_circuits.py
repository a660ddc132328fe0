"""Circuit helpers the simulation worker and the executor program share (worker process only).

Qiskit is imported inside the functions: the event-loop process imports the worker modules
without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["active_qubits", "backend_options", "compact_circuit"]


def backend_options(noise_model: Any) -> dict[str, Any]:
    """Aer backend options: the noise model, if any."""
    return {} if noise_model is None else {"noise_model": noise_model}


def active_qubits(circuit: Any, extra: Sequence[int] = ()) -> list[int]:
    """Qubits any instruction touches (plus ``extra``), in index order."""
    used: set[int] = set(extra)
    for instruction in circuit.data:
        for qubit in instruction.qubits:
            used.add(circuit.find_bit(qubit).index)
    return sorted(used)


def compact_circuit(circuit: Any, active: Sequence[int]) -> Any:
    """The circuit on just its ``active`` qubits, renumbered; classical bits are kept as they are.

    A 127-qubit ISA circuit of a Bell pair becomes a 2-qubit circuit, so even simulation methods
    that do not truncate idle qubits themselves stay fast. Control flow keeps its own bit lists,
    so circuits with control flow are left alone.
    """
    if len(active) == circuit.num_qubits or any(
        getattr(inst.operation, "blocks", ()) for inst in circuit.data
    ):
        return circuit
    from qiskit.circuit import QuantumCircuit, QuantumRegister

    register = QuantumRegister(len(active), "q")
    position = {q: i for i, q in enumerate(active)}
    compact = QuantumCircuit(
        register,
        *circuit.cregs,
        name=circuit.name,
        global_phase=circuit.global_phase,
        metadata=circuit.metadata,
    )
    loose_clbits = [bit for bit in circuit.clbits if not circuit.find_bit(bit).registers]
    if loose_clbits:
        compact.add_bits(loose_clbits)
    for instruction in circuit.data:
        qubits = [register[position[circuit.find_bit(q).index]] for q in instruction.qubits]
        compact.append(instruction.operation, qubits, instruction.clbits, copy=False)
    return compact
