"""IBM's "Specify Sampler options" and "Specify Estimator options" guides, ported by adding
``await``, run against the local server.

The guides: quantum.cloud.ibm.com/docs/guides/sampler-options and .../estimator-options (the
``SamplerV2``/``EstimatorV2`` versions). ``least_busy(operational=True, simulator=False)`` is
written ``least_busy(simulator=False)`` here: the ``operational`` filter is the service parity
work's, not the options'.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import random_iqp
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from aioqruntime import AsyncEstimator, AsyncSampler
from aioqruntime.options import EstimatorOptions, SamplerOptions, UnknownOptionError
from tests.client._helpers import local_service


def _options_sent(server: Any, job_id: str) -> dict[str, Any]:
    params: dict[str, Any] = json.loads(server.job(job_id).params_text)
    return params


def _two_isa_circuits(backend: Any) -> tuple[QuantumCircuit, QuantumCircuit]:
    circuit1 = random_iqp(3, seed=1)
    circuit1.measure_all()
    circuit2 = random_iqp(3, seed=2)
    circuit2.measure_all()
    pass_manager = generate_preset_pass_manager(optimization_level=3, backend=backend)
    return pass_manager.run(circuit1), pass_manager.run(circuit2)


async def test_sampler_guide_set_update_and_run() -> None:
    async with local_service() as (server, service):
        backend = await service.least_busy(simulator=False)
        transpiled1, transpiled2 = _two_isa_circuits(backend)

        # Setting shots during primitive initialization
        sampler = AsyncSampler(mode=backend, options={"default_shots": 4096})
        # Setting options after primitive initialization (auto-complete)
        sampler.options.default_shots = 2000
        # Bulk update; default_shots is overridden by shots given to run() or in a PUB.
        sampler.options.update(default_shots=1024, dynamical_decoupling={"sequence_type": "XpXm"})
        # Sample two circuits at 128 shots each.
        job = await sampler.run([transpiled1, transpiled2], shots=128)
        result = await job
        assert [pub.data.meas.num_shots for pub in result] == [128, 128]
        assert _options_sent(server, job.job_id())["options"] == {
            "default_shots": 1024,
            "dynamical_decoupling": {"sequence_type": "XpXm"},
        }

        # Different numbers of shots per PUB.
        sampler.options.default_shots = 500
        job = await sampler.run([(transpiled1, None, 100), (transpiled2, None, 200)])
        assert [pub.data.meas.num_shots for pub in await job] == [100, 200]

        sampler.options.max_execution_time = 2500
        job = await sampler.run([transpiled1])
        assert (await job)[0].data.meas.num_shots == 500
        assert server.job(job.job_id()).cost == 2500


async def test_sampler_guide_examples_that_the_official_client_refuses_too() -> None:
    # The Sampler guide once showed estimator options on SamplerOptions; 0.51.0 refuses them
    # (pydantic ValidationError, a ValueError), and so do we, before anything is sent.
    official = pytest.importorskip("qiskit_ibm_runtime.options")
    with pytest.raises(ValueError):
        official.SamplerOptions(resilience_level=2)
    with pytest.raises(UnknownOptionError, match="resilience_level"):
        SamplerOptions(
            resilience_level=2,  # type: ignore[call-arg]
            resilience={"zne_mitigation": True, "zne": {"noise_factors": [1, 3, 5]}},
        )
    options = SamplerOptions()
    with pytest.raises(ValueError, match="resilience"):
        options.update(default_shots=4000, resilience={"zne_mitigation": True})
    assert options == SamplerOptions()


async def test_estimator_guide_options_class_dict_and_update() -> None:
    async with local_service() as (_server, service):
        backend = await service.least_busy(simulator=False)

        options = EstimatorOptions(
            resilience_level=2,
            resilience={"zne_mitigation": True, "zne": {"noise_factors": [1, 3, 5]}},
        )
        # or...
        same = EstimatorOptions()
        same.resilience_level = 2
        same.resilience.zne_mitigation = True
        same.resilience.zne.noise_factors = [1, 3, 5]
        assert same == options
        estimator = AsyncEstimator(mode=backend, options=options)

        from_dict = AsyncEstimator(
            backend,
            options={
                "resilience_level": 2,
                "resilience": {"zne_mitigation": True, "zne": {"noise_factors": [1, 3, 5]}},
            },
        )
        assert from_dict.options == estimator.options
        # The primitive owns a copy: changing the original afterwards changes nothing.
        options.resilience_level = 0
        assert estimator.options.resilience_level == 2

        later = AsyncEstimator(mode=backend)
        later.options.default_precision = 0.01
        later.options.update(default_precision=0.02, resilience={"zne_mitigation": True})
        assert later.options.default_precision == 0.02
        assert later.options.resilience.zne_mitigation is True

        # "The options attribute is the dataclass Python type": asdict works, and round-trips.
        as_dict = dataclasses.asdict(later.options)
        assert as_dict["resilience"]["zne_mitigation"] is True
        assert AsyncEstimator(backend, options=as_dict).options == later.options


async def test_estimator_guide_precision_and_no_mitigation() -> None:
    async with local_service() as (server, service):
        backend = await service.least_busy(simulator=False)
        transpiled1, transpiled2 = _two_isa_circuits(backend)
        observable = SparsePauliOp("Z" * 3)
        isa_observable1 = observable.apply_layout(transpiled1.layout)
        isa_observable2 = observable.apply_layout(transpiled2.layout)

        estimator = AsyncEstimator(mode=backend)
        # Default precision to use if not specified in run()
        estimator.options.default_precision = 0.01
        # Turn off all error mitigation and suppression
        estimator.options.resilience_level = 0
        # Run two circuits, requiring a precision of .02 for both.
        job = await estimator.run(
            [(transpiled1, isa_observable1), (transpiled2, isa_observable2)], precision=0.02
        )
        result = await job
        assert [pub.metadata["target_precision"] for pub in result] == [0.02, 0.02]
        params = _options_sent(server, job.job_id())
        assert params["options"] == {"default_precision": 0.01}
        assert params["resilience_level"] == 0
