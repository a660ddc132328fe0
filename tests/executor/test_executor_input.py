"""Bad input to the executor-based primitives is refused before anything is sent; the results
parser turns any malformed document into a CodecError (hypothesis); folding is lossless."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from aioqruntime import CodecError, InvalidInputError
from aioqruntime.executor_estimator import AsyncEstimator as ExecutorEstimator
from aioqruntime.executor_sampler import AsyncSampler as ExecutorSampler
from aioqruntime.primitives._executor import decode_program_result
from aioqruntime.primitives._executor_sampler import (
    _fold_randomizations,
    bit_array_from_bits,
    twirling_shots,
)
from tests.client._helpers import api_requests, local_service


def _bell(measure: bool = True) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    if measure:
        circuit.measure_all()
    return circuit


def _isa(backend: Any, circuit: QuantumCircuit) -> QuantumCircuit:
    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)


@pytest.mark.parametrize(
    "options",
    [
        {"resilience": {"zne_mitigation": True, "zne": {"amplifier": "pea"}}},  # no noise model
        {"resilience": {"zne": {"noise_factors": [1]}}},
        {"resilience": {"zne": {"noise_factors": [0.5, 1, 3]}}},
        {"resilience": {"zne": {"extrapolator": "double_exponential"}}},
        {"resilience": {"zne": {"extrapolator": "cubic_spline"}}},
        {"resilience": {"pec_mitigation": True}},
        {"resilience": {"pec_mitigation": True, "layer_noise_model": ["not a pair"]}},
        {"resilience": {"pec_mitigation": True, "zne_mitigation": True}},
        {"resilience_level": 3},
        {"default_precision": 0},
        {"dynamical_decoupling": {"enable": True}},
        {"twirling": {"num_randomizations": 0}},
        {"twirling": {"strategy": "sometimes"}},
        {"resilience": {"unknown": True}},
    ],
)
async def test_estimator_options_refused_when_built(options: dict[str, Any]) -> None:
    async with local_service() as (_server, service):
        backend = await service.backend("ibm_local5")
        with pytest.raises(InvalidInputError):
            ExecutorEstimator(backend, options=options)


@pytest.mark.parametrize(
    "options",
    [
        {"default_shots": 0},
        {"execution": {"meas_type": "kerneled"}, "twirling": {"enable_measure": True}},
        {"execution": {"meas_type": "raw"}},
        {"twirling": {"group": "clifford"}},
        {"twirling": {"enable_gates": "yes"}},
    ],
)
async def test_sampler_options_refused_when_built(options: dict[str, Any]) -> None:
    async with local_service() as (_server, service):
        backend = await service.backend("ibm_local5")
        with pytest.raises(InvalidInputError):
            ExecutorSampler(backend, options=options)


async def test_sampler_pubs_refused_before_anything_is_sent() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        isa = _isa(backend, _bell())
        sampler = ExecutorSampler(backend)
        with pytest.raises(InvalidInputError, match="same number of shots"):
            await sampler.run([(isa, None, 10), (isa, None, 20)])
        with pytest.raises(InvalidInputError, match="not supported"):
            await sampler.run([_bell()])  # not an ISA circuit
        boxed = isa.copy()
        with boxed.box():
            boxed.x(0)
        with pytest.raises(InvalidInputError, match="box"):
            await sampler.run([boxed])
        with pytest.raises(InvalidInputError, match="exceed"):
            await sampler.run([isa], shots=10**9)
        with pytest.raises(InvalidInputError, match="list of pubs"):
            await sampler.run(isa)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="shots"):
            await sampler.run([isa], shots=0)
        with pytest.raises(InvalidInputError, match="dry_run"):
            await sampler.run([isa], dry_run=True)
        assert api_requests(server, "POST", "/jobs") == []


async def test_estimator_pubs_refused_before_anything_is_sent() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        isa = _isa(backend, _bell(measure=False))
        zz = SparsePauliOp("ZZ").apply_layout(isa.layout)
        projector = "0" + "I" * (isa.num_qubits - 1)  # |0><0| on one qubit
        estimator = ExecutorEstimator(backend)
        with pytest.raises(InvalidInputError, match="projector"):
            await estimator.run([(isa, projector)])
        with pytest.raises(InvalidInputError, match="same precision"):
            await estimator.run([(isa, zz, None, 0.1), (isa, zz, None, 0.2)])
        with pytest.raises(InvalidInputError, match="precision"):
            await estimator.run([(isa, zz)], precision=-1)
        with pytest.raises(InvalidInputError, match="estimator pub"):
            await estimator.run([(isa, "not an observable")])
        with pytest.raises(InvalidInputError, match="dry_run"):
            await estimator.run([(isa, zz)], dry_run=True)
        assert api_requests(server, "POST", "/jobs") == []


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(["schema_version", "data", "metadata", "x"]), inner
                )
            ),
            max_leaves=20,
        ).map(json.dumps),
    )
)
def test_any_malformed_result_document_is_a_codec_error(text: str) -> None:
    try:
        decode_program_result(text)
    except CodecError:
        pass
    else:  # only a valid v2.0 document may decode, and the strategies cannot build one
        raise AssertionError(f"decoded {text!r}")


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 4),
    st.lists(st.integers(1, 3), max_size=2),
    st.integers(1, 5),
    st.integers(1, 3),
)
def test_folding_randomizations_keeps_every_shot_of_its_sweep_point(
    randomizations: int, sweep: list[int], shots: int, bits: int
) -> None:
    data = (
        np.random.default_rng(0).integers(0, 2, (randomizations, *sweep, shots, bits)).astype(bool)
    )
    folded = _fold_randomizations(data, len(sweep), averaged=False)
    assert folded.shape == (*sweep, randomizations * shots, bits)
    for index in np.ndindex(*sweep):
        expected = np.concatenate([data[(r, *index)] for r in range(randomizations)])
        assert np.array_equal(folded[index], expected)


@given(st.integers(1, 100_000))
def test_automatic_twirling_shots_cover_the_request(shots: int) -> None:
    randomizations, per = twirling_shots(shots, "auto", "auto")
    assert per >= 64
    assert randomizations * per >= shots
    assert (randomizations - 1) * per < shots


@pytest.mark.parametrize(
    ("official_name", "ours"),
    [
        ("ExecutorOptions", "ExecutorOptions"),
        ("SamplerOptions", "ExecutorSamplerOptions"),
        ("EstimatorOptions", "ExecutorEstimatorOptions"),
    ],
)
def test_the_official_option_trees_load_as_ours(official_name: str, ours: str) -> None:
    """Every field of the official options (defaults, and a customised copy) is one of ours."""
    import dataclasses

    from qiskit_ibm_runtime import options_models

    from aioqruntime.primitives import _executor_options

    official = getattr(options_models, official_name)()
    official.environment.job_tags = ["a"]
    official.max_execution_time = 60
    dumped = official.model_dump()
    built = _executor_options.build_options(getattr(_executor_options, ours), dumped)
    record = dataclasses.asdict(built)
    assert record["environment"]["job_tags"] == ["a"]
    assert record["max_execution_time"] == 60

    def names(tree: dict[str, Any], prefix: str = "") -> set[str]:
        found = set()
        for key, value in tree.items():
            found.add(prefix + key)
            if isinstance(value, dict) and key != "experimental":
                found |= names(value, f"{prefix}{key}.")
        return found

    assert names(record) == names(dumped)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 4), max_size=3), st.integers(1, 70), st.integers(0, 2**32 - 1))
def test_bit_packing_matches_qiskits_from_bool_array(
    leading: list[int], bits: int, seed: int
) -> None:
    from qiskit.primitives.containers import BitArray

    data = np.random.default_rng(seed).integers(0, 2, (*leading, bits)).astype(bool)
    if data.ndim < 2:
        data = data[np.newaxis]
    ours = bit_array_from_bits(data)
    theirs = BitArray.from_bool_array(data, order="little")
    assert ours.num_bits == theirs.num_bits
    assert np.array_equal(ours.array, theirs.array)
