"""Backends test helpers: recorded documents, and the official client's target for the same JSON."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qiskit.transpiler import Target

DATA = Path(__file__).parent / "data"


def load_document(name: str) -> dict[str, Any]:
    with (DATA / f"{name}.json").open() as stream:
        document: dict[str, Any] = json.load(stream)
    return document


def stub5e_properties() -> dict[str, Any]:
    """Properties for ``ibm_stub5e`` (none were recorded): ``ibm_stub5``'s, with its cz pairs
    turned into one-directional ecr gates on ``ibm_stub5e``'s coupling map."""
    properties = load_document("ibm_stub5_properties")
    directions = {tuple(pair) for pair in load_document("ibm_stub5e_configuration")["coupling_map"]}
    gates = []
    for gate in properties["gates"]:
        if gate["gate"] == "cz":
            if tuple(gate["qubits"]) not in directions:
                continue
            gate = {**gate, "gate": "ecr", "name": gate["name"].replace("cz", "ecr")}
        gates.append(gate)
    return {**properties, "backend_name": "ibm_stub5e", "gates": gates}


def official_target(
    configuration: Mapping[str, Any],
    properties: Mapping[str, Any] | None,
    *,
    use_fractional_gates: bool | None = None,
) -> Target:
    """The target qiskit-ibm-runtime 0.51.0 builds from the same JSON (its decoders mutate their
    input, hence the copies)."""
    from qiskit_ibm_runtime.utils.backend_converter import convert_to_target
    from qiskit_ibm_runtime.utils.backend_decoder import (
        configuration_from_server_data,
        properties_from_server_data,
    )

    decoded_configuration = configuration_from_server_data(
        copy.deepcopy(dict(configuration)), use_fractional_gates=use_fractional_gates
    )
    assert decoded_configuration is not None, "the official decoder refused the configuration"
    decoded_properties = (
        properties_from_server_data(
            copy.deepcopy(dict(properties)), use_fractional_gates=use_fractional_gates
        )
        if properties
        else None
    )
    return convert_to_target(decoded_configuration, decoded_properties)
