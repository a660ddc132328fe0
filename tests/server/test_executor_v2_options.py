"""The V2 ``sampler``/``estimator`` programs honour their twirling and resilience options (shot
accounting, real randomizations, readout mitigation under ``noise``) and say what they applied."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit, transpile
from qiskit.primitives.containers import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer.primitives import SamplerV2

from aioqruntime.codec import encode_estimator_pubs, loads
from aioqruntime.server import LocalRuntimeServer, ServerConfig
from aioqruntime.server._program_executor import run_twirled

from .conftest import DEVICES, Api, bell, estimator_body, sampler_body


async def result_of(api: Api, server: LocalRuntimeServer, body: dict[str, Any]) -> Any:
    job_id = await api.submit(body)
    await server.wait_for_job_state(job_id, "Completed")
    response = await api.request("GET", f"/jobs/{job_id}/results")
    assert response.status == 200
    return loads(await response.text())


def _bell_rows(bits: Any) -> set[str]:
    return set(bits.get_counts())


@pytest.mark.parametrize(
    ("twirling", "pub_shots", "shots", "randomizations"),
    [
        # Both set: their product beats default_shots (1000).
        ({"num_randomizations": 4, "shots_per_randomization": 25}, None, 100, 4),
        # The pub's shots are always obeyed; 300 over 4 randomizations of 75.
        ({"num_randomizations": 4}, 300, 300, 4),
        # Both auto: max(64, ceil(1000 / 32)) = 64 per randomization, ceil(1000 / 64) = 16.
        ({}, None, 1024, 16),
    ],
    ids=["product", "pub-shots", "auto"],
)
async def test_sampler_twirling_shot_accounting(
    api: Api,
    server: LocalRuntimeServer,
    twirling: dict[str, Any],
    pub_shots: int | None,
    shots: int,
    randomizations: int,
) -> None:
    options = {"default_shots": 1000, "twirling": {"enable_measure": True, **twirling}}
    result = await result_of(api, server, sampler_body(shots=pub_shots, options=options))
    bits = result[0].data.meas
    assert bits.num_shots == shots == result[0].metadata["shots"]
    assert result[0].metadata["num_randomizations"] == randomizations
    # The flips were undone: a Bell pair reads 00 or 11 only, and both occur.
    assert _bell_rows(bits) == {"00", "11"}


async def test_sampler_without_twirling_says_nothing_of_randomizations(
    api: Api, server: LocalRuntimeServer
) -> None:
    result = await result_of(api, server, sampler_body(shots=123))
    assert result[0].data.meas.num_shots == 123
    assert "num_randomizations" not in result[0].metadata


def test_twirled_sampling_really_draws_distinct_randomizations() -> None:
    """Each randomization binds its own Pauli dressing: the template runs with distinct values."""
    runs: list[Any] = []

    class Recording(SamplerV2):  # type: ignore[misc]
        def run(self, pubs: Any, *, shots: int | None = None) -> Any:
            runs.extend(pubs)
            return super().run(pubs, shots=shots)

    circuit = bell()
    bits = run_twirled(
        circuit,
        BindingsArray(shape=()),
        num_randomizations=12,
        shots_per_randomization=20,
        enable_gates=True,
        enable_measures=True,
        strategy="active-accum",
        sampler=Recording(seed=5),
        noise_model=None,
        rng=np.random.default_rng(5),
    )
    assert bits is not None and bits["meas"].shape == (240, 2)
    assert {tuple(row) for row in bits["meas"].tolist()} == {(False, False), (True, True)}
    (pub,) = runs
    values = pub.parameter_values.as_array()
    assert values.shape[0] == 12
    assert len({tuple(np.round(row, 6)) for row in values}) > 1


def test_untwirlable_circuits_are_reported_not_faked() -> None:
    circuit = QuantumCircuit(1, 1)
    circuit.x(0)
    circuit.measure(0, 0)
    with circuit.if_test((circuit.clbits[0], 1)):
        circuit.x(0)
    circuit.measure(0, 0)
    twirled = run_twirled(
        circuit,
        BindingsArray(shape=()),
        num_randomizations=2,
        shots_per_randomization=4,
        enable_gates=True,
        enable_measures=True,
        strategy="active-accum",
        sampler=SamplerV2(),
        noise_model=None,
        rng=np.random.default_rng(1),
    )
    assert twirled is None


async def test_estimator_twirling_product_sets_the_shots_and_metadata_tells(
    api: Api, server: LocalRuntimeServer
) -> None:
    options = {
        "default_precision": 0.05,
        "default_shots": 400,
        "twirling": {
            "enable_gates": True,
            "enable_measure": True,
            "strategy": "active",
            "num_randomizations": 16,
            "shots_per_randomization": 100,
        },
    }
    body = estimator_body(SparsePauliOp("ZZ"), options=options)
    result = await result_of(api, server, body)
    assert result[0].metadata["shots"] == 1600
    assert result[0].metadata["num_randomizations"] == 16
    assert result.metadata["twirling"] == {
        "enable_gates": True,
        "enable_measure": True,
        "num_randomizations": 16,
        "shots_per_randomization": 100,
        "strategy": "active",
    }
    assert result.metadata["resilience"] == {
        "measure_mitigation": True,
        "zne_mitigation": False,
        "pec_mitigation": False,
    }
    assert result.metadata["dynamical_decoupling"] == {"enable": False}
    # <ZZ> of a Bell pair is 1; the standard error is that of the 1600 shots taken.
    assert abs(float(result[0].data.evs) - 1.0) < 5 / 40
    assert float(result[0].data.stds) == pytest.approx(1 / 40)


async def test_estimator_level_zero_twirls_and_mitigates_nothing(
    api: Api, server: LocalRuntimeServer
) -> None:
    body = estimator_body(SparsePauliOp("ZZ"), precision=0.02)
    body["params"]["resilience_level"] = 0
    result = await result_of(api, server, body)
    assert result.metadata["twirling"]["enable_measure"] is False
    assert result.metadata["resilience"]["measure_mitigation"] is False
    assert result[0].metadata["num_randomizations"] == 1
    assert result[0].metadata["shots"] == 2500


def _flipped_qubit_pub(level: int, measure_mitigation: bool | None) -> dict[str, Any]:
    circuit = QuantumCircuit(1)
    circuit.x(0)
    isa = transpile(circuit, backend=DEVICES["ibm_local5"].backend(), initial_layout=[0])
    observable = SparsePauliOp("Z").apply_layout(isa.layout)
    pub = EstimatorPub.coerce((isa, observable), 0.001)
    options: dict[str, Any] = {"simulator": {"seed_simulator": 9}}
    if measure_mitigation is not None:
        options["resilience"] = {"measure_mitigation": measure_mitigation}
    return {
        "program_id": "estimator",
        "backend": "ibm_local5",
        "params": {
            "pubs": encode_estimator_pubs([pub]),
            "options": options,
            "version": 2,
            "resilience_level": level,
        },
    }


@pytest.mark.parametrize("config", [ServerConfig(noise=True)])
async def test_noisy_estimator_mitigates_readout_from_level_one(
    api: Api, server: LocalRuntimeServer
) -> None:
    properties = await api.json("GET", "/backends/ibm_local5/properties")
    readout = {r["name"]: r["value"] for r in properties["qubits"][0]}
    p01, p10 = readout["prob_meas0_prep1"], readout["prob_meas1_prep0"]
    raw = await result_of(api, server, _flipped_qubit_pub(0, None))
    mitigated = await result_of(api, server, _flipped_qubit_pub(1, None))
    twirled_only = await result_of(api, server, _flipped_qubit_pub(1, False))
    assert raw.metadata["resilience"]["measure_mitigation"] is False
    assert mitigated.metadata["resilience"]["measure_mitigation"] is True
    assert twirled_only.metadata["resilience"]["measure_mitigation"] is False
    # <Z> of |1> is -1, shrunk by gate noise alone once readout is mitigated (each value is
    # simulated to +-0.001). Read out, a ±1 outcome s averages f·s + d with f = 1 - p01 - p10;
    # the offset d = p01 - p10 is there unless measurements are twirled (level 1 twirls them).
    exact = float(mitigated[0].data.evs)
    assert exact < -0.9
    fidelity = 1 - p01 - p10
    assert float(raw[0].data.evs) == pytest.approx(fidelity * exact + (p01 - p10), abs=0.005)
    assert float(twirled_only[0].data.evs) == pytest.approx(fidelity * exact, abs=0.005)
    assert abs(p01 - p10) > 0.001  # the device's readout is asymmetric: the two cases differ


@pytest.mark.parametrize(
    ("twirling", "needle"),
    [
        ({"num_randomizations": 0}, "twirling.num_randomizations"),
        ({"shots_per_randomization": "many"}, "twirling.shots_per_randomization"),
        ({"strategy": "sometimes"}, "twirling.strategy"),
        ({"enable_measure": "yes"}, "twirling.enable_measure"),
    ],
)
async def test_bad_twirling_options_are_refused(
    api: Api, twirling: dict[str, Any], needle: str
) -> None:
    body = sampler_body(options={"twirling": twirling})
    answer = await api.json("POST", "/jobs", json=body, status=400)
    assert needle in answer["errors"][0]["message"]


def _z_value(label: str, probabilities: np.ndarray) -> float:
    """<label> of a 3-bit distribution (labels are Z/I strings, qubit 0 rightmost)."""
    total = 0.0
    for outcome, probability in enumerate(probabilities):
        sign = 1
        for qubit in range(3):
            if label[2 - qubit] == "Z" and (outcome >> qubit) & 1:
                sign = -sign
        total += sign * probability
    return total


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.floats(0.01, 1.0), min_size=8, max_size=8),
    errors=st.lists(st.tuples(st.floats(0, 0.2), st.floats(0, 0.2)), min_size=3, max_size=3),
    label=st.sampled_from(["ZZZ", "ZIZ", "IZI", "ZZI", "III"]),
)
def test_readout_model_matches_confusing_the_outcomes(
    weights: list[float], errors: list[tuple[float, float]], label: str
) -> None:
    """The observable rewrite equals reading every outcome through per-qubit confusion."""
    from qiskit.primitives.containers import ObservablesArray

    from aioqruntime.server._worker import _with_readout_error

    true = np.array(weights) / sum(weights)
    confused = np.zeros(8)
    for outcome in range(8):
        for read in range(8):
            chance = 1.0
            for qubit, (p01, p10) in enumerate(errors):
                bit, seen = (outcome >> qubit) & 1, (read >> qubit) & 1
                flip = p01 if bit else p10
                chance *= flip if bit != seen else 1 - flip
            confused[read] += true[outcome] * chance
    rewritten = _with_readout_error(
        ObservablesArray({label: 1.0}), 3, errors, twirled=False
    ).tolist()
    predicted = sum(coeff * _z_value(term, true) for term, coeff in rewritten.items())
    # (ObservablesArray drops terms whose coefficients are below ~1e-8.)
    assert predicted == pytest.approx(_z_value(label, confused), abs=1e-7)


def test_estimator_gate_twirl_draws_one_binding_row_per_randomization() -> None:
    from qiskit.circuit import Parameter

    from aioqruntime.server._program_executor import twirled_gate_bindings

    theta = Parameter("t")
    circuit = QuantumCircuit(2)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    isa = transpile(circuit, backend=DEVICES["ibm_local5"].backend(), optimization_level=1)
    bindings = BindingsArray({theta: np.array([[0.1], [0.2], [0.3]])})
    dressed = twirled_gate_bindings(
        isa,
        bindings,
        num_randomizations=6,
        strategy="active-accum",
        extra_axes=1,
        rng=np.random.default_rng(3),
    )
    assert dressed is not None
    template, values = dressed
    assert values.shape == (6, 1, 3)
    rows = values.as_array(template.parameters)
    assert len({tuple(np.round(rows[k, 0, 0], 6)) for k in range(6)}) > 1


@pytest.mark.parametrize("config", [ServerConfig(noise=True)])
async def test_noisy_estimator_twirls_gates_and_keeps_the_pub_shape(
    api: Api, server: LocalRuntimeServer
) -> None:
    from qiskit.circuit import Parameter

    theta = Parameter("t")
    circuit = QuantumCircuit(2)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    isa = transpile(circuit, backend=DEVICES["ibm_local5"].backend(), optimization_level=1)
    observables = [
        [SparsePauliOp("ZZ").apply_layout(isa.layout)],
        [SparsePauliOp("IZ").apply_layout(isa.layout)],
    ]
    angles = np.array([[0.0], [np.pi / 3], [2.0]])
    pub = EstimatorPub.coerce((isa, observables, angles), 0.01)
    options = {
        "twirling": {"enable_gates": True, "num_randomizations": 8},
        "simulator": {"seed_simulator": 4},
    }
    body = {
        "program_id": "estimator",
        "backend": "ibm_local5",
        "params": {"pubs": encode_estimator_pubs([pub]), "options": options, "version": 2},
    }
    result = await result_of(api, server, body)
    assert result.metadata["twirling"]["enable_gates"] is True
    assert result[0].metadata["num_randomizations"] == 8
    evs, stds = np.asarray(result[0].data.evs), np.asarray(result[0].data.stds)
    assert evs.shape == stds.shape == (2, 3)
    np.testing.assert_allclose(stds, 0.01)
    # Gate and relaxation errors are percent-level: <ZZ> stays near 1 and <Z0> near cos(t).
    np.testing.assert_allclose(evs[0], 1.0, atol=0.1)
    np.testing.assert_allclose(evs[1], np.cos(angles[:, 0]), atol=0.1)


@pytest.mark.parametrize(
    ("options", "span_type"),
    [
        ({}, "DoubleSliceSpan"),
        (
            {"twirling": {"enable_measure": True, "num_randomizations": 4}},
            "TwirledSliceSpanV2",
        ),
    ],
    ids=["plain", "twirled"],
)
async def test_sampler_results_carry_one_execution_span_per_pub(
    api: Api, server: LocalRuntimeServer, options: dict[str, Any], span_type: str
) -> None:
    from aioqruntime.codec import ExecutionSpans

    body = sampler_body(shots=200, options=options)
    body["params"]["pubs"] = body["params"]["pubs"] * 2  # two pubs
    result = await result_of(api, server, body)
    spans = result.metadata["execution"]["execution_spans"]
    assert isinstance(spans, ExecutionSpans)
    assert [type(span).__name__ for span in spans] == [span_type] * 2
    assert spans.pub_idxs == [0, 1]
    for index, span in enumerate(spans):
        assert span.pub_idxs == [index]
        bits = result[index].data.meas
        mask = span.mask(index)
        assert mask.shape == (*bits.shape, bits.num_shots) == (200,)
        assert mask.all()  # every shot of the pub came from its span
        assert span.start <= span.stop
    assert spans[0].stop <= spans[1].start  # run one after the other
