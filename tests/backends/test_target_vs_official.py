"""Our targets against the ones qiskit-ibm-runtime 0.51.0 builds from the same JSON.

Same instruction set, same qubit tuples, same errors/durations, same qubit properties, and the
circuits our backend transpiles pass the official ISA check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from backends_helpers import load_document, official_target, stub5e_properties
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit
from qiskit.circuit import Qubit
from qiskit.circuit.library import RZZGate, real_amplitudes
from qiskit.converters import dag_to_circuit
from qiskit.quantum_info import Operator
from qiskit.transpiler import Target, generate_preset_pass_manager
from qiskit_ibm_runtime.utils.validations import validate_isa_circuits

from aioqruntime.backends import (
    DeviceSpec,
    RuntimeBackend,
    build_target,
    default_devices,
    generate_device,
)
from aioqruntime.backends._rzz import fold_rzz_angle

DATE = "2026-01-01T00:00:00+00:00"
Documents = tuple[dict[str, Any], dict[str, Any] | None]


def _recorded(name: str, properties: dict[str, Any] | None) -> Documents:
    return load_document(f"{name}_configuration"), properties


def _generated(spec: DeviceSpec) -> Documents:
    device = generate_device(spec)
    return device.configuration, device.properties


def _default(name: str) -> Documents:
    (device,) = [d for d in default_devices() if d.name == name]
    return device.configuration, device.properties


def _odd_units() -> Documents:
    """stub5 with times and frequencies in other SI prefixes, and a gap in the calibration."""
    configuration, properties = _recorded("ibm_stub5", load_document("ibm_stub5_properties"))
    assert properties is not None
    rescale = {"T1": ("ms", 1e-3), "frequency": ("MHz", 1e3), "readout_length": ("us", 1e-3)}
    for records in properties["qubits"]:
        for record in records:
            if record["name"] in rescale:
                unit, factor = rescale[record["name"]]
                record["unit"], record["value"] = unit, record["value"] * factor
    for gate in properties["gates"]:
        for parameter in gate["parameters"]:
            if parameter["name"] == "gate_length" and gate["gate"] == "cz":
                parameter["unit"], parameter["value"] = "us", parameter["value"] / 1000
    # sx on qubit 3 not calibrated (ideal there), cz (3, 4) without an error figure.
    properties["gates"] = [g for g in properties["gates"] if g["name"] != "sx3"]
    for gate in properties["gates"]:
        if gate["name"] == "cz3_4":
            gate["parameters"] = [p for p in gate["parameters"] if p["name"] != "gate_error"]
    return configuration, properties


def _custom_instructions() -> Documents:
    """A gate Qiskit does not know (defined only by ``gates[]``) and an instruction signature."""
    configuration, properties = _recorded("ibm_stub5", load_document("ibm_stub5_properties"))
    assert properties is not None
    configuration["basis_gates"].append("zxrot")
    configuration["gates"].append(
        {
            "name": "zxrot",
            "parameters": ["alpha", "beta"],
            "qasm_def": "gate zxrot(alpha, beta) q0, q1 { }",
            "coupling_map": [[0, 1], [1, 2]],
        }
    )
    properties["gates"].append(
        {
            "qubits": [0, 1],
            "gate": "zxrot",
            "name": "zxrot0_1",
            "parameters": [
                {"date": DATE, "name": "gate_error", "unit": "", "value": 0.01},
                {"date": DATE, "name": "gate_length", "unit": "ns", "value": 90},
            ],
        }
    )
    configuration["instruction_signatures"] = [
        {"name": "measure_2", "num_qubits": 1, "num_clbits": 2, "parameters": []}
    ]
    return configuration, properties


# Every case is built lazily so that a failing generator fails only its own tests.
CASES: dict[str, Callable[[], Documents]] = {
    "stub5": lambda: _recorded("ibm_stub5", load_document("ibm_stub5_properties")),
    "stub5-no-properties": lambda: _recorded("ibm_stub5", None),
    "stub5e": lambda: _recorded("ibm_stub5e", stub5e_properties()),
    "stub5e-no-properties": lambda: _recorded("ibm_stub5e", None),
    "local5-cz": lambda: _default("ibm_local5"),
    "local27-ecr": lambda: _default("ibm_local27"),
    "simulator": lambda: _default("ibm_local_simulator"),
    "ecr-line-faulty": lambda: _generated(
        DeviceSpec(
            name="faulty7",
            num_qubits=7,
            two_qubit_gate="ecr",
            topology="line",
            seed=3,
            faulty_qubits=(6,),
            faulty_edges=((4, 5),),
        )
    ),
    "odd-units": _odd_units,
    "custom-instructions": _custom_instructions,
    "cz-fractional": lambda: _generated(
        DeviceSpec(name="frac5", num_qubits=5, topology="t", seed=9, fractional_gates=True)
    ),
}
CONTROL_FLOW = {"if_else", "while_loop", "for_loop", "switch_case"}


def assert_same_target(ours: Target, theirs: Target) -> None:
    assert ours.num_qubits == theirs.num_qubits
    assert ours.dt == theirs.dt
    assert (ours.granularity, ours.min_length, ours.pulse_alignment, ours.acquire_alignment) == (
        theirs.granularity,
        theirs.min_length,
        theirs.pulse_alignment,
        theirs.acquire_alignment,
    )
    assert set(ours.operation_names) == set(theirs.operation_names)
    for name in ours.operation_names:
        our_op, their_op = ours.operation_from_name(name), theirs.operation_from_name(name)
        if name in CONTROL_FLOW:
            assert our_op is their_op  # both register the class itself
            continue
        assert (our_op.name, our_op.num_qubits, len(our_op.params)) == (
            their_op.name,
            their_op.num_qubits,
            len(their_op.params),
        )
        our_map, their_map = ours[name], theirs[name]
        assert set(our_map) == set(their_map), name
        for qubits, our_props in our_map.items():
            their_props = their_map[qubits]
            if our_props is None or their_props is None:
                assert our_props is their_props is None, (name, qubits)
            else:
                assert (our_props.error, our_props.duration) == (
                    their_props.error,
                    their_props.duration,
                ), (name, qubits)
    if theirs.qubit_properties is None:
        assert ours.qubit_properties is None
    else:
        assert [(q.t1, q.t2, q.frequency) for q in ours.qubit_properties] == [
            (q.t1, q.t2, q.frequency) for q in theirs.qubit_properties
        ]
    assert ours.has_angle_bounds() == theirs.has_angle_bounds()
    if ours.has_angle_bounds():
        assert ours.gate_has_angle_bounds("rzz") and theirs.gate_has_angle_bounds("rzz")


@pytest.mark.parametrize("case", sorted(CASES))
def test_target_matches_the_official_target(case: str) -> None:
    configuration, properties = CASES[case]()
    assert_same_target(
        build_target(configuration, properties), official_target(configuration, properties)
    )


@pytest.mark.parametrize("case", ["cz-fractional", "local5-cz"])
def test_without_fractional_gates_matches_the_official_default(case: str) -> None:
    configuration, properties = CASES[case]()
    ours = build_target(configuration, properties, include_fractional_gates=False)
    assert not {"rx", "rzz"} & set(ours.operation_names)
    assert_same_target(ours, official_target(configuration, properties, use_fractional_gates=False))


def test_faulty_parts_are_left_out() -> None:
    configuration, properties = CASES["ecr-line-faulty"]()
    target = build_target(configuration, properties)
    assert (6,) not in target["measure"] and (6,) not in target["sx"]
    assert not any(6 in qubits for qubits in target["ecr"])
    assert not {(4, 5), (5, 4)} & set(target["ecr"])
    assert (5,) in target["measure"]
    assert target.qubit_properties[6].t1 is not None  # still described, just not usable


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def ghz(num_qubits: int) -> QuantumCircuit:
    circuit = QuantumCircuit(num_qubits)
    circuit.h(0)
    for qubit in range(num_qubits - 1):
        circuit.cx(qubit, qubit + 1)
    circuit.measure_all()
    return circuit


def ansatz(num_qubits: int) -> QuantumCircuit:
    circuit = real_amplitudes(num_qubits, reps=2, entanglement="linear")
    circuit.measure_all()
    return circuit


def dynamic() -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.measure(0, 0)
    with circuit.if_test((circuit.clbits[0], 1)):
        circuit.x(1)
    circuit.measure(1, 1)
    return circuit


@pytest.mark.parametrize("case", sorted(CASES))
def test_transpiled_circuits_pass_the_official_isa_check(case: str) -> None:
    configuration, properties = CASES[case]()
    backend = RuntimeBackend(configuration, properties)
    circuits = [bell(), ghz(min(5, backend.num_qubits)), ansatz(min(4, backend.num_qubits))]
    if set(backend.operation_names) >= CONTROL_FLOW:
        circuits.append(dynamic())
    manager = generate_preset_pass_manager(backend=backend, optimization_level=2, seed_transpiler=7)
    isa_circuits = manager.run(circuits)
    validate_isa_circuits(isa_circuits, official_target(configuration, properties))


def test_127_qubit_device_matches_and_transpiles() -> None:
    configuration, properties = _default("ibm_local127")
    theirs = official_target(configuration, properties)
    backend = RuntimeBackend(configuration, properties)
    assert_same_target(backend.target, theirs)
    manager = generate_preset_pass_manager(backend=backend, optimization_level=1, seed_transpiler=7)
    validate_isa_circuits([manager.run(ghz(12))], theirs)


def test_rzz_angles_are_folded_into_the_calibrated_range() -> None:
    from qiskit.primitives.containers.sampler_pub import SamplerPub
    from qiskit_ibm_runtime.utils.validations import validate_rzz_pubs

    configuration, properties = CASES["cz-fractional"]()
    backend = RuntimeBackend(configuration, properties)
    circuit = QuantumCircuit(2)
    for angle in (-2.5, -0.4, 0.3, 2.0, 3.0, 7.5):
        circuit.rzz(angle, 0, 1)
    manager = generate_preset_pass_manager(
        backend=backend, optimization_level=0, initial_layout=[0, 1]
    )
    isa = manager.run(circuit)
    rzz_angles = [float(i.operation.params[0]) for i in isa.data if i.operation.name == "rzz"]
    assert rzz_angles and all(0 <= a <= math.pi / 2 for a in rzz_angles)
    validate_rzz_pubs([SamplerPub.coerce(isa)])
    validate_isa_circuits([isa], official_target(configuration, properties))


@given(st.floats(min_value=-50, max_value=50, allow_nan=False))
def test_rzz_folding_is_exact(angle: float) -> None:
    folded = dag_to_circuit(fold_rzz_angle([angle], [Qubit(), Qubit()]))
    assert {i.operation.name for i in folded.data} <= {"rzz", "rz", "x"}
    for instruction in folded.data:
        if instruction.operation.name == "rzz":
            assert 0 <= float(instruction.operation.params[0]) <= math.pi / 2
    # Equal as matrices, global phase included.
    assert np.allclose(Operator(folded).data, Operator(RZZGate(angle)).data, atol=1e-9)


def test_units_are_converted_to_seconds_and_hertz() -> None:
    target = build_target(*_odd_units())
    qubit = target.qubit_properties[0]
    assert qubit.t1 == pytest.approx(100e-6) and qubit.t2 == pytest.approx(80e-6)
    assert qubit.frequency == pytest.approx(5e9)
    assert target["measure"][(0,)].duration == pytest.approx(1e-6)
    assert target["sx"][(0,)].duration == pytest.approx(36e-9)
    assert target["sx"][(3,)] is None  # not calibrated: ideal
    assert target["cz"][(3, 4)].error is None
    assert target["rz"][(0,)].duration == 0.0
    assert target.dt == pytest.approx(0.5e-9)


@st.composite
def device_specs(draw: st.DrawFn) -> DeviceSpec:
    num_qubits = draw(st.integers(min_value=2, max_value=7))
    faulty_qubits = draw(st.lists(st.integers(0, num_qubits - 1), max_size=2, unique=True))
    return DeviceSpec(
        name="drawn",
        num_qubits=num_qubits,
        two_qubit_gate=draw(st.sampled_from(["cz", "ecr"])),
        topology=draw(st.sampled_from(["line", "all_to_all"])),
        seed=draw(st.integers(0, 2**32)),
        fractional_gates=draw(st.booleans()),
        faulty_qubits=tuple(faulty_qubits),
        faulty_edges=((0, 1),) if draw(st.booleans()) else (),
    )


@settings(max_examples=30, deadline=None)
@given(device_specs(), st.booleans())
def test_any_generated_device_matches_the_official_target(
    spec: DeviceSpec, fractional: bool
) -> None:
    device = generate_device(spec)
    assert_same_target(
        build_target(device.configuration, device.properties, include_fractional_gates=fractional),
        official_target(device.configuration, device.properties, use_fractional_gates=fractional),
    )
