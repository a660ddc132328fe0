"""Basic wire compatibility with the official RuntimeEncoder/RuntimeDecoder."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pytest
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.circuit.library import real_amplitudes
from qiskit.primitives.containers import (
    BitArray,
    DataBin,
    PrimitiveResult,
    PubResult,
    SamplerPubResult,
)
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import SparsePauliOp

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


def _ansatz() -> QuantumCircuit:
    qc = real_amplitudes(3, reps=1).decompose()
    qc.measure_all()
    return qc


def _params(pubs: list[object]) -> dict[str, object]:
    return {"pubs": pubs, "options": {}, "version": 2, "support_qiskit": True}


@pytest.mark.parametrize(
    "obj",
    [
        {"a": 1, "b": [1.5, None, True, "x"]},
        1 + 2j,
        datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
        np.arange(12, dtype=np.int32).reshape(3, 4),
        np.array([1.0, 2.5]),
        np.array([], dtype=np.float64),
        np.int64(7),
        {1, 2, 3},
    ],
)
def test_dumps_matches_official_bytes(obj: object) -> None:
    assert wire_content(dumps(obj)) == wire_content(official_dumps(obj))


def test_sampler_params_bytes_equal_official() -> None:
    qc = _ansatz()
    rng = np.random.default_rng(1)
    pubs = [
        SamplerPub.coerce((qc, rng.random((2, 3, qc.num_parameters)), 100)),
        SamplerPub.coerce((qc, rng.random(qc.num_parameters))),
    ]
    ours = dumps(_params(encode_sampler_pubs(pubs)))
    assert wire_content(ours) == wire_content(official_dumps(_params(pubs)))


def test_estimator_params_bytes_equal_official() -> None:
    qc = real_amplitudes(3, reps=1).decompose()
    obs = [SparsePauliOp(["XXI", "ZZZ"], [1.0, -0.5]), SparsePauliOp("IIZ")]
    values = np.random.default_rng(2).random((2, qc.num_parameters))
    pubs = [
        EstimatorPub.coerce((qc, obs, values, 0.01)),
        EstimatorPub.coerce((qc, "ZZZ", values[0])),
    ]
    ours = dumps(_params(encode_estimator_pubs(pubs)))
    assert wire_content(ours) == wire_content(official_dumps(_params(pubs)))


def test_non_parametric_circuit_sends_empty_array() -> None:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    pub = SamplerPub.coerce(qc)
    encoded = encode_sampler_pubs([pub])[0]
    assert encoded[2] is None
    values = loads(json.dumps(encoded[1]))
    assert isinstance(values, np.ndarray)
    assert values.shape == (0,)
    assert values.dtype == np.float64


def test_sampler_params_decode_back() -> None:
    qc = _ansatz()
    values = np.random.default_rng(3).random((4, qc.num_parameters))
    text = dumps(_params(encode_sampler_pubs([SamplerPub.coerce((qc, values, 10))])))
    (pub,) = decode_sampler_params(json.loads(text))
    assert pub.shots == 10
    assert pub.circuit == qc
    assert pub.parameter_values.shape == (4,)
    np.testing.assert_array_equal(pub.parameter_values.as_array(pub.circuit.parameters), values)


def test_estimator_params_decode_back() -> None:
    qc = real_amplitudes(2, reps=1).decompose()
    values = np.random.default_rng(4).random((3, qc.num_parameters))
    pub_in = EstimatorPub.coerce((qc, [["XX"], ["ZI"], ["YY"]], values, 0.05))
    text = dumps(_params(encode_estimator_pubs([pub_in])))
    (pub,) = decode_estimator_params(loads(text))  # type: ignore[arg-type]
    assert pub.precision == 0.05
    assert pub.observables.tolist() == pub_in.observables.tolist()
    assert pub.shape == pub_in.shape


def test_sampler_result_from_official() -> None:
    rng = np.random.default_rng(5)
    bits = BitArray.from_samples([int(x) for x in rng.integers(0, 2**11, 50)], num_bits=11)
    result = PrimitiveResult(
        [SamplerPubResult(DataBin(meas=bits), metadata={"circuit_metadata": {"k": 1}})],
        metadata={"version": 2},
    )
    text = official_dumps(result)
    ours = loads(text)
    assert isinstance(ours, PrimitiveResult)
    pub = ours[0]
    assert isinstance(pub, SamplerPubResult)
    assert pub.data.meas == bits
    assert pub.metadata == {"circuit_metadata": {"k": 1}}
    assert ours.metadata == {"version": 2}
    assert wire_content(dumps(ours)) == wire_content(text)


def test_estimator_result_to_official() -> None:
    evs = np.linspace(0, 1, 5)
    result = PrimitiveResult(
        [PubResult(DataBin(evs=evs, stds=evs / 10, shape=(5,)), metadata={"shots": 10})],
        metadata={"version": 2},
    )
    theirs = official_loads(dumps(result))
    np.testing.assert_array_equal(theirs[0].data.evs, evs)
    assert theirs[0].metadata == {"shots": 10}


def test_parameter_matches_official() -> None:
    theta = Parameter("θ_1")
    assert wire_content(dumps(theta)) == wire_content(official_dumps(theta))
    back = loads(official_dumps(theta))
    assert back == theta
    assert isinstance(back, Parameter)
    assert back.uuid == theta.uuid


def test_unknown_type_is_codec_error() -> None:
    with pytest.raises(CodecError) as info:
        loads('{"a": [{"__type__": "Nope", "__value__": 1}]}')
    assert info.value.path == "/a/0/__type__"
