"""The QPY cache: hits for an unchanged circuit, never stale bytes after a mutation."""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Callable

import numpy as np
import pytest
from qiskit.circuit import (
    ClassicalRegister,
    Gate,
    Parameter,
    QuantumCircuit,
    QuantumRegister,
)
from qiskit.circuit.library import CZGate, RXGate, real_amplitudes
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.transpiler import generate_preset_pass_manager
from qiskit.transpiler.coupling import CouplingMap

from aioqruntime.codec import clear_qpy_cache, encode_sampler_pubs, loads, qpy_cache_info
from aioqruntime.codec._qpy import _dump_circuit, encode_circuit


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_qpy_cache()


def _ansatz() -> QuantumCircuit:
    qc = real_amplitudes(4, reps=2).decompose()
    qc.measure_all()
    qc.metadata = {"tag": {"depth": [1, 2]}}
    return qc


def test_hit_for_unchanged_circuit() -> None:
    qc = _ansatz()
    rng = np.random.default_rng(0)
    first = encode_sampler_pubs([SamplerPub.coerce((qc, rng.random(qc.num_parameters)))])
    for _ in range(5):
        again = encode_sampler_pubs([SamplerPub.coerce((qc, rng.random(qc.num_parameters)))])
        assert again[0][0] == first[0][0]
    info = qpy_cache_info()
    # The first sighting is only remembered; the second is fingerprinted and cached.
    assert info["misses"] == 2
    assert info["hits"] == 4


def _set_data(qc: QuantumCircuit, index: int, gate: Gate) -> None:
    qc.data[index] = qc.data[index].replace(operation=gate)


def _custom_gate_circuit() -> QuantumCircuit:
    class Tunable(Gate):
        def __init__(self, angle: float) -> None:
            super().__init__("tunable", 1, [angle])

        def _define(self) -> None:
            qc = QuantumCircuit(1)
            qc.rx(self.params[0], 0)
            self.definition = qc

    qc = QuantumCircuit(1)
    qc.append(Tunable(0.1), [0])
    return qc


