"""``RuntimeBackend``: a Qiskit ``BackendV2`` for transpiling against a Runtime device."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, NoReturn

from qiskit.providers import BackendV2, Options
from qiskit.transpiler import Target

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

    @classmethod
    def _default_options(cls) -> Options:
        return Options()

    @property
    def configuration(self) -> dict[str, Any]:
        """The configuration document as the service sent it."""
        return self._configuration

    @property
    def properties(self) -> dict[str, Any] | None:
        """The properties (calibration) document as the service sent it, or ``None``."""
        return self._properties

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
