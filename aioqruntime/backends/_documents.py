"""``BackendConfiguration`` and ``BackendProperties``: the official objects over the wire JSON.

``backend.configuration()`` and ``backend.properties()`` of the official client return objects
(``QasmBackendConfiguration``, ``BackendProperties``) whose attributes users read:
``configuration().n_qubits``, ``properties().t1(q)``, ``gate_error("cx", [0, 1])``... These are
read-only views of the same documents with those names; values come back in SI units (seconds,
hertz) as the official ones do. ``to_dict()`` gives the document as the service sent it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from aioqruntime._exceptions import InvalidInputError

__all__ = ["BackendConfiguration", "BackendProperties", "CalibrationRecord"]

# Unit prefixes the service uses (``us``, ``ns``, ``GHz``...), as the official client applies them.
_PREFIXES = {"p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}
_BASE_UNITS = ("s", "Hz")


def _si_value(value: float, unit: str) -> float:
    for base in _BASE_UNITS:
        if unit.endswith(base) and len(unit) == len(base) + 1:
            return value * _PREFIXES.get(unit[0], 1.0)
    return value


#: Configuration fields the official ``BackendConfiguration`` converts to SI: the wire has
#: ``dt``/``dtm`` in ns, repetition times in µs and LO ranges in GHz.
_CONFIGURATION_SCALES: dict[str, float] = {
    "dt": 1e-9,
    "dtm": 1e-9,
    "default_rep_delay": 1e-6,
    "rep_delay_range": 1e-6,
    "rep_times": 1e-6,
    "qubit_lo_range": 1e9,
    "meas_lo_range": 1e9,
}


def _scaled(value: Any, factor: float) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value * factor
    if isinstance(value, (list, tuple)):
        return [_scaled(item, factor) for item in value]
    return value


class BackendConfiguration:
    """The configuration document with attribute access (``n_qubits``, ``basis_gates``...).

    Values as the official ``BackendConfiguration`` gives them: times in seconds, frequencies in
    hertz, ``online_date`` a datetime. ``"key" in configuration`` says whether the document has
    ``key`` (the official filter helper relies on it). An attribute the document lacks raises
    ``AttributeError``.
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._document = dict(document)

    def __getattr__(self, name: str) -> Any:
        document = self.__dict__.get("_document", {})
        if name not in document:
            raise AttributeError(f"the backend configuration has no attribute {name!r}")
        value = document[name]
        if name in _CONFIGURATION_SCALES:
            return _scaled(value, _CONFIGURATION_SCALES[name])
        if name == "online_date":
            return _parse_date(value) or value
        return value

    def __contains__(self, name: object) -> bool:
        return name in self._document

    def __iter__(self) -> Iterator[str]:
        return iter(self._document)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BackendConfiguration):
            return self._document == other._document
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable document inside

    @property
    def num_qubits(self) -> int:
        return int(self._document.get("n_qubits", 0))

    def to_dict(self) -> dict[str, Any]:
        """The document as the service sent it (a copy)."""
        return dict(self._document)

    def __repr__(self) -> str:
        return (
            f"<BackendConfiguration backend_name={self._document.get('backend_name')!r} "
            f"n_qubits={self._document.get('n_qubits')!r}>"
        )


class CalibrationRecord(dict[str, Any]):
    """One record of the calibration document, read as the official ``Nduv`` (``.name``,
    ``.value``, ``.unit``, ``.date`` a datetime) or ``GateProperties`` (``.gate``, ``.qubits``,
    ``.parameters``); still the wire's dict (``record["value"]``), values in the wire's units."""

    def __getattr__(self, name: str) -> Any:
        if name not in self:
            raise AttributeError(f"the calibration record has no attribute {name!r}")
        value = self[name]
        if name == "date":
            return _parse_date(value) or value
        if name == "parameters":
            return [CalibrationRecord(parameter) for parameter in value]
        return value


