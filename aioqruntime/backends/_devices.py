"""Generated devices for the local server: Runtime configuration/properties JSON with seeded,
realistic calibration data.

The documents have the exact wire shapes of IBM's service (official-client.md §5): times in ns/µs,
frequencies in GHz, dates as ISO-8601 strings, calibration values as Nduv records. Generation
uses ``random.Random(spec.seed)`` only, so a spec always yields the same device.
"""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.backends._topology import TOPOLOGY_SIZES, Topology, undirected_edges

if TYPE_CHECKING:
    from aioqruntime.backends._backend import RuntimeBackend

__all__ = [
    "Device",
    "DeviceSpec",
    "TwoQubitGate",
    "calibration_id_of",
    "default_devices",
    "generate_device",
    "mock_device",
]

TwoQubitGate = Literal["cz", "ecr", "cx"]
"""``cz`` (Heron-like, both directions calibrated), ``ecr`` (Eagle/Falcon-like, one direction per
pair) or ``cx`` (simulators)."""

CONTROL_FLOW_INSTRUCTIONS = ("if_else", "while_loop", "for_loop", "switch_case")
_DIRECTED_GATES = frozenset({"ecr"})

# The OpenQASM 2 definitions IBM publishes in ``gates[].qasm_def``; the client never parses them.
_QASM_DEFINITIONS = {
    "id": "gate id q { U(0, 0, 0) q; }",
    "rz": "gate rz(theta) q { U(0, 0, theta) q; }",
    "sx": "gate sx q { U(pi/2, 3*pi/2, pi/2) q; }",
    "x": "gate x q { U(pi, 0, pi) q; }",
    "rx": "gate rx(theta) q { U(theta, 3*pi/2, pi/2) q; }",
    "cx": "gate cx q0, q1 { CX q0, q1; }",
    "cz": "gate cz q0, q1 { h q1; cx q0, q1; h q1; }",
    "ecr": "gate ecr q0, q1 { rzx(pi/4) q0, q1; x q0; rzx(-pi/4) q0, q1; }",
    "rzz": "gate rzz(theta) q0, q1 { cx q0, q1; rz(theta) q1; cx q0, q1; }",
}
_GATE_PARAMETERS = {"rz": ["theta"], "rx": ["theta"], "rzz": ["theta"]}


@dataclass(frozen=True)
class _Family:
    """Pulse-level facts shared by one kind of processor."""

    dt_ns: float
    two_qubit_length_ns: tuple[float, float]


# Heron-like (cz) devices run at dt = 0.5 ns, Eagle/Falcon-like (ecr) at 2/9 ns. Every pulse is a
# whole number of 16-sample chunks (timing_constraints below), so lengths are quantised to it.
_FAMILIES: dict[str, _Family] = {
    "cz": _Family(dt_ns=0.5, two_qubit_length_ns=(68.0, 100.0)),
    "ecr": _Family(dt_ns=2 / 9, two_qubit_length_ns=(300.0, 660.0)),
    "cx": _Family(dt_ns=2 / 9, two_qubit_length_ns=(300.0, 660.0)),
}
_TIMING_CONSTRAINTS = {
    "acquire_alignment": 16,
    "granularity": 16,
    "min_length": 64,
    "pulse_alignment": 16,
}


