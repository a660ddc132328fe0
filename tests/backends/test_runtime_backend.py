"""RuntimeBackend as a Qiskit BackendV2, and build_target on hand-made documents."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from backends_helpers import load_document
from qiskit import QuantumCircuit
from qiskit.providers import BackendV2, Options
from qiskit.transpiler import generate_preset_pass_manager

from aioqruntime import ProtocolError
from aioqruntime.backends import RuntimeBackend, build_target, default_devices


@pytest.fixture
def local5() -> RuntimeBackend:
    return default_devices()[0].backend()


def test_attributes(local5: RuntimeBackend) -> None:
    device = default_devices()[0]
    assert isinstance(local5, BackendV2)
    assert local5.name == "ibm_local5"
    assert local5.num_qubits == 5
    assert local5.max_circuits is None
    assert local5.configuration().to_dict() == device.configuration
    assert local5.properties().to_dict() == device.properties
    assert local5.is_simulator is False
    assert local5.max_shots == 100_000
    assert local5.backend_version == "1.0.0"
    assert local5.online_date == datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    assert local5.processor_type == {"family": "Heron", "revision": "r2"}
    assert local5.list_entry["qubits"] == 5
    assert local5.meas_map == [[0, 1, 2, 3, 4]]
    assert local5.dt == pytest.approx(0.5e-9)
    assert isinstance(local5.options, Options)
    assert set(local5.coupling_map.get_edges()) == {
        (0, 1), (1, 0), (1, 2), (2, 1), (1, 3), (3, 1), (3, 4), (4, 3),
    }  # fmt: skip
    assert "ibm_local5" in repr(local5)


def test_simulator() -> None:
    simulator = default_devices()[3].backend()
    assert simulator.is_simulator is True
    assert simulator.properties() is None
    assert simulator.num_qubits == 32
    assert simulator.target.qubit_properties is None
    assert simulator.coupling_map is None  # any pair of qubits


def test_run_points_to_the_primitives(local5: RuntimeBackend) -> None:
    with pytest.raises(NotImplementedError, match="AsyncSampler or AsyncEstimator"):
        local5.run(QuantumCircuit(1))


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_preset_pass_managers(local5: RuntimeBackend, level: int) -> None:
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(0, 2)
    circuit.measure_all()
    isa = generate_preset_pass_manager(backend=local5, optimization_level=level).run(circuit)
    assert set(isa.count_ops()) <= set(local5.operation_names) | {"barrier"}


def test_subclass_can_attach_a_service() -> None:
    class ServiceBackend(RuntimeBackend):
        def __init__(self, service: object, **documents: Any) -> None:
            super().__init__(**documents)
            self.service = service

        async def status(self) -> str:
            return "active"

    device = default_devices()[0]
    backend = ServiceBackend(
        "svc", configuration=device.configuration, properties=device.properties
    )
    assert backend.service == "svc" and backend.num_qubits == 5


def test_online_date_with_z_suffix_and_without() -> None:
    configuration = load_document("ibm_stub5_configuration")
    configuration["online_date"] = "2023-05-04T03:02:01Z"
    backend = RuntimeBackend(configuration)
    assert backend.online_date == datetime.datetime(
        2023, 5, 4, 3, 2, 1, tzinfo=datetime.timezone.utc
    )
    del configuration["online_date"]
    assert RuntimeBackend(configuration).online_date is None


def test_a_given_target_is_used_as_is() -> None:
    configuration = load_document("ibm_stub5_configuration")
    target = build_target(configuration, None)
    assert RuntimeBackend(configuration, target=target).target is target


def test_configuration_without_qubit_count_is_refused() -> None:
    configuration = load_document("ibm_stub5_configuration")
    del configuration["n_qubits"]
    with pytest.raises(ProtocolError, match=r"ibm_stub5.*n_qubits"):
        build_target(configuration, None)


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: c.update(gates=[{"name": "cz", "coupling_map": [[0]]}]),  # 1 qubit for cz
        lambda c: c.update(n_qubits="five"),
        lambda c: c.update(instruction_signatures=[{"name": "m2"}]),
    ],
)
def test_malformed_configuration_is_a_protocol_error(damage: Any) -> None:
    configuration = load_document("ibm_stub5_configuration")
    damage(configuration)
    with pytest.raises(ProtocolError):
        build_target(configuration, None)


def test_unknown_instruction_without_definition_is_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    configuration = load_document("ibm_stub5_configuration")
    configuration["basis_gates"].append("mystery")
    target = build_target(configuration, None)
    assert "mystery" not in target.operation_names
    assert "mystery" in caplog.text
