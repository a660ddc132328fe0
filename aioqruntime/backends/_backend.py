"""``RuntimeBackend``: a Qiskit ``BackendV2`` for transpiling against a Runtime device."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, NoReturn

from qiskit.providers import BackendV2, Options
from qiskit.transpiler import Target

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.backends._documents import BackendConfiguration, BackendProperties
from aioqruntime.backends._target import build_target

__all__ = ["RuntimeBackend"]


class RuntimeBackend(BackendV2):  # type: ignore[misc]  # qiskit is untyped
    """A Runtime device as a Qiskit backend: a target to transpile for, and its raw JSON.

    Built from the bodies of ``GET /backends/{name}/configuration`` and ``.../properties``
    (``None`` when the device has no calibration, e.g. simulators) and, optionally, the device's
    entry of ``GET /backends``. Circuits do not run through it: submit them with
    ``AsyncSampler``/``AsyncEstimator``. Subclasses may add service-bound behaviour.
    """

    def __init__(
        self,
        configuration: Mapping[str, Any],
        properties: Mapping[str, Any] | None = None,
        *,
        list_entry: Mapping[str, Any] | None = None,
        include_fractional_gates: bool = True,
        target: Target | None = None,
        provider: Any = None,
        calibration_id: str | None = None,
    ) -> None:
        super().__init__(
            provider=provider,
            name=str(configuration.get("backend_name") or (list_entry or {}).get("name") or ""),
            description=configuration.get("description"),
            online_date=_parse_date(configuration.get("online_date")),
            backend_version=configuration.get("backend_version"),
        )
        self._configuration: dict[str, Any] = dict(configuration)
        self._properties: dict[str, Any] | None = dict(properties) if properties else None
        self._list_entry: dict[str, Any] = dict(list_entry or {})
        self._calibration_id = calibration_id
        self._properties_view: tuple[dict[str, Any], BackendProperties] | None = None
        self._include_fractional_gates = include_fractional_gates
        self._target = (
            target
            if target is not None
            else build_target(
                configuration, properties, include_fractional_gates=include_fractional_gates
            )
        )

    @property
    def target(self) -> Target:
        return self._target

    @property
    def max_circuits(self) -> None:
        return None

    @property
    def dtm(self) -> float:
        """The measurement channel's time step, in seconds (as the official backend)."""
        dtm: float = self.configuration().dtm
        return dtm

    @classmethod
    def _default_options(cls) -> Options:
        return Options()

    #: The official backend warns once about ``id`` gates; ours never does (kept for parity).
    id_warning_issued = False

    def configuration(self) -> BackendConfiguration:
        """The configuration, with the official attribute names (``n_qubits``, ``basis_gates``)."""
        return BackendConfiguration(self._configuration)

    def properties(
        self, refresh: bool = False, datetime: datetime.datetime | None = None
    ) -> BackendProperties | None:
        """The calibration (``t1(q)``, ``gate_error(...)``...), ``None`` for a simulator.

        This is the calibration read when the backend was built; it never does I/O.
        """
        if refresh or datetime is not None:
            raise InvalidInputError(
                "properties(refresh=True / datetime=...) reads the service: write "
                "'await backend.refresh()' then 'backend.properties()', or "
                "'await backend.properties_at(datetime)'"
            )
        document = self._properties
        if not document:
            return None
        # Parsed once per document (a filter may ask every backend for it).
        cached = self._properties_view
        if cached is None or cached[0] is not document:
            cached = self._properties_view = (document, BackendProperties(document))
        return cached[1]

    @property
    def raw_configuration(self) -> dict[str, Any]:
        """The configuration document as the service sent it."""
        return self._configuration

    @property
    def raw_properties(self) -> dict[str, Any] | None:
        """The properties (calibration) document as the service sent it, or ``None``."""
        return self._properties

    @property
    def calibration_id(self) -> str | None:
        """The calibration the backend was built from, when one was asked for."""
        return self._calibration_id

    @property
    def is_mock(self) -> bool:
        """Whether this is a mock (dry-run) device: ``class: "mock"`` in the service's list."""
        return self._list_entry.get("class") == "mock"

    @property
    def physical_qubits(self) -> int | None:
        """Qubits of the physical device (the list entry's ``physical_qubits``)."""
        value = self._list_entry.get("physical_qubits")
        return None if value is None else int(value)

    def get_translation_stage_plugin(self) -> str:
        """Qiskit's default translation (the official names plugins of its own package)."""
        return "default"

    def check_faulty(self, circuit: Any) -> None:
        """Raise :class:`InvalidInputError` if ``circuit`` uses a faulty qubit or edge."""
        properties = self.properties()
        if properties is None:
            return
        faulty_qubits = set(properties.faulty_qubits())
        faulty_edges = {q for gate, q in properties.faulty_gates() if len(q) > 1}
        for instruction in circuit.data:
            if instruction.operation.name == "barrier":
                continue
            qubits = tuple(circuit.find_bit(q).index for q in instruction.qubits)
            for qubit in qubits:
                if qubit in faulty_qubits:
                    raise InvalidInputError(
                        f"Circuit {circuit.name} contains instruction "
                        f"{instruction.operation.name} operating on a faulty qubit {qubit}."
                    )
            if len(qubits) == 2 and qubits in faulty_edges:
                raise InvalidInputError(
                    f"Circuit {circuit.name} contains instruction "
                    f"{instruction.operation.name} operating on a faulty edge {list(qubits)}"
                )

    @property
    def list_entry(self) -> dict[str, Any]:
        """The device's entry in ``GET /backends`` (status, queue length...), if it was given."""
        return self._list_entry

    @property
    def is_simulator(self) -> bool:
        return bool(self._configuration.get("simulator", False))

    @property
    def max_shots(self) -> int | None:
        value = self._configuration.get("max_shots")
        return None if value is None else int(value)

    @property
    def processor_type(self) -> dict[str, Any] | None:
        value = self._configuration.get("processor_type") or self._list_entry.get("processor_type")
        return dict(value) if value else None

    @property
    def meas_map(self) -> list[list[int]]:
        meas_map = self._configuration.get("meas_map")
        if meas_map is None:
            return [[q] for q in range(self.num_qubits)]
        return [list(group) for group in meas_map]

    def run(self, run_input: Any, **options: Any) -> NoReturn:
        raise NotImplementedError(
            f"{type(self).__name__}.run() is not supported: submit circuits with "
            "aioqruntime's AsyncSampler or AsyncEstimator (the Runtime primitives) instead."
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}(name={self.name!r}, num_qubits={self.num_qubits})>"


def _parse_date(value: object) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        # Python 3.10's fromisoformat does not take a trailing "Z".
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
