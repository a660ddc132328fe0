"""The generated device catalogue: wire shapes the official client accepts, realism, determinism."""

from __future__ import annotations

import copy
import json
import statistics
from typing import Any

import pytest
import rustworkx as rx
from qiskit_ibm_runtime.utils.backend_decoder import (
    configuration_from_server_data,
    properties_from_server_data,
)

from aioqruntime import InvalidInputError
from aioqruntime.backends import Device, DeviceSpec, default_devices, generate_device

REQUIRED_CONFIGURATION_KEYS = {
    "backend_name",
    "backend_version",
    "n_qubits",
    "basis_gates",
    "gates",
    "local",
    "simulator",
    "conditional",
    "open_pulse",
    "memory",
    "coupling_map",
    "online_date",
}
DEVICES = {device.name: device for device in default_devices()}


def nduv(records: list[dict[str, Any]], name: str) -> float:
    (value,) = [r["value"] for r in records if r["name"] == name]
    return float(value)


def gate_values(device: Device, gate: str, parameter: str) -> list[float]:
    assert device.properties is not None
    return [
        nduv(entry["parameters"], parameter)
        for entry in device.properties["gates"]
        if entry["gate"] == gate
    ]


def test_default_catalogue() -> None:
    assert list(DEVICES) == ["ibm_local5", "ibm_local27", "ibm_local127", "ibm_local_simulator"]
    shapes = {
        name: (d.configuration["n_qubits"], d.configuration["basis_gates"], d.spec.simulator)
        for name, d in DEVICES.items()
    }
    assert shapes == {
        "ibm_local5": (5, ["cz", "id", "rz", "sx", "x"], False),
        "ibm_local27": (27, ["ecr", "id", "rz", "sx", "x"], False),
        "ibm_local127": (127, ["cz", "id", "rz", "sx", "x"], False),
        "ibm_local_simulator": (32, ["cx", "id", "rz", "sx", "x"], True),
    }
    assert DEVICES["ibm_local_simulator"].properties is None


@pytest.mark.parametrize("name", sorted(DEVICES))
def test_official_decoders_accept_the_documents(name: str) -> None:
    device = DEVICES[name]
    assert device.configuration.keys() >= REQUIRED_CONFIGURATION_KEYS
    configuration = configuration_from_server_data(copy.deepcopy(device.configuration))
    assert configuration is not None
    assert configuration.n_qubits == device.spec.num_qubits
    assert configuration.simulator is device.spec.simulator
    assert configuration.rep_delay_range == [0.0, 500.0e-6]  # sent in µs, read in s
    if device.properties is not None:
        assert "dt" in device.configuration
        assert configuration.dt == pytest.approx(device.configuration["dt"] * 1e-9)
        properties = properties_from_server_data(copy.deepcopy(device.properties))
        assert properties.t1(0) == pytest.approx(nduv(device.properties["qubits"][0], "T1") * 1e-6)
        assert properties.frequency(0) == pytest.approx(
            nduv(device.properties["qubits"][0], "frequency") * 1e9
        )


@pytest.mark.parametrize("name", sorted(DEVICES))
def test_documents_are_plain_json(name: str) -> None:
    device = DEVICES[name]
    documents = [device.configuration, device.properties, device.list_entry_extra]
    assert json.loads(json.dumps(documents)) == documents


def test_generation_is_deterministic() -> None:
    spec = DeviceSpec(name="d", num_qubits=27, two_qubit_gate="ecr", topology="falcon27", seed=4)
    first, second = generate_device(spec), generate_device(spec)
    assert (first.configuration, first.properties) == (second.configuration, second.properties)
    assert [d.properties for d in default_devices()] == [d.properties for d in DEVICES.values()]
    assert first == second and hash(first) == hash(second)
    other = generate_device(DeviceSpec(**{**spec.__dict__, "seed": 5}))
    assert other.properties != first.properties


