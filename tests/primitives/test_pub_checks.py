"""What the official primitives refuse client-side, refused here before any request too."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp

from aioqruntime import InvalidInputError
from aioqruntime.primitives import AsyncEstimator, AsyncSampler
from tests.client._helpers import api_requests, local_service, x_pattern


def _with_register(name: str, size: int) -> QuantumCircuit:
    circuit = QuantumCircuit(QuantumRegister(5, "q"))
    circuit.add_register(ClassicalRegister(size, name))
    if size:
        circuit.measure(0, 0)
    return circuit


def _dynamic() -> QuantumCircuit:
    circuit = QuantumCircuit(5, 1)
    circuit.measure(0, 0)
    with circuit.if_test((circuit.clbits[0], 1)):
        circuit.x(1)
    circuit.measure(1, 0)
    return circuit


@pytest.mark.parametrize(
    ("circuit", "options", "match"),
    [
        (_with_register("c0", 0), {}, "has size 0"),
        (_with_register("class", 1), {}, "not a keyword"),
        (_with_register("a-b", 1), {}, "must be a Python identifier"),
        (_dynamic(), {"dynamical_decoupling": {"enable": True}}, "dynamic circuits"),
    ],
)
async def test_sampler_pubs_the_official_refuses(
    circuit: QuantumCircuit, options: dict[str, Any], match: str
) -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        with pytest.raises(InvalidInputError, match=match):
            await AsyncSampler(backend, options=options).run([circuit], shots=2)
        assert api_requests(server, "POST", "/jobs") == []
        # The dynamic circuit itself is fine without dynamical decoupling.
        if options:
            await (await AsyncSampler(backend).run([circuit], shots=2))


async def test_estimator_empty_observables_are_refused_before_sending() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        circuit = x_pattern(1, 1, 5).remove_final_measurements(inplace=False)
        estimator = AsyncEstimator(backend)
        with pytest.raises(InvalidInputError, match="observables array is empty"):
            await estimator.run([(circuit, np.array([], dtype=object))])
        assert api_requests(server, "POST", "/jobs") == []
        await (await estimator.run([(circuit, SparsePauliOp("IIIIZ"))]))


def _rzz(angle: Any) -> QuantumCircuit:
    circuit = QuantumCircuit(5, 1)
    circuit.rzz(angle, 0, 1)
    circuit.measure(0, 0)
    return circuit


@pytest.mark.parametrize(
    ("pub", "match"),
    [
        (_rzz(2.0), r"got 2\.0;"),
        (_rzz(-0.1), r"got -0\.1;"),
        ((_rzz(Parameter("t")), [[0.1], [1.7]]), r"got 1\.7 \(from t"),
        ((_rzz(2 * Parameter("t")), {"t": [0.5, 0.9]}), r"got 1\.8 \(from 2\*t"),
    ],
)
async def test_rzz_angles_outside_the_calibrated_range_are_refused_on_a_device(
    pub: Any, match: str
) -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        with pytest.raises(
            InvalidInputError, match=f"rzz takes angles in \\[0, pi/2\\] only, {match}"
        ):
            await AsyncSampler(backend).run([pub], shots=2)
        assert api_requests(server, "POST", "/jobs") == []


def test_rzz_angles_inside_the_range_pass_the_check() -> None:
    from qiskit.primitives.containers.sampler_pub import SamplerPub

    from aioqruntime.primitives._pub_checks import check_rzz_angles

    for pub in [_rzz(0.0), _rzz(math.pi / 2), (_rzz(Parameter("t")), [[0.0], [1.5]])]:
        check_rzz_angles(0, SamplerPub.coerce(pub))
