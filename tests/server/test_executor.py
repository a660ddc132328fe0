"""The ``executor`` program over the REST API: the result document as the service's schema says,
clear refusals of bad programs before a job exists, private params, programs not emulated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ibm_quantum_schemas.common import CompressedQpyDataModel, F64CompressedTensorModel
from ibm_quantum_schemas.executor.version_2_0 import CircuitItemModel
from ibm_quantum_schemas.executor.version_2_0 import QuantumProgramResultModel as ResultModel
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Parameter

from aioqruntime.server import LocalRuntimeServer, ServerConfig
from aioqruntime.server._program_executor import ProgramError, parse_program

from .conftest import DEVICES, Api, bell

DATA = Path(__file__).parent.parent / "data"
RESULT_SCHEMA = json.loads((DATA / "executor-v2.0-result.schema.json").read_text())


def program_params(
    circuits: list[QuantumCircuit],
    arguments: list[np.ndarray | None] | None = None,
    *,
    shots: int = 200,
    shapes: list[list[int]] | None = None,
    passthrough: Any = None,
) -> dict[str, Any]:
    """``params`` of an executor job of circuit items, built with IBM's own wire models."""
    items = []
    for index, circuit in enumerate(circuits):
        values = (arguments or [None] * len(circuits))[index]
        if values is None:
            values = np.zeros((circuit.num_parameters,))
        items.append(
            CircuitItemModel(
                circuit_arguments=F64CompressedTensorModel.from_numpy(values),
                shape=(shapes or [[]] * len(circuits))[index],
            ).model_dump(mode="json")
        )
    blob = CompressedQpyDataModel.from_python(circuits, qpy_version=17).model_dump(mode="json")
    return {
        "schema_version": "v2.0",
        "quantum_program": {
            "shots": shots,
            "circuits": blob,
            "items": items,
            "semantic_role": "test",
            "meas_level": "classified",
            "passthrough_data": passthrough,
        },
        "options": {"init_qubits": True, "experimental": {}},
    }


def executor_body(params: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"program_id": "executor", "backend": "ibm_local5", "params": params, **top}


def ry_circuit() -> tuple[QuantumCircuit, Parameter]:
    theta = Parameter("t")
    circuit = QuantumCircuit(1)
    circuit.ry(theta, 0)
    circuit.measure_all()
    isa = transpile(circuit, backend=DEVICES["ibm_local5"].backend(), optimization_level=1)
    return isa, theta


async def run(api: Api, server: LocalRuntimeServer, body: dict[str, Any]) -> dict[str, Any]:
    job_id = await api.submit(body)
    await server.wait_for_job_state(job_id, "Completed")
    response = await api.request("GET", f"/jobs/{job_id}/results")
    assert response.status == 200 and response.content_type == "application/json"
    document: dict[str, Any] = json.loads(await response.text())
    return document


async def test_result_document_follows_the_schema_and_echoes(
    api: Api, server: LocalRuntimeServer
) -> None:
    ry, _ = ry_circuit()
    passthrough = {"a": [1, "x", None, True], "b": {"c": 2.5}}
    params = program_params(
        [bell(), ry], [None, np.array([[0.0], [np.pi]])], shots=64, passthrough=passthrough
    )
    document = await run(api, server, executor_body(params))
    jsonschema.validate(document, RESULT_SCHEMA)
    assert document["schema_version"] == "v2.0" and document["semantic_role"] == "test"
    assert document["passthrough_data"] == passthrough
    spans = document["metadata"]["chunk_timing"]
    assert [part["idx_item"] for span in spans for part in span["parts"]] == [0, 1]
    assert [span["parts"][0]["size"] for span in spans] == [1, 2]
    result = ResultModel.model_validate(document)
    bell_bits = result.data[0].results["meas"].to_numpy()
    assert bell_bits.shape == (64, 2) and set(map(tuple, bell_bits.tolist())) <= {
        (False, False),
        (True, True),
    }
    ry_bits = result.data[1].results["meas"].to_numpy()
    # ry(0) never flips the qubit, ry(pi) always does: exact, whatever the seed.
    assert ry_bits.shape == (2, 64, 1)
    assert not ry_bits[0].any() and ry_bits[1].all()


async def test_item_shape_broadcasts_the_arguments(api: Api, server: LocalRuntimeServer) -> None:
    ry, _ = ry_circuit()
    params = program_params([ry], [np.array([[np.pi]])], shots=10, shapes=[[3, 1]])
    document = await run(api, server, executor_body(params))
    bits = ResultModel.model_validate(document).data[0].results["meas"].to_numpy()
    assert bits.shape == (3, 1, 10, 1) and bits.all()


