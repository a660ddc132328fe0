"""Checks of coerced pubs that the official primitives make client-side (worker thread, no I/O).

Each failure is an :class:`InvalidInputError` naming the pub, raised before anything is sent:
what the official ``validate_classical_registers``, ``validate_estimator_pubs`` and
``validate_no_dd_with_dynamic_circuits`` refuse (a size-0 classical register, a register name
that is no Python identifier or is a keyword — the result's ``DataBin`` could not hold it —,
an empty observables array, dynamical decoupling with a dynamic circuit), and, on a device,
``validate_rzz_pubs`` (an ``rzz`` angle outside [0, π/2]).
"""

from __future__ import annotations

import inspect
import keyword
import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, Final

from aioqruntime._exceptions import InvalidInputError

__all__ = [
    "bad_mode_error",
    "check_classical_registers",
    "check_dd_with_dynamic",
    "check_observables",
    "check_rzz_angles",
]


def bad_mode_error(mode: object) -> InvalidInputError:
    """The error for a ``mode=`` that is no session, batch or backend; a coroutine is almost
    always ``service.backend(...)`` ported without its ``await``, so that is said."""
    if inspect.isawaitable(mode):
        got = f"a coroutine: forgot an 'await'? (mode=await service.backend(...)); got {mode!r}"
    else:
        got = type(mode).__name__
    return InvalidInputError(
        "mode must be an AsyncSession, an AsyncBatch or a backend from service.backend(), "
        f"got {got}"
    )


def check_classical_registers(index: int, circuit: Any) -> None:
    """Every classical register has bits and a name a result field can take; none at all is
    only warned about, with the official client's words (the job runs, its result is empty)."""
    if not circuit.cregs:
        warnings.warn(
            f"The {index}-th circuit has no output classical registers so the result will be "
            "empty. Did you mean to add measurement instructions?",
            UserWarning,
            stacklevel=2,
        )
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


#: IBM calibrates ``rzz`` for angles in [0, π/2] only (the official client's tolerance above).
_RZZ_MAX: Final = math.pi / 2 + 1e-10


def check_rzz_angles(index: int, pub: Any) -> None:
    """Every ``rzz`` angle, literal or bound from the pub's parameter values, is in [0, π/2]."""
    expressions = []
    for operation in _operations(pub.circuit):
        if operation.name != "rzz":
            continue
        angle = operation.params[0]
        if getattr(angle, "parameters", None):
            expressions.append(angle)
        else:
            _check_rzz_angle(index, float(angle), "")
    for expression in expressions:
        parameters = sorted(expression.parameters, key=lambda p: p.name)
        values = pub.parameter_values.ravel().as_array([p.name for p in parameters])
        for row in values.reshape(-1, len(parameters)):
            bound = float(expression.bind(dict(zip(parameters, row, strict=True))))
            _check_rzz_angle(index, bound, f" (from {expression} with the pub's values)")


def _check_rzz_angle(index: int, angle: float, origin: str) -> None:
    if not 0.0 <= angle <= _RZZ_MAX:
        raise InvalidInputError(
            f"pub {index}: rzz takes angles in [0, pi/2] only, got {angle}{origin}; "
            "transpile with the backend's pass manager, which folds the angle"
        )


def _operations(circuit: Any) -> Iterator[Any]:
    for instruction in circuit.data:
        yield instruction.operation
        for block in getattr(instruction.operation, "blocks", ()):
            yield from _operations(block)