@dataclass(frozen=True)
class DeviceSpec:
    """What to generate. ``basis_gates`` defaults to ``[two_qubit_gate, id, rz, sx, x]``
    (plus ``rx``/``rzz`` with ``fractional_gates``)."""

    name: str
    num_qubits: int
    two_qubit_gate: TwoQubitGate = "cz"
    topology: Topology = "line"
    seed: int = 0
    simulator: bool = False
    processor_family: str | None = "Heron"
    processor_revision: str = "r2"
    fractional_gates: bool = False
    faulty_qubits: tuple[int, ...] = ()
    faulty_edges: tuple[tuple[int, int], ...] = ()
    max_shots: int = 100_000
    backend_version: str = "1.0.0"
    online_date: str = "2024-01-01T00:00:00+00:00"
    calibrated_at: str = "2026-01-01T00:00:00+00:00"
    description: str = ""

    def __post_init__(self) -> None:
        if self.num_qubits < 1:
            raise InvalidInputError(f"device {self.name!r}: num_qubits must be positive")
        size = TOPOLOGY_SIZES.get(self.topology)
        if size is not None and size != self.num_qubits:
            raise InvalidInputError(
                f"device {self.name!r}: topology {self.topology!r} has {size} qubits, "
                f"not {self.num_qubits}"
            )
        if self.two_qubit_gate not in _FAMILIES:
            raise InvalidInputError(f"device {self.name!r}: unknown gate {self.two_qubit_gate!r}")
        if any(not 0 <= q < self.num_qubits for q in self.faulty_qubits):
            raise InvalidInputError(f"device {self.name!r}: faulty qubit out of range")
        if self.simulator and (self.faulty_qubits or self.faulty_edges):
            raise InvalidInputError(f"device {self.name!r}: simulators have no faulty parts")

    @property
    def basis_gates(self) -> list[str]:
        extra = ["rx", "rzz"] if self.fractional_gates else []
        return sorted([self.two_qubit_gate, "id", "rz", "sx", "x", *extra])


@dataclass(frozen=True)
class Device:
    """A generated device: the JSON documents the local server serves for it.

    ``configuration`` and ``properties`` are the bodies of ``GET /backends/{name}/configuration``
    and ``.../properties`` (``properties`` is ``None`` for simulators). ``list_entry_extra`` holds
    the fields of its ``GET /backends`` item other than ``name``, ``status`` and ``queue_length``,
    which the server owns. Treat the dicts as read-only (copy before changing them).
    """

    spec: DeviceSpec
    # Dicts cannot be hashed: a device hashes by its spec (which determines the documents).
    configuration: dict[str, Any] = field(repr=False, hash=False)
    properties: dict[str, Any] | None = field(repr=False, hash=False)
    list_entry_extra: dict[str, Any] = field(repr=False, hash=False)

    @property
    def name(self) -> str:
        return self.spec.name

    def backend(self) -> RuntimeBackend:
        """This device as a :class:`RuntimeBackend`, to transpile for it or build a noise model."""
        from aioqruntime.backends._backend import RuntimeBackend

        return RuntimeBackend(
            self.configuration,
            self.properties,
            list_entry={"name": self.name, **self.list_entry_extra},
        )


def default_devices() -> list[Device]:
    """The devices the local server offers unless told otherwise."""
    specs = [
        DeviceSpec(
            name="ibm_local5",
            num_qubits=5,
            two_qubit_gate="cz",
            topology="t",
            seed=5,
            processor_family="Heron",
            processor_revision="r2",
            description="5-qubit Heron-like device (cz) of the aioqruntime local server",
        ),
        DeviceSpec(
            name="ibm_local27",
            num_qubits=27,
            two_qubit_gate="ecr",
            topology="falcon27",
            seed=27,
            processor_family="Falcon",
            processor_revision="r5.11",
            description="27-qubit heavy-hex Falcon-like device (ecr), aioqruntime local server",
        ),
        DeviceSpec(
            name="ibm_local127",
            num_qubits=127,
            two_qubit_gate="cz",
            topology="eagle127",
            seed=127,
            processor_family="Eagle",
            processor_revision="r3",
            description="127-qubit heavy-hex Eagle-like device (cz), aioqruntime local server",
        ),
        DeviceSpec(
            name="ibm_local_simulator",
            num_qubits=32,
            two_qubit_gate="cx",
            topology="none",
            seed=0,
            simulator=True,
            processor_family=None,
            description="32-qubit ideal simulator of the aioqruntime local server",
        ),
    ]
    return [generate_device(spec) for spec in specs]


