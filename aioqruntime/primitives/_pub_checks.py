"""Checks of coerced pubs that the official primitives make client-side (worker thread, no I/O).

Each failure is an :class:`InvalidInputError` naming the pub, raised before anything is sent:
what the official ``validate_classical_registers``, ``validate_estimator_pubs`` and
``validate_no_dd_with_dynamic_circuits`` refuse (a size-0 classical register, a register name
that is no Python identifier or is a keyword — the result's ``DataBin`` could not hold it —,
an empty observables array, dynamical decoupling with a dynamic circuit).
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping
from typing import Any

from aioqruntime._exceptions import InvalidInputError

__all__ = ["check_classical_registers", "check_dd_with_dynamic", "check_observables"]


def check_classical_registers(index: int, circuit: Any) -> None:
    """Every classical register has bits and a name a result field can take."""
    for register in circuit.cregs:
        if register.size == 0:
            raise InvalidInputError(
                f"pub {index}: classical register {register.name!r} has size 0, which is not "
                "allowed"
            )
        if not register.name.isidentifier() or keyword.iskeyword(register.name):
            raise InvalidInputError(
                f"pub {index}: classical register name {register.name!r} must be a Python "
                "identifier (letters, digits, underscores) and not a keyword: results are "
                "fields named after the registers"
            )


def check_observables(index: int, pub: Any) -> None:
    if pub.observables.shape == (0,):
        raise InvalidInputError(f"pub {index}: the observables array is empty")


def check_dd_with_dynamic(index: int, circuit: Any, options: Mapping[str, Any]) -> None:
    """Dynamical decoupling cannot be used with dynamic circuits (the service's rule)."""
    decoupling = options.get("dynamical_decoupling") or {}
    if decoupling.get("enable") is not True:
        return
    from qiskit.circuit import ControlFlowOp

    for instruction in circuit.data:
        operation = instruction.operation
        if isinstance(operation, ControlFlowOp) or getattr(operation, "condition", None):
            raise InvalidInputError(
                f"pub {index}: dynamical decoupling cannot be used with dynamic circuits "
                "(this one has control flow): set options.dynamical_decoupling.enable = False"
            )
