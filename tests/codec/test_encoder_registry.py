"""The encoder's registry keeps the official encoder's order per object, not just per class.

Type checks are planned once per class; the attribute checks (``to_json``, ``settings``,
``_json``) that come before a type entry still run on each object, as the official if-chain does.
"""

from __future__ import annotations

from typing import Any

from qiskit.circuit import QuantumCircuit

from aioqruntime.codec import dumps
from tests.codec._helpers import official_dumps, wire_content


class _Settings:
    def __init__(self, settings: dict[Any, Any]) -> None:
        self.settings = settings


def _bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    return circuit


def test_an_instance_attribute_before_a_type_entry_wins_for_that_object_only() -> None:
    plain, with_to_json = _bell(), _bell()
    with_to_json.to_json = lambda: "given"  # type: ignore[attr-defined]
    # The class is planned on the first object; the second (and then the first) still differ.
    for objs in ([plain, with_to_json], [with_to_json, plain]):
        text = dumps(objs)
        assert wire_content(text) == wire_content(official_dumps(objs))
    tags = [node["__type__"] for node in wire_content(dumps([plain, with_to_json]))]
    assert tags == ["QuantumCircuit", "to_json"]


def test_objects_matching_no_type_entry_follow_the_attribute_entries() -> None:
    objs = [_Settings({1: "int key"}), _Settings({"a": 1})]
    assert dumps(objs) == official_dumps(objs)
    assert wire_content(dumps(objs))[0]["__value__"]["__int_keys__"] is True


def test_a_subclass_is_planned_by_its_first_matching_entry() -> None:
    class Circuit(QuantumCircuit):
        pass

    circuit = Circuit(1)
    circuit.x(0)
    assert wire_content(dumps(circuit)) == wire_content(official_dumps(circuit))
