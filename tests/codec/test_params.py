"""decode_sampler_params / decode_estimator_params: validation with paths."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import real_amplitudes
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


def _ansatz(n: int = 3) -> QuantumCircuit:
    qc = real_amplitudes(n, reps=1).decompose()
    qc.measure_all()
    return qc


def _sampler_params(*pubs: Any) -> dict[str, Any]:
    coerced = [SamplerPub.coerce(p) for p in pubs]
    doc = {"pubs": encode_sampler_pubs(coerced), "options": {}, "version": 2}
    return json.loads(dumps(doc))  # type: ignore[no-any-return]


def _estimator_params(*pubs: Any) -> dict[str, Any]:
    coerced = [EstimatorPub.coerce(p) for p in pubs]
    doc = {"pubs": encode_estimator_pubs(coerced), "options": {}, "version": 2}
    return json.loads(dumps(doc))  # type: ignore[no-any-return]


def _values_tag(array: Any) -> Any:
    return json.loads(dumps(np.asarray(array)))


def _error(fn: Any, params: Any) -> CodecError:
    with pytest.raises(CodecError) as info:
        fn(params)
    return info.value


def test_raw_and_decoded_params_both_accepted() -> None:
    qc = _ansatz()
    raw = _sampler_params((qc, np.zeros((2, qc.num_parameters)), 5))
    snapshot = copy.deepcopy(raw)
    (a,) = decode_sampler_params(raw)
    assert raw == snapshot  # the input is not modified
    (b,) = decode_sampler_params(loads(json.dumps(raw)))  # type: ignore[arg-type]
    assert a.shape == b.shape == (2,)
    assert a.shots == b.shots == 5


def test_bare_circuit_and_short_sampler_pubs() -> None:
    qc = QuantumCircuit(1)
    qc.measure_all()
    circuit_tag = json.loads(dumps(qc))
    pubs = decode_sampler_params({"pubs": [circuit_tag, [circuit_tag], [circuit_tag, None]]})
    assert [p.shape for p in pubs] == [(), (), ()]
    assert [p.shots for p in pubs] == [None, None, None]


def test_non_parametric_with_broadcast_shape() -> None:
    qc = QuantumCircuit(1)
    qc.measure_all()
    params = {"pubs": [[json.loads(dumps(qc)), _values_tag(np.zeros((3, 0))), 7]]}
    (pub,) = decode_sampler_params(params)
    assert pub.shape == (3,)


def test_parameter_columns_follow_circuit_order() -> None:
    qc = _ansatz()
    values = np.arange(qc.num_parameters, dtype=float)
    (pub,) = decode_sampler_params(_sampler_params((qc, values)))
    bound = pub.parameter_values.bind_all(pub.circuit)
    expected = qc.assign_parameters(values)
    assert bound[()] == expected


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (lambda p: p.pop("pubs"), "", "no pubs"),
        (lambda p: p.update(pubs={}), "/pubs", "must be a list"),
        (lambda p: p.update(pubs=[]), "/pubs", "empty"),
        (lambda p: p["pubs"].append(5), "/pubs/1", "must be a list"),
        (lambda p: p["pubs"][0].append(1), "/pubs/0", "1 to 3 items"),
        (lambda p: p["pubs"][0].__setitem__(0, "OPENQASM 3.0;"), "/pubs/0/0", "QASM"),
        (lambda p: p["pubs"][0].__setitem__(0, 1), "/pubs/0/0", "QuantumCircuit"),
        (lambda p: p["pubs"][0].__setitem__(1, _values_tag(np.zeros(5))), "/pubs/0/1", "columns"),
        (
            lambda p: p["pubs"][0].__setitem__(1, _values_tag(np.float64(1))),
            "/pubs/0/1",
            "last axis",
        ),
        (
            lambda p: p["pubs"][0].__setitem__(1, _values_tag(np.zeros(6, complex))),
            "/pubs/0/1",
            "real",
        ),
        (lambda p: p["pubs"][0].__setitem__(1, _values_tag([np.nan] * 6)), "/pubs/0/1", "finite"),
        (lambda p: p["pubs"][0].__setitem__(1, None), "/pubs/0/1", "no values"),
        (lambda p: p["pubs"][0].__setitem__(1, {"a": 1}), "/pubs/0/1", "ndarray"),
        (lambda p: p["pubs"][0].__setitem__(2, 0), "/pubs/0/2", "positive"),
        (lambda p: p["pubs"][0].__setitem__(2, -3), "/pubs/0/2", "positive"),
        (lambda p: p["pubs"][0].__setitem__(2, 1.5), "/pubs/0/2", "integer"),
        (lambda p: p["pubs"][0].__setitem__(2, True), "/pubs/0/2", "integer"),
        (
            lambda p: p["pubs"][0].__setitem__(0, {"__type__": "QuantumCircuit", "__value__": "!"}),
            "/pubs/0/0/__value__",
            "base64",
        ),
    ],
)
def test_sampler_validation(mutate: Any, path: str, words: str) -> None:
    qc = _ansatz()
    params = _sampler_params((qc, np.zeros(qc.num_parameters), 10))
    mutate(params)
    error = _error(decode_sampler_params, params)
    assert error.path == path
    assert words in str(error)


def test_sampler_params_not_a_mapping() -> None:
    assert "object" in str(_error(decode_sampler_params, [1]))


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (lambda p: p["pubs"][0].pop(), None, None),  # precision may be left out
        (lambda p: p["pubs"][0].__delitem__(slice(1, 4)), "/pubs/0", "2 to 4 items"),
        (lambda p: p["pubs"][0].__setitem__(1, {"XX": 1}), "/pubs/0/1", "act on 2 qubits"),
        (lambda p: p["pubs"][0].__setitem__(1, {"QQQ": 1}), "/pubs/0/1", "invalid observables"),
        (lambda p: p["pubs"][0].__setitem__(1, {"XXX": "a"}), "/pubs/0/1", "invalid observables"),
        (lambda p: p["pubs"][0].__setitem__(1, [{"XX": 1}, {"XXX": 1}]), "/pubs/0/1", "invalid"),
        (lambda p: p["pubs"][0].__setitem__(1, []), "/pubs/0/1", "empty"),
        (lambda p: p["pubs"][0].__setitem__(3, 0.0), "/pubs/0/3", "positive"),
        (lambda p: p["pubs"][0].__setitem__(3, "x"), "/pubs/0/3", "number"),
        (
            lambda p: p["pubs"][0].__setitem__(1, [{"XXX": 1}] * 4),
            "/pubs/0",
            "invalid estimator pub",
        ),
        (lambda p: p["pubs"][0].__setitem__(2, _values_tag(np.zeros(2))), "/pubs/0/2", "columns"),
    ],
)
def test_estimator_validation(mutate: Any, path: str | None, words: str | None) -> None:
    qc = real_amplitudes(3, reps=1).decompose()
    params = _estimator_params((qc, [{"XXI": 1.0}, {"ZZZ": 0.5}], np.zeros((2, 6)), 0.1))
    mutate(params)
    if path is None:
        (pub,) = decode_estimator_params(params)
        assert pub.precision is None
        return
    error = _error(decode_estimator_params, params)
    assert error.path == path
    assert words is not None
    assert words in str(error)


def test_estimator_observable_forms() -> None:
    qc = real_amplitudes(2, reps=1).decompose()
    circuit = json.loads(dumps(qc))
    values = _values_tag(np.zeros(qc.num_parameters))
    sparse = json.loads(dumps(EstimatorPub.coerce((qc, "ZZ", np.zeros(4))).observables))
    for obs in ["XY", ["XX", "ZZ"], {"XX": 1.0, "IZ": -2}, [[{"XX": 1}], [{"ZZ": 1}]], sparse]:
        (pub,) = decode_estimator_params({"pubs": [[circuit, obs, values, None]]})
        assert pub.observables.num_qubits == 2
