"""Build a transpiler :class:`~qiskit.transpiler.Target` from the Runtime's backend JSON.

Inputs are the bodies of ``GET /backends/{name}/configuration`` and ``.../properties`` exactly as
the service sends them (times in ns/us, frequencies in GHz, dates as ISO strings). The rules are
those of protocol.md §10.1, so a circuit that is ISA for our target is ISA for the official client.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

from qiskit.circuit import (
    ForLoopOp,
    Gate,
    IfElseOp,
    Instruction,
    Parameter,
    SwitchCaseOp,
    WhileLoopOp,
)
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.providers import QubitProperties
from qiskit.transpiler import InstructionProperties, Target, TranspilerError
from qiskit.utils.units import apply_prefix

from aioqruntime._exceptions import ProtocolError

__all__ = ["build_target", "is_fractional_gate_name"]

logger = logging.getLogger("aioqruntime.backends")

NON_UNITARY_INSTRUCTIONS = frozenset({"measure", "delay", "reset"})
CONTROL_FLOW_OPERATIONS: dict[str, type[Instruction]] = {
    "if_else": IfElseOp,
    "while_loop": WhileLoopOp,
    "for_loop": ForLoopOp,
    "switch_case": SwitchCaseOp,
}
DEFAULT_SUPPORTED_INSTRUCTIONS = ("measure", "reset", "delay")
TIMING_CONSTRAINT_KEYS = frozenset(
    {"granularity", "min_length", "pulse_alignment", "acquire_alignment"}
)

# Parametrised gates that IBM hardware implements in software (frame changes) or that are not
# gates at all; every other parametrised gate is "fractional" (needs a calibrated pulse per angle).
_VIRTUAL_PARAMETRISED = frozenset({"rz", "p", "u1", "delay"})
# The angles IBM calibrates RZZ for; anything else must be folded into this range by the transpiler.
RZZ_ANGLE_BOUNDS = (0.0, math.pi / 2)

QubitTuple = tuple[int, ...]
PropertyMap = dict[QubitTuple, "InstructionProperties | None"]


def is_fractional_gate_name(name: str) -> bool:
    """Whether IBM counts the standard gate ``name`` as fractional (a continuous-angle pulse)."""
    gate = get_standard_gate_name_mapping().get(name)
    return gate is not None and len(gate.params) > 0 and name not in _VIRTUAL_PARAMETRISED


def build_target(
    configuration: Mapping[str, Any],
    properties: Mapping[str, Any] | None,
    *,
    include_fractional_gates: bool = True,
) -> Target:
    """The :class:`~qiskit.transpiler.Target` of a backend described by its Runtime JSON.

    ``properties`` may be ``None`` (or empty): instructions are then placed on the qubits of
    ``gates[].coupling_map`` with no error or duration. With ``include_fractional_gates=False``
    gates such as ``rx`` and ``rzz`` are left out, as the official client does by default.
    Faulty qubits and gates (an Nduv ``operational`` of 0) are left out.

    Raises :class:`~aioqruntime.ProtocolError` when the documents lack what a target needs
    (``n_qubits``, well-formed ``gates``...).
    """
    try:
        return _build_target(configuration, properties, include_fractional_gates)
    except (KeyError, IndexError, TypeError, ValueError, TranspilerError) as exc:
        name = configuration.get("backend_name", "?")
        raise ProtocolError(
            f"cannot build a target for backend {name!r} from its configuration and properties: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _build_target(
    configuration: Mapping[str, Any],
    properties: Mapping[str, Any] | None,
    include_fractional_gates: bool,
) -> Target:
    num_qubits = int(configuration["n_qubits"])
    calibration = _Calibration(properties, num_qubits) if properties else None

    gate_configs = {
        str(entry["name"]): entry for entry in configuration.get("gates") or () if "name" in entry
    }
    listed = configuration.get("supported_instructions")
    supported = set(DEFAULT_SUPPORTED_INSTRUCTIONS if listed is None else listed)
    names = (
        set(configuration.get("basis_gates") or ())
        | (supported & NON_UNITARY_INSTRUCTIONS)
        | (supported & CONTROL_FLOW_OPERATIONS.keys())
    )
    if not include_fractional_gates:
        names = {name for name in names if not is_fractional_gate_name(name)}

    operations = _operations_by_name(names, gate_configs, calibration)
    for signature in configuration.get("instruction_signatures") or ():
        operations[str(signature["name"])] = Instruction(
            name=str(signature["name"]),
            num_qubits=int(signature["num_qubits"]),
            num_clbits=int(signature["num_clbits"]),
            params=[Parameter(str(p)) for p in signature.get("parameters") or ()],
        )

    target = Target(
        num_qubits=num_qubits,
        dt=_dt_seconds(configuration),
        qubit_properties=calibration.qubit_properties() if calibration else None,
        **{
            key: value
            for key, value in (configuration.get("timing_constraints") or {}).items()
            if key in TIMING_CONSTRAINT_KEYS
        },
    )
    for name in sorted(names & CONTROL_FLOW_OPERATIONS.keys()):
        target.add_instruction(CONTROL_FLOW_OPERATIONS[name], name=name)
    for name, operation in sorted(operations.items()):
        placement = _placement(name, gate_configs.get(name), supported, num_qubits, calibration)
        if name == "rzz":
            _add_rzz(target, operation, placement)
        else:
            target.add_instruction(operation, placement, name=name)
    return target


def _dt_seconds(configuration: Mapping[str, Any]) -> float | None:
    dt_ns = configuration.get("dt")
    return None if dt_ns is None else float(dt_ns) * 1e-9


def _operations_by_name(
    names: Iterable[str],
    gate_configs: Mapping[str, Mapping[str, Any]],
    calibration: _Calibration | None,
) -> dict[str, Instruction]:
    """Qiskit objects for the non-control-flow names; unknown names become opaque gates."""
    standard = get_standard_gate_name_mapping()
    operations: dict[str, Instruction] = {}
    for name in names:
        if name in CONTROL_FLOW_OPERATIONS:
            continue
        if name in standard:
            operations[name] = standard[name]
            continue
        arity = _arity(
            gate_configs.get(name), calibration.qubit_tuples(name) if calibration else []
        )
        if arity is None:
            logger.warning(
                "backend lists %r without a definition or qubits; left out of the target", name
            )
            continue
        parameters = (gate_configs.get(name) or {}).get("parameters") or ()
        operations[name] = Gate(name, arity, [Parameter(str(p)) for p in parameters])
    return operations


def _arity(gate_config: Mapping[str, Any] | None, calibrated_on: list[QubitTuple]) -> int | None:
    coupling = (gate_config or {}).get("coupling_map")
    if coupling:
        return len(coupling[0])
    if calibrated_on:
        return len(calibrated_on[0])
    return None


def _placement(
    name: str,
    gate_config: Mapping[str, Any] | None,
    supported: set[str],
    num_qubits: int,
    calibration: _Calibration | None,
) -> PropertyMap | None:
    """Which qubit tuples ``name`` acts on, and with what error and duration.

    ``None`` means "on any qubits" (an instruction nothing ties to particular qubits).
    """
    placement: PropertyMap | None = None
    coupling = (gate_config or {}).get("coupling_map")
    if coupling:
        placement = {tuple(int(q) for q in qubits): None for qubits in coupling}

    if calibration is not None:
        if name == "measure":
            placement = {
                (q,): calibration.readout(q) for q in range(num_qubits) if calibration.qubit_ok(q)
            }
        else:
            for qubits, properties in calibration.gate_properties(name).items():
                if placement is None:
                    placement = {}
                if calibration.gate_ok(name, qubits):
                    placement[qubits] = properties
                else:
                    placement.pop(qubits, None)

    if placement is None and name in NON_UNITARY_INSTRUCTIONS and name in supported:
        # measure/reset/delay are offered on every (working) qubit even when nothing is calibrated.
        placement = {
            (q,): None for q in range(num_qubits) if calibration is None or calibration.qubit_ok(q)
        }
    return placement


def _add_rzz(target: Target, operation: Instruction, placement: PropertyMap | None) -> None:
    """Add ``rzz`` with IBM's calibrated angle range if this Qiskit knows angle bounds (>= 2.2)."""
    from aioqruntime.backends._rzz import register_rzz_angle_folding

    if register_rzz_angle_folding():
        target.add_instruction(operation, placement, name="rzz", angle_bounds=[RZZ_ANGLE_BOUNDS])
    else:
        target.add_instruction(operation, placement, name="rzz")


