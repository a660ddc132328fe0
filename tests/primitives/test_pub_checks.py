"""What the official primitives refuse client-side, refused here before any request too."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
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