def mock_name(name: str) -> str:
    """The service's mock twin of a device: its first ``_`` token becomes ``mock``."""
    rest = name.split("_", 1)[1] if "_" in name else name
    return f"mock_{rest}"


def mock_device(device: Device) -> Device | None:
    """The mock (dry-run) twin of a real device (``ibm_local5`` -> ``mock_local5``).

    Same configuration and calibration under the mock name, ``class: "mock"`` in its list
    entry; ``None`` for a simulator (the service has no mock of those).
    """
    if device.spec.simulator or device.name.startswith("mock_"):
        return None
    name = mock_name(device.name)
    configuration = {**device.configuration, "backend_name": name}
    properties = {**device.properties, "backend_name": name} if device.properties else None
    extra = {**device.list_entry_extra, "class": "mock"}
    return Device(dataclasses.replace(device.spec, name=name), configuration, properties, extra)


def calibration_id_of(properties: Mapping[str, Any] | None, name: str) -> str | None:
    """The id the local server gives a device's (one) calibration; ``None`` without one."""
    if not properties:
        return None
    stamp = "".join(ch for ch in str(properties.get("last_update_date", "")) if ch.isdigit())
    return f"{name}-{stamp[:14]}"


def generate_device(spec: DeviceSpec) -> Device:
    """The configuration, properties and list-entry documents of ``spec``; deterministic."""
    rng = random.Random(spec.seed)
    family = _FAMILIES[spec.two_qubit_gate]
    edges = _directed_edges(spec, rng)
    basis = spec.basis_gates
    two_qubit_names = [g for g in basis if g in {"cz", "ecr", "cx", "rzz"}]
    single_qubit_names = [g for g in basis if g not in two_qubit_names]

    singles = [[q] for q in range(spec.num_qubits)]
    gate_entries: list[dict[str, Any]] = []
    for name in basis:
        entry: dict[str, Any] = {
            "name": name,
            "parameters": list(_GATE_PARAMETERS.get(name, [])),
            "qasm_def": _QASM_DEFINITIONS[name],
        }
        couplings = singles if name in single_qubit_names else [list(e) for e in edges]
        if couplings:  # a simulator without topology accepts the gate on any qubits
            entry["coupling_map"] = couplings
        gate_entries.append(entry)

    configuration: dict[str, Any] = {
        "backend_name": spec.name,
        "backend_version": spec.backend_version,
        "n_qubits": spec.num_qubits,
        "basis_gates": basis,
        "gates": gate_entries,
        "local": False,
        "simulator": spec.simulator,
        "conditional": False,
        "open_pulse": False,
        "memory": True,
        "max_shots": spec.max_shots,
        "max_experiments": 300,
        "coupling_map": [list(e) for e in edges],
        "supported_instructions": [*basis, "measure", "delay", "reset", *CONTROL_FLOW_INSTRUCTIONS],
        # Control flow (if_else...) is supported everywhere: "dynamic_circuits" on real devices.
        "supported_features": ["qasm3"] if spec.simulator else ["qasm3", "dynamic_circuits"],
        "dynamic_reprate_enabled": True,
        "rep_delay_range": [0.0, 500.0],
        "default_rep_delay": 250.0,
        "meas_levels": [1, 2],
        "meas_map": [list(range(spec.num_qubits))],
        "n_registers": 1,
        "online_date": spec.online_date,
        "description": spec.description,
    }
    list_entry: dict[str, Any] = {
        "is_simulator": spec.simulator,
        "qubits": spec.num_qubits,
        "physical_qubits": spec.num_qubits,
    }
    if spec.simulator:
        return Device(spec, configuration, None, list_entry)

    configuration.update(
        {
            "dt": family.dt_ns,
            "dtm": family.dt_ns,
            "timing_constraints": dict(_TIMING_CONSTRAINTS),
        }
    )
    processor_type = {
        "family": spec.processor_family or "Unknown",
        "revision": spec.processor_revision,
    }
    configuration["processor_type"] = processor_type
    properties = _properties(spec, rng, family, single_qubit_names, two_qubit_names, edges)
    list_entry.update(
        {
            "processor_type": dict(processor_type),
            "clops": {"type": "hardware", "value": 5000 if spec.two_qubit_gate == "cz" else 2500},
            "performance_metrics": _performance_metrics(properties, two_qubit_names),
        }
    )
    return Device(spec, configuration, properties, list_entry)


