"""Refuse circuits the backend cannot run as they are, before anything is sent."""

from __future__ import annotations

from typing import Any

from aioqruntime._exceptions import InvalidInputError

__all__ = ["check_isa"]

_ALWAYS_FINE = frozenset({"barrier"})


def check_isa(circuit: Any, target: Any, *, backend_name: str, index: int) -> None:
    """Raise :class:`InvalidInputError` naming the first gate/qubits ``target`` does not support.

    Checks the circuit width, then every instruction (inside control-flow blocks too) with its
    physical qubits, like the official client's ``validate_isa_circuits``.
    """
    if circuit.num_qubits > target.num_qubits:
        raise InvalidInputError(
            f"pub {index}: the circuit has {circuit.num_qubits} qubits but {backend_name} has "
            f"{target.num_qubits}; transpile it first (generate_preset_pass_manager(backend=...))"
        )
    qubit_index = {bit: i for i, bit in enumerate(circuit.qubits)}
    _check_block(circuit, target, [qubit_index[q] for q in circuit.qubits], backend_name, index)


def _check_block(
    block: Any, target: Any, physical: list[int], backend_name: str, index: int
) -> None:
    positions = {bit: i for i, bit in enumerate(block.qubits)}
    for instruction in block.data:
        operation = instruction.operation
        name = operation.name
        qargs = tuple(physical[positions[q]] for q in instruction.qubits)
        if name not in _ALWAYS_FINE and not target.instruction_supported(name, qargs):
            raise InvalidInputError(
                f"pub {index}: {name!r} on qubits {list(qargs)} is not supported by "
                f"{backend_name} (not an ISA circuit); transpile it first with "
                "generate_preset_pass_manager(backend=backend)"
            )
        for inner in getattr(operation, "blocks", ()):
            _check_block(inner, target, list(qargs), backend_name, index)