@pytest.mark.parametrize("name", ["ibm_local5", "ibm_local27", "ibm_local127"])
def test_calibration_is_realistic(name: str) -> None:
    device = DEVICES[name]
    assert device.properties is not None
    qubits = device.properties["qubits"]
    assert len(qubits) == device.spec.num_qubits
    for records in qubits:
        t1, t2 = nduv(records, "T1"), nduv(records, "T2")
        assert 100 <= t1 <= 350 and 50 <= t2 <= 300 and t2 <= 2 * t1
        assert 4.0 < nduv(records, "frequency") < 5.5
        readout = nduv(records, "readout_error")
        assert 0.005 <= readout <= 0.03
        assert nduv(records, "prob_meas0_prep1") >= nduv(records, "prob_meas1_prep0")
        assert 1000 <= nduv(records, "readout_length") <= 1600
    two_qubit, (low, high) = (
        ("ecr", (300, 660)) if device.spec.two_qubit_gate == "ecr" else ("cz", (68, 100))
    )
    assert all(1e-4 <= e <= 5e-4 for e in gate_values(device, "sx", "gate_error"))
    assert all(32 <= t <= 60 for t in gate_values(device, "sx", "gate_length"))
    assert gate_values(device, "sx", "gate_error") == gate_values(device, "x", "gate_error")
    assert set(gate_values(device, "rz", "gate_error")) == {0.0}
    assert set(gate_values(device, "rz", "gate_length")) == {0.0}
    assert all(3e-3 <= e <= 1.5e-2 for e in gate_values(device, two_qubit, "gate_error"))
    assert all(low <= t <= high for t in gate_values(device, two_qubit, "gate_length"))
    # Every pulse is a whole number of 16-sample chunks, as the timing constraints require.
    chunk = 16 * device.configuration["dt"]
    for length in gate_values(device, two_qubit, "gate_length"):
        assert abs(length / chunk - round(length / chunk)) < 1e-9


def undirected_graph(pairs: list[list[int]], num_qubits: int) -> rx.PyGraph:
    graph = rx.PyGraph()
    graph.add_nodes_from(range(num_qubits))
    graph.add_edges_from_no_data(sorted({(min(a, b), max(a, b)) for a, b in pairs}))
    return graph


@pytest.mark.parametrize(
    ("name", "edges"), [("ibm_local5", 4), ("ibm_local27", 28), ("ibm_local127", 144)]
)
def test_heavy_hex_like_coupling(name: str, edges: int) -> None:
    device = DEVICES[name]
    graph = undirected_graph(device.configuration["coupling_map"], device.spec.num_qubits)
    assert graph.num_edges() == edges
    assert rx.is_connected(graph)
    assert max(graph.degree(q) for q in graph.node_indices()) == 3
    if name != "ibm_local5":  # heavy-hex: bipartite, 2 (Falcon) or 18 (Eagle) independent cycles
        assert rx.is_bipartite(graph)
        assert graph.num_edges() - graph.num_nodes() + 1 == {27: 2, 127: 18}[graph.num_nodes()]


def test_gate_directions() -> None:
    cz = {tuple(p) for p in DEVICES["ibm_local5"].configuration["coupling_map"]}
    assert all((b, a) in cz for a, b in cz)
    ecr = [tuple(p) for p in DEVICES["ibm_local27"].configuration["coupling_map"]]
    assert len({(min(a, b), max(a, b)) for a, b in ecr}) == len(ecr)  # one direction per pair
    assert {a < b for a, b in ecr} == {True, False}  # and not always the same way round
    (ecr_entry,) = [g for g in DEVICES["ibm_local27"].configuration["gates"] if g["name"] == "ecr"]
    assert sorted(map(tuple, ecr_entry["coupling_map"])) == sorted(ecr)


def test_list_entry_extra() -> None:
    extra = DEVICES["ibm_local27"].list_entry_extra
    assert extra["qubits"] == extra["physical_qubits"] == 27
    assert extra["is_simulator"] is False
    assert extra["processor_type"] == {"family": "Falcon", "revision": "r5.11"}
    metrics = extra["performance_metrics"]
    assert metrics["two_q_error_best"] <= metrics["two_q_error_median"]
    assert 0.005 <= metrics["readout_error_median"] <= 0.03
    assert (
        statistics.median(gate_values(DEVICES["ibm_local27"], "ecr", "gate_error"))
        == (metrics["two_q_error_median"])
    )
    simulator = DEVICES["ibm_local_simulator"].list_entry_extra
    assert simulator == {"is_simulator": True, "qubits": 32, "physical_qubits": 32}


@pytest.mark.parametrize(
    "arguments",
    [
        {"num_qubits": 0},
        {"num_qubits": 26, "topology": "falcon27"},
        {"num_qubits": 5, "faulty_qubits": (5,)},
        {"num_qubits": 5, "simulator": True, "faulty_qubits": (1,)},
        {"num_qubits": 5, "two_qubit_gate": "iswap"},
    ],
)
def test_invalid_specs_are_refused(arguments: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        DeviceSpec(name="bad", **arguments)
