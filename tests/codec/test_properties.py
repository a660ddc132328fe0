"""Hypothesis properties: round trips and byte equality with the official client."""

from __future__ import annotations

import contextlib
import json
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
from qiskit.primitives.containers import (
    BitArray,
    DataBin,
    PrimitiveResult,
    SamplerPubResult,
)
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from aioqruntime import CodecError
from aioqruntime.codec import (
    decode_estimator_params,
    decode_sampler_params,
    dumps,
    encode_estimator_pubs,
    encode_sampler_pubs,
    loads,
)

from ._helpers import official_dumps, official_loads, wire_content

QISKIT = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHEAP = settings(max_examples=150, deadline=None)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | finite | st.text(max_size=8)
)
keys = st.text(min_size=0, max_size=6).filter(lambda k: k != "__type__")
json_trees = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)
datetimes = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)
)
wire_values = st.recursive(
    json_scalars
    | st.complex_numbers(allow_nan=False, allow_infinity=False)
    | datetimes
    | hnp.arrays(
        hnp.scalar_dtypes().filter(lambda d: d.kind not in "mMOV"),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


@CHEAP
@given(wire_values)
def test_nested_values_byte_equal_and_round_trip(value: Any) -> None:
    text = dumps(value)
    assert wire_content(text) == wire_content(official_dumps(value))
    ours = loads(text)
    assert _same(ours, official_loads(text))
    assert wire_content(dumps(ours)) == wire_content(text)


@CHEAP
@given(json_trees)
def test_plain_json_unchanged(value: Any) -> None:
    assert loads(dumps(value)) == json.loads(json.dumps(value))


GATES_1 = ["h", "x", "sx", "s", "t"]
GATES_1P = ["rx", "ry", "rz", "p"]
GATES_2 = ["cx", "cz", "swap"]
GATES_2P = ["rzz", "cp"]


@st.composite
def circuits(draw: st.DrawFn, *, measure: bool = True) -> QuantumCircuit:
    n = draw(st.integers(1, 4))
    qc = QuantumCircuit(n, name=draw(st.sampled_from(["c", "ansatz", "ψ-ckt"])))
    pool: list[Any] = [Parameter(f"a{i}") for i in range(draw(st.integers(0, 3)))]
    vec = ParameterVector("θ", draw(st.integers(0, 4)))
    pool += list(vec)
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["1", "1p", "2", "2p"] if n > 1 else ["1", "1p"]))
        qubits = draw(st.permutations(range(n)))[: 2 if kind.startswith("2") else 1]
        name = draw(
            st.sampled_from({"1": GATES_1, "1p": GATES_1P, "2": GATES_2, "2p": GATES_2P}[kind])
        )
        if kind.endswith("p"):
            angle: Any = (
                draw(st.sampled_from(pool))
                if pool and draw(st.booleans())
                else draw(st.floats(-7, 7, allow_nan=False))
            )
            if pool and draw(st.booleans()):
                angle = draw(st.sampled_from(pool)) * 2 + 0.5
            getattr(qc, name)(angle, *qubits)
        else:
            getattr(qc, name)(*qubits)
    # Unused pool parameters are simply absent from the circuit.
    qc.global_phase = draw(st.floats(-3, 3, allow_nan=False))
    qc.metadata = draw(st.dictionaries(st.text(max_size=5), json_trees, max_size=3))
    if measure:
        qc.measure_all()
    return qc


@QISKIT
@given(circuits())
def test_circuits_byte_equal_and_round_trip(qc: QuantumCircuit) -> None:
    text = dumps(qc)
    assert wire_content(text) == wire_content(official_dumps(qc))
    for decoded in (loads(text), official_loads(text)):
        assert decoded == qc
        assert decoded.metadata == qc.metadata
        assert decoded.name == qc.name
        assert [p.name for p in decoded.parameters] == [p.name for p in qc.parameters]


shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
value_dtypes = st.sampled_from([np.float64, np.float32, np.int64, np.int8])


@QISKIT
@given(circuits(), shapes, value_dtypes, st.none() | st.integers(1, 10**6), st.randoms())
def test_sampler_pubs_byte_equal_and_decode(
    qc: QuantumCircuit, shape: tuple[int, ...], dtype: Any, shots: int | None, rnd: Any
) -> None:
    rng = np.random.default_rng(rnd.getrandbits(32))
    values = (rng.standard_normal((*shape, qc.num_parameters)) * 4).astype(dtype)
    pub = SamplerPub.coerce((qc, values, shots) if qc.num_parameters else (qc, None, shots))
    params = {"pubs": [pub], "options": {}, "version": 2, "support_qiskit": True}
    ours = dumps({**params, "pubs": encode_sampler_pubs([pub])})
    assert wire_content(ours) == wire_content(official_dumps(params))
    (back,) = decode_sampler_params(json.loads(ours))
    assert back.shots == shots
    assert back.shape == pub.shape
    np.testing.assert_array_equal(
        back.parameter_values.as_array(back.circuit.parameters),
        pub.parameter_values.as_array(qc.parameters),
    )