def _directed_edges(spec: DeviceSpec, rng: random.Random) -> list[tuple[int, int]]:
    """Calibrated two-qubit directions: both for symmetric gates, one (seeded) for ``ecr``."""
    directed: list[tuple[int, int]] = []
    for a, b in undirected_edges(spec.topology, spec.num_qubits):
        if spec.two_qubit_gate in _DIRECTED_GATES:
            directed.append((a, b) if rng.random() < 0.5 else (b, a))
        else:
            directed.extend([(a, b), (b, a)])
    return directed


def _quantised(rng: random.Random, low_ns: float, high_ns: float, dt_ns: float) -> float:
    """A pulse length in [low, high] ns that is a whole number of 16-sample chunks."""
    chunk = _TIMING_CONSTRAINTS["granularity"] * dt_ns
    return rng.randint(math.ceil(low_ns / chunk), math.floor(high_ns / chunk)) * chunk


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return _round_significant(math.exp(rng.uniform(math.log(low), math.log(high))))


def _round_significant(value: float, digits: int = 4) -> float:
    return float(f"{value:.{digits}g}")


def _nduv(date: str, name: str, unit: str, value: float) -> dict[str, Any]:
    return {"date": date, "name": name, "unit": unit, "value": value}


def _qubit_records(
    spec: DeviceSpec, rng: random.Random, date: str, readout_length: float
) -> list[list[dict[str, Any]]]:
    """The ``qubits`` list: T1, T2, frequency, readout figures per qubit (in this rng order)."""
    qubits: list[list[dict[str, Any]]] = []
    for q in range(spec.num_qubits):
        t1 = round(rng.uniform(100.0, 350.0), 2)
        t2 = round(min(rng.uniform(50.0, 300.0), 2 * t1), 2)  # physics: T2 <= 2 T1
        readout_error = _round_significant(rng.uniform(0.005, 0.03))
        asymmetry = rng.uniform(0.0, 0.6)  # relaxation during readout makes 1 -> 0 more likely
        records = [
            _nduv(date, "T1", "us", t1),
            _nduv(date, "T2", "us", t2),
            _nduv(date, "frequency", "GHz", round(rng.uniform(4.5, 5.3), 6)),
            _nduv(date, "anharmonicity", "GHz", round(rng.uniform(-0.34, -0.30), 6)),
            _nduv(date, "readout_error", "", readout_error),
            _nduv(
                date, "prob_meas0_prep1", "", _round_significant(readout_error * (1 + asymmetry))
            ),
            _nduv(
                date, "prob_meas1_prep0", "", _round_significant(readout_error * (1 - asymmetry))
            ),
            _nduv(date, "readout_length", "ns", readout_length),
        ]
        if q in spec.faulty_qubits:
            records.append(_nduv(date, "operational", "", 0))
        qubits.append(records)
    return qubits