def _rx_circuit(angle: float = 0.5) -> QuantumCircuit:
    qc = QuantumCircuit(2, 2, name="rx")
    qc.rx(angle, 0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


MUTATIONS: dict[str, tuple[Callable[[], QuantumCircuit], Callable[[QuantumCircuit], None]]] = {
    "append": (_ansatz, lambda qc: qc.x(0)),
    "pop_then_append_other": (
        _rx_circuit,
        lambda qc: (qc.data.pop(), qc.reset(0)),  # type: ignore[func-returns-value]
    ),
    "replace_gate_param": (_rx_circuit, lambda qc: _set_data(qc, 0, RXGate(0.75))),
    "negate_zero_param": (
        lambda: _rx_circuit(0.0),
        lambda qc: _set_data(qc, 0, RXGate(-0.0)),
    ),
    "replace_gate_kind": (
        _rx_circuit,
        lambda qc: _set_data(qc, 1, CZGate()),
    ),
    "swap_qubits": (
        _rx_circuit,
        lambda qc: qc.data.__setitem__(1, qc.data[1].replace(qubits=qc.qubits[::-1])),
    ),
    "global_phase": (_ansatz, lambda qc: setattr(qc, "global_phase", 0.3)),
    "global_phase_negative_zero": (_ansatz, lambda qc: setattr(qc, "global_phase", -0.0)),
    "rename": (_ansatz, lambda qc: setattr(qc, "name", "renamed")),
    "metadata_replaced": (_ansatz, lambda qc: setattr(qc, "metadata", {"other": 1})),
    "metadata_nested_in_place": (_ansatz, lambda qc: qc.metadata["tag"]["depth"].append(3)),
    "assign_parameters_inplace": (
        _ansatz,
        lambda qc: qc.assign_parameters([0.1] * qc.num_parameters, inplace=True),
    ),
    "assign_one_parameter": (
        _ansatz,
        lambda qc: qc.assign_parameters({qc.parameters[0]: 0.5}, inplace=True),
    ),
    "parameter_expression": (
        lambda: _rx_circuit(0.0),
        lambda qc: _set_data(qc, 0, RXGate(Parameter("t") * 2)),
    ),
    "same_name_new_parameter": (
        lambda: _param_circuit(Parameter("a")),
        lambda qc: _set_data(qc, 0, RXGate(Parameter("a"))),
    ),
    "add_register": (_rx_circuit, lambda qc: qc.add_register(QuantumRegister(1, "extra"))),
    "add_creg": (_rx_circuit, lambda qc: qc.add_register(ClassicalRegister(1, "c2"))),
    "label": (
        _rx_circuit,
        lambda qc: _set_data(qc, 0, RXGate(0.5, label="lab")),
    ),
    "delay_unit": (
        lambda: _delay_circuit("dt"),
        lambda qc: qc.data.__setitem__(0, _delay_circuit("us").data[0]),
    ),
    "barrier_label": (
        lambda: _barrier_circuit(None),
        lambda qc: qc.data.__setitem__(0, _barrier_circuit("b").data[0]),
    ),
}


def _param_circuit(param: Parameter) -> QuantumCircuit:
    qc = QuantumCircuit(1)
    qc.rx(param, 0)
    return qc


def _delay_circuit(unit: str) -> QuantumCircuit:
    qc = QuantumCircuit(1)
    qc.delay(100, 0, unit=unit)
    return qc


def _barrier_circuit(label: str | None) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.barrier(label=label)
    return qc


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_miss_after_mutation(name: str) -> None:
    make, mutate = MUTATIONS[name]
    qc = make()
    before = encode_circuit(qc)
    assert encode_circuit(qc) == before  # cached
    assert encode_circuit(qc) == before  # a hit
    mutate(qc)
    after = encode_circuit(qc)
    # The cached text must be exactly a fresh serialization, and it did change.
    assert after == _dump_circuit(qc)
    assert after != before
    assert qpy_cache_info()["hits"] == 1


def test_custom_gate_mutated_in_place_never_cached() -> None:
    qc = _custom_gate_circuit()
    before = encode_circuit(qc)
    qc.data[0].operation.params[0] = 0.2
    after = encode_circuit(qc)
    assert after == _dump_circuit(qc)
    del before
    info = qpy_cache_info()
    assert info["uncacheable"] == 1  # the first encoding is a plain miss
    assert info["hits"] == 0


def test_control_flow_not_cached() -> None:
    qc = QuantumCircuit(1, 1)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(0)
    for _ in range(3):
        encode_circuit(qc)
    assert qpy_cache_info()["uncacheable"] == 2


def test_equal_but_distinct_circuits_do_not_share_entries() -> None:
    a, b = _rx_circuit(), _rx_circuit()
    assert encode_circuit(a) == encode_circuit(b)
    assert qpy_cache_info()["misses"] == 2


def test_dead_circuit_id_reuse_is_a_miss() -> None:
    qc = _rx_circuit()
    encode_circuit(qc)
    del qc
    gc.collect()
    for angle in np.linspace(0.1, 1, 20):
        fresh = _rx_circuit(float(angle))
        assert encode_circuit(fresh) == _dump_circuit(fresh)


def test_transpiled_circuit_layout_is_fingerprinted() -> None:
    qc = real_amplitudes(3, reps=1)
    qc.measure_all()
    pm = generate_preset_pass_manager(
        optimization_level=1,
        basis_gates=["rz", "sx", "x", "cx"],
        coupling_map=CouplingMap.from_line(5),
        seed_transpiler=1,
    )
    isa = pm.run(qc)
    encode_circuit(isa)  # first sighting: serialized, only remembered
    # (QPY of a laid-out circuit is not byte-deterministic: compare the cached text to itself.)
    first = encode_circuit(isa)
    assert encode_circuit(isa) == first
    assert qpy_cache_info()["hits"] == 1
    # Swap two physical qubits of the initial layout in place: must serialize again.
    # (QPY of a laid-out circuit is not byte-deterministic, so compare what it decodes to.)
    layout = isa.layout
    assert layout is not None
    a, b = sorted(layout.initial_layout.get_physical_bits())[:2]
    layout.initial_layout.swap(a, b)
    after = encode_circuit(isa)
    assert qpy_cache_info()["misses"] == 3
    decoded = loads(json.dumps({"__type__": "QuantumCircuit", "__value__": after}))
    assert isinstance(decoded, QuantumCircuit)
    assert decoded.layout is not None
    assert decoded.layout.initial_index_layout() == layout.initial_index_layout()
    assert (
        decoded.layout.initial_index_layout()
        != loads(
            json.dumps({"__type__": "QuantumCircuit", "__value__": first})
        ).layout.initial_index_layout()
    )


def test_cache_is_bounded() -> None:
    circuits = [_rx_circuit(float(x)) for x in np.linspace(0, 1, 200)]
    for qc in circuits:
        encode_circuit(qc)
    assert qpy_cache_info()["size"] == qpy_cache_info()["maxsize"]


def test_nan_parameter_never_hits_stale() -> None:
    qc = _rx_circuit(math.nan)
    encode_circuit(qc)
    assert encode_circuit(qc) == _dump_circuit(qc)


def test_unserializable_metadata_is_codec_error() -> None:
    from aioqruntime import CodecError

    qc = _rx_circuit()
    qc.metadata = {"x": object()}
    with pytest.raises(CodecError, match="cannot serialize circuit"):
        encode_circuit(qc)


def test_distinct_circuits_are_never_fingerprinted(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fingerprint costs most of a QPY dump: circuits encoded once must not pay it.
    from aioqruntime.codec import _qpy

    calls: list[QuantumCircuit] = []
    real = _qpy.circuit_fingerprint

    def counting(circuit: QuantumCircuit) -> object:
        calls.append(circuit)
        return real(circuit)

    monkeypatch.setattr(_qpy, "circuit_fingerprint", counting)
    circuits = [_rx_circuit(float(x)) for x in np.linspace(0, 1, 10)]
    texts = [encode_circuit(qc) for qc in circuits]
    assert calls == []
    assert texts == [_dump_circuit(qc) for qc in circuits]
    encode_circuit(circuits[0])
    assert calls == [circuits[0]]
