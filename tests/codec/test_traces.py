"""Fixed vectors: the official client's recorded POST /jobs bodies and results responses.

The recorder shortened long strings to ``"<str len=N head='...'>"``; such values are skipped (the
QPY circuits always are, so a stand-in circuit of the right width and parameter count is used to
run the whole params document through ``decode_*_params`` and back).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.primitives.containers import BitArray, PrimitiveResult

from aioqruntime.codec import (
    decode_estimator_params,
    decode_sampler_params,
    dumps,
    encode_estimator_pubs,
    encode_sampler_pubs,
    loads,
)
from aioqruntime.codec._binary import encode_ndarray

from ._helpers import official_loads, wire_content

#: The recordings, vendored verbatim (they are facts; the suite needs nothing outside the clone).
TRACES = Path(__file__).parents[1] / "data" / "traces"


def _records() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(TRACES.glob("*.jsonl")):
        for line_no, line in enumerate(path.read_text().splitlines()):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            out.append((f"{path.stem}:{line_no}", record))
    return out


def _job_bodies() -> list[tuple[str, dict[str, Any]]]:
    bodies = []
    for name, record in _records():
        body = record.get("body")
        if record.get("method") != "POST" or not str(record.get("path", "")).endswith("/jobs"):
            continue
        if not isinstance(body, dict) or body.get("program_id") not in ("sampler", "estimator"):
            continue
        bodies.append((name, body))
    return bodies


def _results() -> list[tuple[str, Any]]:
    out = []
    for name, record in _records():
        resp = record.get("resp")
        if not str(record.get("path", "")).endswith("/results") or not isinstance(resp, dict):
            continue
        if "<str len=" not in json.dumps(resp):
            out.append((name, resp))
    return out


JOBS = _job_bodies()
RESULTS = _results()


def test_traces_present() -> None:
    assert len(JOBS) >= 10
    assert any(b["program_id"] == "estimator" for _, b in JOBS)
    assert len(RESULTS) >= 2


def _stand_in(num_qubits: int, num_parameters: int) -> dict[str, Any]:
    qc = QuantumCircuit(num_qubits)
    for i in range(num_parameters):
        qc.rx(Parameter(f"p{i:03d}"), i % num_qubits)
    qc.measure_all()
    return json.loads(dumps(qc))  # type: ignore[no-any-return]


@pytest.mark.parametrize(("name", "body"), JOBS, ids=[n for n, _ in JOBS])
def test_job_params_fixed_vectors(name: str, body: dict[str, Any]) -> None:
    params = body["params"]
    assert params["version"] == 2
    assert params["support_qiskit"] is True
    assert isinstance(params["options"], dict)
    sampler = body["program_id"] == "sampler"
    values_index = 1 if sampler else 2
    for pub in params["pubs"]:
        assert len(pub) == (3 if sampler else 4)
        assert pub[0]["__type__"] == "QuantumCircuit"
        assert pub[0]["__value__"].startswith("<str len=")  # shortened by the recorder
        tag = pub[values_index]
        assert tag["__type__"] == "ndarray"
        ours = loads(json.dumps(tag))
        theirs = official_loads(json.dumps(tag))
        assert isinstance(ours, np.ndarray)
        assert ours.dtype == np.float64
        np.testing.assert_array_equal(ours, theirs)
        # Our NPY + zlib + base64 of the same array inflates to the recorded NPY, byte for byte.
        assert wire_content({**tag, "__value__": encode_ndarray(ours)}) == wire_content(tag)

        # The whole document through decode_*_params and back, with a stand-in circuit.
        num_qubits = 5
        if not sampler:
            num_qubits = len(next(iter(pub[1])))
        num_params = ours.shape[-1] if ours.ndim and ours.size else 0
        doc = {"pubs": [[_stand_in(num_qubits, num_params), *pub[1:]]]}
        if sampler:
            (decoded,) = decode_sampler_params(doc)
            (again,) = encode_sampler_pubs([decoded])
            assert again[2] == pub[2]
        else:
            (decoded,) = decode_estimator_params(doc)  # type: ignore[assignment]
            (again,) = encode_estimator_pubs([decoded])  # type: ignore[list-item]
            assert again[1] == pub[1]
            assert again[3] == pub[3]
        assert wire_content(again[values_index]) == wire_content(tag)


@pytest.mark.parametrize(("name", "resp"), RESULTS, ids=[n for n, _ in RESULTS])
def test_result_fixed_vectors(name: str, resp: dict[str, Any]) -> None:
    text = json.dumps(resp)
    ours, theirs = loads(text), official_loads(text)
    assert isinstance(ours, PrimitiveResult)
    assert ours.metadata == theirs.metadata
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert type(a) is type(b)
        assert a.metadata == b.metadata
        assert list(a.data) == list(b.data)
        for key in a.data:
            if isinstance(b.data[key], BitArray):
                assert a.data[key] == b.data[key]
                assert a.data[key].num_shots == a.metadata["shots"]
            else:
                np.testing.assert_array_equal(a.data[key], b.data[key])
    # Re-encoding reproduces the document's content (modulo the recorder's JSON formatting and
    # the deflate level).
    assert wire_content(dumps(ours)) == wire_content(resp)
