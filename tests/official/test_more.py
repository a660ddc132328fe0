"""Beyond the recorded flows: more of the official client's surface against the local server
(parameter broadcasting, several pubs, job inputs, closed sessions, session re-attach, usage,
job deletion)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import SamplerV2, Session
from qiskit_ibm_runtime.exceptions import IBMRuntimeError, RuntimeJobNotFound

from ._circuits import isa_bell
from ._harness import BACKEND, ServerThread, new_instance
from .conftest import ServiceFactory


def test_broadcast_parameters_and_several_pubs(service: Any) -> None:
    backend = service.backend(BACKEND)
    manager = generate_preset_pass_manager(backend=backend, optimization_level=1, seed_transpiler=3)
    theta = Parameter("θ")
    flips = QuantumCircuit(QuantumRegister(1, "q"), ClassicalRegister(1, "flag"))
    flips.rx(theta, 0)
    flips.measure(0, 0)
    isa_flips = manager.run(flips)
    isa = isa_bell(backend)
    values = np.array([[0.0], [np.pi]])  # |0> then |1>, deterministic
    job = SamplerV2(mode=backend).run([(isa_flips, values, 64), (isa, None, 32)])
    result = job.result()
    assert len(result) == 2
    flags = result[0].data.flag
    assert flags.shape == (2,)
    assert flags.num_shots == 64
    assert flags.get_counts(0) == {"0": 64}
    assert flags.get_counts(1) == {"1": 64}
    assert sum(result[1].data.meas.get_counts().values()) == 32

    # The params the server keeps are what the client sent: the client decodes them back.
    inputs = job.inputs
    assert inputs["version"] == 2
    pubs = inputs["pubs"]
    assert len(pubs) == 2
    circuit, sent_values, shots = pubs[0]
    assert isinstance(circuit, QuantumCircuit)
    assert circuit.num_parameters == 1
    assert np.allclose(sent_values, values)
    assert shots == 64


def test_default_shots_option(service: Any) -> None:
    backend = service.backend(BACKEND)
    sampler = SamplerV2(mode=backend)
    sampler.options.default_shots = 123
    result = sampler.run([isa_bell(backend)]).result()
    assert result[0].data.meas.num_shots == 123


def test_a_closed_session_refuses_jobs(service: Any) -> None:
    backend = service.backend(BACKEND)
    isa = isa_bell(backend)
    session = Session(backend=backend)
    sampler = SamplerV2(mode=session)
    sampler.run([isa], shots=10).result()
    session.close()
    with pytest.raises(IBMRuntimeError, match="closed"):
        sampler.run([isa], shots=10)


def test_session_from_id(service: Any) -> None:
    backend = service.backend(BACKEND)
    with Session(backend=backend) as first:
        SamplerV2(mode=first).run([isa_bell(backend)], shots=10).result()
        again = Session.from_id(first.session_id, service)
        assert again.session_id == first.session_id
        assert again.details()["backend_name"] == BACKEND  # type: ignore[index]
        job = SamplerV2(mode=again).run([isa_bell(backend)], shots=10)
        assert job.session_id == first.session_id
        job.result()


def test_instance_usage(local: ServerThread, make_service: ServiceFactory) -> None:
    service = make_service(instance=new_instance())
    backend = service.backend(BACKEND)
    before = service.usage()
    assert before["usage_consumed_seconds"] == 0
    assert before["usage_remaining_seconds"] == before["usage_limit_seconds"]
    job = SamplerV2(mode=backend).run([isa_bell(backend)], shots=10)
    job.result()
    after = service.usage()
    assert after["usage_consumed_seconds"] == pytest.approx(job.usage(), abs=1e-5)
    assert after["usage_limit_reached"] is False


def test_delete_a_finished_job(make_service: ServiceFactory) -> None:
    service = make_service(instance=new_instance())
    backend = service.backend(BACKEND)
    job = SamplerV2(mode=backend).run([isa_bell(backend)], shots=10)
    job.result()
    service.delete_job(job.job_id())
    with pytest.raises(RuntimeJobNotFound):
        service.job(job.job_id())
    assert service.jobs(limit=None) == []
    with pytest.raises(RuntimeJobNotFound):
        service.delete_job(job.job_id())


def test_another_instance_cannot_see_a_job(make_service: ServiceFactory) -> None:
    owner = make_service(instance=new_instance())
    backend = owner.backend(BACKEND)
    job = SamplerV2(mode=backend).run([isa_bell(backend)], shots=10)
    stranger = make_service(instance=new_instance())
    with pytest.raises(RuntimeJobNotFound):
        stranger.job(job.job_id())
    assert stranger.jobs(limit=None) == []
    job.result()