class BackendProperties:
    """The calibration document: ``t1(q)``, ``t2(q)``, ``frequency(q)``, ``readout_error(q)``,
    ``gate_error(gate, qubits)``, ``gate_length(gate, qubits)``, ``last_update_date``.

    Times are in seconds and frequencies in hertz, as the official ``BackendProperties`` gives
    them; an unknown qubit, gate or parameter raises :class:`InvalidInputError` (a ``ValueError``,
    like the official ``BackendPropertyError``).
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._document = dict(document)
        self.backend_name: str = str(document.get("backend_name", ""))
        self.backend_version: str = str(document.get("backend_version", ""))
        self.last_update_date: datetime.datetime | None = _parse_date(
            document.get("last_update_date")
        )
        self.qubits: list[list[CalibrationRecord]] = [
            [CalibrationRecord(r) for r in q] for q in document.get("qubits", [])
        ]
        self.gates: list[CalibrationRecord] = [
            CalibrationRecord(g) for g in document.get("gates", [])
        ]
        self.general: list[CalibrationRecord] = [
            CalibrationRecord(r) for r in document.get("general", [])
        ]
        self._gates: dict[tuple[str, tuple[int, ...]], dict[str, tuple[float, str]]] = {}
        for gate in self.gates:
            key = (str(gate.get("gate")), tuple(int(q) for q in gate.get("qubits", [])))
            self._gates[key] = {
                p["name"]: (float(p["value"]), str(p.get("unit", "")))
                for p in gate.get("parameters", [])
            }

    def qubit_property(self, qubit: int, name: str | None = None) -> Any:
        """``{name: (value in SI units, date)}`` of ``qubit``, or one ``(value, date)``."""
        if not 0 <= qubit < len(self.qubits):
            raise InvalidInputError(f"no calibration for qubit {qubit}")
        records = {
            r["name"]: (
                _si_value(float(r["value"]), str(r.get("unit", ""))),
                _parse_date(r.get("date")),
            )
            for r in self.qubits[qubit]
        }
        if name is None:
            return records
        if name not in records:
            raise InvalidInputError(f"qubit {qubit} has no calibrated {name!r}")
        return records[name]

    def _qubit_value(self, qubit: int, name: str) -> float:
        value: float = self.qubit_property(qubit, name)[0]
        return value

    def t1(self, qubit: int) -> float:
        """T1 of ``qubit`` in seconds."""
        return self._qubit_value(qubit, "T1")

    def t2(self, qubit: int) -> float:
        """T2 of ``qubit`` in seconds."""
        return self._qubit_value(qubit, "T2")

    def frequency(self, qubit: int) -> float:
        """The frequency of ``qubit`` in hertz."""
        return self._qubit_value(qubit, "frequency")

    def readout_error(self, qubit: int) -> float:
        return self._qubit_value(qubit, "readout_error")

    def readout_length(self, qubit: int) -> float:
        """The readout length of ``qubit`` in seconds."""
        return self._qubit_value(qubit, "readout_length")

    def gate_property(
        self, gate: str, qubits: int | Iterable[int] | None = None, name: str | None = None
    ) -> Any:
        """``{qubits: {name: (value, unit)}}`` of ``gate``, narrowed by ``qubits`` and ``name``."""
        found = {q: params for (g, q), params in self._gates.items() if g == gate}
        if not found:
            raise InvalidInputError(f"no calibration for gate {gate!r}")
        if qubits is None:
            return found
        key = (qubits,) if isinstance(qubits, int) else tuple(qubits)
        if key not in found:
            raise InvalidInputError(f"no calibration for gate {gate!r} on qubits {list(key)}")
        if name is None:
            return found[key]
        if name not in found[key]:
            raise InvalidInputError(f"gate {gate!r} on {list(key)} has no calibrated {name!r}")
        return found[key][name]

    def gate_error(self, gate: str, qubits: int | Iterable[int]) -> float:
        value, _unit = self.gate_property(gate, qubits, "gate_error")
        return float(value)

    def gate_length(self, gate: str, qubits: int | Iterable[int]) -> float:
        """The duration of ``gate`` on ``qubits`` in seconds."""
        value, unit = self.gate_property(gate, qubits, "gate_length")
        return _si_value(float(value), str(unit))

    def is_qubit_operational(self, qubit: int) -> bool:
        records = self.qubit_property(qubit)
        return bool(records["operational"][0]) if "operational" in records else True

    def is_gate_operational(self, gate: str, qubits: int | Iterable[int]) -> bool:
        params = self.gate_property(gate, qubits)
        return bool(params["operational"][0]) if "operational" in params else True

    def faulty_qubits(self) -> list[int]:
        return [q for q in range(len(self.qubits)) if not self.is_qubit_operational(q)]

    def faulty_gates(self) -> list[tuple[str, tuple[int, ...]]]:
        """``(gate, qubits)`` of every gate calibrated as not operational."""
        return [
            key
            for key, params in self._gates.items()
            if "operational" in params and not params["operational"][0]
        ]

    def to_dict(self) -> dict[str, Any]:
        """The document as the service sent it (a copy)."""
        return dict(self._document)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BackendProperties):
            return self._document == other._document
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"<BackendProperties backend_name={self.backend_name!r} "
            f"last_update_date={self.last_update_date!r}>"
        )


def _parse_date(value: object) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        # Python 3.10's fromisoformat does not take a trailing "Z".
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