async def test_job_document_names_the_program_and_hides_private_params(
    api: Api, server: LocalRuntimeServer
) -> None:
    params = program_params([bell()], shots=10)
    server.pause()
    public = await api.submit(executor_body(params))
    private = await api.submit(executor_body(params, private=True))
    queued_private = await api.json("GET", f"/jobs/{private}")
    assert queued_private["program"] == {"id": "executor"} and "params" not in queued_private
    listed = await api.json("GET", "/jobs", params={"exclude_params": "false"})
    by_id = {job["id"]: job for job in listed["jobs"]}
    assert "params" not in by_id[private] and by_id[public]["params"] == params
    server.resume()
    await server.wait_for_job_state(private, "Completed")
    assert "params" not in await api.json("GET", f"/jobs/{private}")
    assert (await api.json("GET", f"/jobs/{public}"))["program"] == {"id": "executor"}


def _bad_programs() -> list[tuple[str, Any, str]]:
    ry, _ = ry_circuit()
    wide = QuantumCircuit(6)
    wide.measure_all()
    not_isa = QuantumCircuit(2)
    not_isa.h(0)
    not_isa.measure_all()

    def edit(change: Any) -> dict[str, Any]:
        params = program_params([bell()])
        change(params)
        return params

    return [
        (
            "schema",
            edit(lambda p: p.update(schema_version="v1.0")),
            "params.schema_version: the local server runs executor schema 'v2.0'",
        ),
        (
            "arguments",
            program_params([ry], [np.zeros((3, 2))]),
            "items[0].circuit_arguments: the last axis must hold the circuit's 1 parameters",
        ),
        (
            "shape",
            program_params([ry], [np.zeros((3, 1))], shapes=[[2]]),
            "items[0].shape: [2] does not extend the arguments' shape [3]",
        ),
        ("qubits", program_params([wide]), "items[0]: the circuit has 6 qubits"),
        ("isa", program_params([not_isa]), "items[0]: instruction 'h' is not supported"),
        (
            "kerneled",
            edit(lambda p: p["quantum_program"].update(meas_level="kerneled")),
            "'kerneled' is not emulated",
        ),
        ("shots", edit(lambda p: p["quantum_program"].update(shots=0)), "quantum_program.shots"),
        (
            "count",
            edit(lambda p: p["quantum_program"]["items"].append(p["quantum_program"]["items"][0])),
            "exactly one circuit for every program item",
        ),
        (
            "blob",
            edit(lambda p: p["quantum_program"]["circuits"].update(b64_data="eJxLTEwCAAJJAWU=")),
            "params.quantum_program.circuits",
        ),
        ("options", edit(lambda p: p.pop("options")), "params.options: Field required"),
    ]


@pytest.mark.parametrize(
    ("params", "needle"),
    [pytest.param(params, needle, id=name) for name, params, needle in _bad_programs()],
)
async def test_bad_programs_are_refused_before_a_job_exists(
    api: Api, params: dict[str, Any], needle: str
) -> None:
    answer = await api.json("POST", "/jobs", json=executor_body(params), status=400)
    assert needle in answer["errors"][0]["message"]
    assert (await api.json("GET", "/jobs"))["count"] == 0


@pytest.mark.parametrize("program", ["noise-learner", "calibrate"])
async def test_programs_not_emulated_are_refused_by_name(api: Api, program: str) -> None:
    body = {"program_id": program, "backend": "ibm_local5", "params": {}}
    answer = await api.json("POST", "/jobs", json=body, status=400)
    message = answer["errors"][0]["message"]
    assert program in message and "not emulated" in message


@pytest.mark.parametrize("config", [ServerConfig(noise=True)])
async def test_noisy_device_still_correlates_a_bell_pair(
    api: Api, server: LocalRuntimeServer
) -> None:
    document = await run(api, server, executor_body(program_params([bell()], shots=2000)))
    bits = ResultModel.model_validate(document).data[0].results["meas"].to_numpy()
    agree = float(np.mean(bits[:, 0] == bits[:, 1]))
    # A device with percent-level errors keeps far above 80 % agreement, never 100 % of 2000.
    assert 0.8 < agree < 1.0


@settings(max_examples=40, deadline=None)
@given(
    argument_shape=st.lists(st.integers(1, 3), max_size=3),
    item_shape=st.lists(st.integers(1, 3), max_size=3),
    n_parameters=st.integers(0, 2),
)
def test_parser_accepts_exactly_the_broadcastable_shapes(
    argument_shape: list[int], item_shape: list[int], n_parameters: int
) -> None:
    circuit = QuantumCircuit(1)
    for index in range(n_parameters):
        circuit.rz(Parameter(f"p{index}"), 0)
    circuit.measure_all()
    values = np.zeros((*argument_shape, n_parameters))
    params = program_params([circuit], [values], shots=3, shapes=[item_shape])
    try:
        expected = np.broadcast_shapes(tuple(argument_shape), tuple(item_shape))
    except ValueError:
        with pytest.raises(ProgramError, match="does not extend"):
            parse_program(params)
        return
    program = parse_program(params)
    assert program.items[0].shape == expected
    assert program.executions == 3 * int(np.prod(expected))


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += _paths(value, (*prefix, index))
    return found