paulis = st.sampled_from("IXYZ")


@st.composite
def observables(draw: st.DrawFn, n: int) -> Any:
    def one() -> dict[str, float]:
        labels = draw(st.lists(st.text(paulis, min_size=n, max_size=n), min_size=1, max_size=3))
        coeffs = st.floats(0.125, 5) | st.floats(-5, -0.125)
        return {label: draw(coeffs) for label in labels}

    shape = draw(st.sampled_from([(), (1,), (2,), (2, 1)]))
    if shape == ():
        return one()
    if len(shape) == 1:
        return [one() for _ in range(shape[0])]
    return [[one()] for _ in range(shape[0])]


@QISKIT
@given(st.data())
def test_estimator_pubs_byte_equal_and_decode(data: st.DataObject) -> None:
    qc = data.draw(circuits(measure=False))
    obs = data.draw(observables(qc.num_qubits))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    values = rng.random((2, 1, qc.num_parameters)) if qc.num_parameters else None
    precision = data.draw(st.none() | st.floats(1e-4, 1))
    pub = EstimatorPub.coerce((qc, obs, values, precision))
    params = {"pubs": [pub], "options": {}, "version": 2, "support_qiskit": True}
    ours = dumps({**params, "pubs": encode_estimator_pubs([pub])})
    assert wire_content(ours) == wire_content(official_dumps(params))
    (back,) = decode_estimator_params(json.loads(ours))
    assert back.shape == pub.shape
    assert back.precision == precision
    assert back.observables.tolist() == pub.observables.tolist()


@st.composite
def bit_arrays(draw: st.DrawFn) -> BitArray:
    num_bits = draw(st.integers(1, 70))
    shots = draw(st.integers(1, 300))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bools = rng.integers(0, 2, (*shape, shots, num_bits), dtype=np.uint8).astype(bool)
    return (
        BitArray.from_bool_array(bools, order="little")
        if num_bits
        else BitArray(np.zeros((*shape, shots, 0), dtype=np.uint8), 0)
    )


@QISKIT
@given(st.lists(bit_arrays(), min_size=1, max_size=3), json_trees)
def test_sampler_results_round_trip(arrays: list[BitArray], meta: Any) -> None:
    pubs = [
        SamplerPubResult(DataBin(meas=ba, shape=ba.shape), metadata={"i": i, "m": meta})
        for i, ba in enumerate(arrays)
    ]
    result = PrimitiveResult(pubs, metadata={"version": 2, "m": meta})
    text = dumps(result)
    assert wire_content(text) == wire_content(official_dumps(result))
    ours, theirs = loads(text), official_loads(text)
    assert isinstance(ours, PrimitiveResult)
    for ba, mine, their in zip(arrays, ours, theirs, strict=True):
        assert mine.data.meas == ba == their.data.meas
        assert mine.data.meas.num_bits == ba.num_bits
        assert mine.metadata == their.metadata
        assert mine.data.meas.get_counts() == ba.get_counts()
    assert ours.metadata == theirs.metadata


@CHEAP
@given(
    st.lists(
        st.tuples(
            st.integers(0, 20),
            hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
            st.integers(0, 5),
            st.integers(0, 5),
        ),
        max_size=4,
    ),
    datetimes,
)
def test_double_slice_spans_round_trip(rows: list[Any], start: datetime) -> None:
    from aioqruntime.codec import DoubleSliceSpan, ExecutionSpans

    slices = {idx: (shape, slice(a, a + 2), slice(b, None)) for idx, shape, a, b in rows}
    span = DoubleSliceSpan(start, start + timedelta(seconds=1), slices)
    spans = ExecutionSpans([span])
    back = loads(dumps(spans))
    assert back == spans
    theirs = official_loads(dumps(spans))
    assert [s.size for s in theirs] == [span.size]


valid_docs = st.sampled_from(
    [
        dumps({"a": np.arange(6.0).reshape(2, 3), "b": [1 + 1j, {"c": datetime(2024, 1, 1)}]}),
        dumps(PrimitiveResult([SamplerPubResult(DataBin(m=BitArray.from_counts({"101": 3})))])),
        dumps(QuantumCircuit(2, name="fuzz")),
    ]
)


@CHEAP
@given(valid_docs, st.integers(0, 10**6), st.integers(0, 255))
def test_corrupted_documents_only_raise_codec_error(text: str, where: int, byte: int) -> None:
    raw = bytearray(text.encode())
    raw[where % len(raw)] = byte
    with contextlib.suppress(CodecError):
        loads(bytes(raw))