def _nduv_values(entries: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """``{name: value in SI units}`` of a list of Nduv (name, date, unit, value) records."""
    values: dict[str, float] = {}
    for entry in entries:
        try:
            values[str(entry["name"])] = float(
                apply_prefix(float(entry["value"]), entry.get("unit") or "")
            )
        except (KeyError, TypeError, ValueError):
            logger.debug("ignoring unreadable calibration entry %r", entry)
    return values


class _Calibration:
    """The properties document, indexed for the lookups the target needs."""

    def __init__(self, properties: Mapping[str, Any], num_qubits: int) -> None:
        self._qubits: list[dict[str, float]] = [
            _nduv_values(entries) for entries in (properties.get("qubits") or ())
        ]
        self._num_qubits = num_qubits
        self._gates: dict[str, dict[QubitTuple, dict[str, float]]] = {}
        for gate in properties.get("gates") or ():
            name = gate.get("gate")
            if name is None:
                continue
            qubits = tuple(int(q) for q in gate.get("qubits") or ())
            self._gates.setdefault(str(name), {})[qubits] = _nduv_values(
                gate.get("parameters") or ()
            )

    def _qubit(self, qubit: int) -> dict[str, float]:
        return self._qubits[qubit] if qubit < len(self._qubits) else {}

    def qubit_ok(self, qubit: int) -> bool:
        return self._qubit(qubit).get("operational", 1) != 0

    def gate_ok(self, name: str, qubits: QubitTuple) -> bool:
        values = self._gates.get(name, {}).get(qubits, {})
        return values.get("operational", 1) != 0 and all(self.qubit_ok(q) for q in qubits)

    def qubit_tuples(self, name: str) -> list[QubitTuple]:
        return list(self._gates.get(name, {}))

    def qubit_properties(self) -> list[QubitProperties]:
        return [
            QubitProperties(
                t1=self._qubit(q).get("T1"),
                t2=self._qubit(q).get("T2"),
                frequency=self._qubit(q).get("frequency"),
            )
            for q in range(self._num_qubits)
        ]

    def readout(self, qubit: int) -> InstructionProperties:
        values = self._qubit(qubit)
        return InstructionProperties(
            error=values.get("readout_error"), duration=values.get("readout_length")
        )

    def gate_properties(self, name: str) -> dict[QubitTuple, InstructionProperties]:
        return {
            qubits: InstructionProperties(
                error=values.get("gate_error"), duration=values.get("gate_length")
            )
            for qubits, values in self._gates.get(name, {}).items()
        }