_VALID = program_params([bell()], shots=5)
_VALID_PATHS = _paths(_VALID)[1:]


@settings(max_examples=150, deadline=None)
@given(where=st.sampled_from(_VALID_PATHS), replacement=_JSON)
def test_any_corrupted_field_is_a_program_error_or_accepted(where: Any, replacement: Any) -> None:
    params = json.loads(json.dumps(_VALID))
    target = params
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = replacement
    try:
        program = parse_program(params, max_inflated_bytes=1 << 20)
    except ProgramError as exc:
        assert str(exc).startswith("params")
    else:
        assert program.executions >= 1


def test_wide_circuit_of_independent_pairs_is_sampled_in_parts() -> None:
    """26 qubits in 13 Bell pairs: sampled whole, a 2^26 statevector (1 GiB); in parts, instant."""
    from aioqruntime.server._program_executor import _independent_parts, run_executor

    circuit = QuantumCircuit(26)
    for pair in range(13):
        circuit.h(2 * pair)
        circuit.cx(2 * pair, 2 * pair + 1)
    circuit.measure_all()
    parts = _independent_parts(circuit)
    assert parts is not None and sorted(q for part in parts for q in part) == list(range(26))
    assert max(len(part) for part in parts) <= 12
    text, executions = run_executor(json.dumps(program_params([circuit], shots=200)), None)
    assert executions == 200
    bits = ResultModel.model_validate_json(text).data[0].results["meas"].to_numpy()
    assert bits.shape == (200, 26)
    assert (bits[:, 0::2] == bits[:, 1::2]).all()  # every pair agrees on every shot
    # and every pair is a fair coin: all 0 or all 1 over 200 shots has probability 2^-199
    assert bits[:, 0::2].any(axis=0).all() and not bits[:, 0::2].all(axis=0).any()


def test_wide_noisy_circuit_is_sampled_in_parts_on_the_device_qubits() -> None:
    """With noise the parts keep the device's qubit numbers, so each qubit gets its own errors."""
    from aioqruntime.backends import noise_model_for
    from aioqruntime.server._program_executor import run_executor

    device = DEVICES["ibm_local27"]
    circuit = QuantumCircuit(27)
    circuit.x(range(27))
    circuit.measure_all()
    text, _ = run_executor(
        json.dumps(program_params([circuit], shots=400)), noise_model_for(device)
    )
    bits = ResultModel.model_validate_json(text).data[0].results["meas"].to_numpy()
    assert bits.shape == (400, 27)
    ones = bits.mean(axis=0)
    # Every qubit reads mostly 1 (its X and readout errors are percent-level), yet not always.
    assert (ones > 0.85).all() and ones.mean() < 1.0


def samplex_params(shape: list[int], *, with_arguments: bool = True) -> dict[str, Any]:
    """An executor program of one samplex item: a measurement-twirled RY(t) on one qubit."""
    from ibm_quantum_schemas.common import CompressedTensorModel, SamplexModel
    from ibm_quantum_schemas.executor.version_2_0 import SamplexItemModel
    from samplomatic import build
    from samplomatic.ssv import SSV
    from samplomatic.transpiler import generate_boxing_pass_manager

    circuit, _ = ry_circuit()
    boxing = generate_boxing_pass_manager(enable_gates=False, enable_measures=True)
    template, samplex = build(boxing.run(circuit))
    arguments = {"parameter_values": np.array([[0.0], [np.pi]])} if with_arguments else {}
    item = SamplexItemModel(
        samplex=SamplexModel.from_samplex(samplex, ssv=SSV),
        samplex_arguments={k: CompressedTensorModel.from_numpy(v) for k, v in arguments.items()},
        shape=shape,
    ).model_dump(mode="json")
    params = program_params([template], shots=16)
    params["quantum_program"]["items"] = [item]
    return params


async def test_samplex_item_randomizes_and_returns_the_flips(
    api: Api, server: LocalRuntimeServer
) -> None:
    document = await run(api, server, executor_body(samplex_params([5, 2])))
    results = ResultModel.model_validate(document).data[0].results
    assert set(results) == {"meas", "measurement_flips.meas"}
    bits = results["meas"].to_numpy()
    flips = results["measurement_flips.meas"].to_numpy()
    assert bits.shape == (5, 2, 16, 1) and flips.shape == (5, 2, 1, 1)
    corrected = bits ^ flips
    # Axis 1 is the argument axis (ry(0), ry(pi)): exact outcomes once the flips are undone.
    assert not corrected[:, 0].any() and corrected[:, 1].all()


async def test_samplex_item_without_its_inputs_is_refused(api: Api) -> None:
    params = samplex_params([3], with_arguments=False)
    answer = await api.json("POST", "/jobs", json=executor_body(params), status=400)
    assert "samplex_arguments: missing inputs" in answer["errors"][0]["message"]