class _GateRecords:
    """The ``gates`` list of a properties document, written one calibrated gate at a time."""

    def __init__(self, spec: DeviceSpec) -> None:
        self.date = spec.calibrated_at
        self.faulty_pairs = {(min(a, b), max(a, b)) for a, b in spec.faulty_edges}
        self.gates: list[dict[str, Any]] = []

    def add(self, name: str, on: tuple[int, ...], error: float | None, length: float) -> None:
        date = self.date
        parameters = [] if error is None else [_nduv(date, "gate_error", "", error)]
        parameters.append(_nduv(date, "gate_length", "ns", length))
        if len(on) == 2 and (min(on), max(on)) in self.faulty_pairs:
            parameters.append(_nduv(date, "operational", "", 0))
        self.gates.append(
            {
                "qubits": list(on),
                "gate": name,
                "name": name + "_".join(map(str, on)),
                "parameters": parameters,
            }
        )


def _pair_calibrations(
    rng: random.Random, family: _Family, edges: list[tuple[int, int]]
) -> dict[tuple[int, int], tuple[float, float]]:
    """(error, length) per undirected pair: both directions of a symmetric gate share one pulse."""
    calibrations: dict[tuple[int, int], tuple[float, float]] = {}
    low, high = family.two_qubit_length_ns
    for a, b in edges:
        pair = (min(a, b), max(a, b))
        if pair not in calibrations:
            calibrations[pair] = (
                _log_uniform(rng, 3e-3, 1.5e-2),
                _quantised(rng, low, high, family.dt_ns),
            )
    return calibrations


def _properties(
    spec: DeviceSpec,
    rng: random.Random,
    family: _Family,
    single_qubit_names: list[str],
    two_qubit_names: list[str],
    edges: list[tuple[int, int]],
) -> dict[str, Any]:
    # The rng is drawn in a fixed order (the documents are deterministic per seed).
    readout_length = _quantised(rng, 1000.0, 1600.0, family.dt_ns)
    single_length = _quantised(rng, 32.0, 60.0, family.dt_ns)
    qubits = _qubit_records(spec, rng, spec.calibrated_at, readout_length)
    gates = _GateRecords(spec)

    single_errors = [_log_uniform(rng, 1e-4, 5e-4) for _ in range(spec.num_qubits)]
    for name in single_qubit_names:
        for q in range(spec.num_qubits):
            if name == "rz":  # a frame change in software: instantaneous and exact
                gates.add(name, (q,), 0.0, 0.0)
            else:
                gates.add(name, (q,), single_errors[q], single_length)

    pair_calibrations = _pair_calibrations(rng, family, edges)
    for name in two_qubit_names:
        for a, b in edges:
            error, length = pair_calibrations[(min(a, b), max(a, b))]
            if name == "rzz":  # a partial entangler: a little better than the full one
                error = _round_significant(error * 0.8)
            gates.add(name, (a, b), error, length)

    # reset = measure + conditional flip; IBM reports only its length. Faulty qubits get no entry:
    # qiskit-ibm-runtime 0.51.0's convert_to_target crashes (TypeError) when the first calibrated
    # qubit of a gate without a `gates[]` coupling map (such as reset) is faulty.
    for q in range(spec.num_qubits):
        if q not in spec.faulty_qubits:
            gates.add("reset", (q,), None, readout_length + single_length)

    return {
        "backend_name": spec.name,
        "backend_version": spec.backend_version,
        "last_update_date": spec.calibrated_at,
        "qubits": qubits,
        "gates": gates.gates,
        "general": [],
    }


def _performance_metrics(properties: dict[str, Any], two_qubit_names: list[str]) -> dict[str, Any]:
    two_qubit_errors = [
        parameter["value"]
        for gate in properties["gates"]
        if gate["gate"] in two_qubit_names
        for parameter in gate["parameters"]
        if parameter["name"] == "gate_error"
    ] or [0.0]
    readout_errors = [
        record["value"]
        for records in properties["qubits"]
        for record in records
        if record["name"] == "readout_error"
    ]
    return {
        "two_q_error_best": min(two_qubit_errors),
        "two_q_error_median": statistics.median(two_qubit_errors),
        "two_q_error_layered": _round_significant(statistics.mean(two_qubit_errors) * 1.5),
        "readout_error_median": statistics.median(readout_errors),
    }
