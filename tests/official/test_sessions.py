"""Flows 3-5: a Session with SamplerV2, Session.cancel() of a queued job, a Batch of jobs."""

from __future__ import annotations

from typing import Any

import pytest
from qiskit_ibm_runtime import Batch, SamplerV2, Session
from qiskit_ibm_runtime.exceptions import IBMRuntimeError, RuntimeInvalidStateError

from ._circuits import bell_counts, isa_bell
from ._harness import BACKEND, ServerThread, new_instance
from .conftest import ServiceFactory

SHOTS = 1000


def test_session_sampler_bell(local: ServerThread, service: Any) -> None:
    backend = service.backend(BACKEND)
    isa = isa_bell(backend)
    with Session(backend=backend) as session:
        assert session.session_id
        sampler = SamplerV2(mode=session)
        sampler.options.simulator.seed_simulator = 1234
        job = sampler.run([isa], shots=SHOTS)
        assert job.session_id == session.session_id
        result = job.result()
        assert job.status() == "DONE"
        counts = result[0].data.meas.get_counts()
        zeros, ones = bell_counts(counts)
        assert zeros + ones == SHOTS
        # Ideal simulation: a binomial(1000, 1/2) split; 35-65 % is more than 9 sigma wide.
        assert 350 <= zeros <= 650
        assert result[0].metadata["shots"] == SHOTS

        details = session.details()
        assert details is not None
        assert details["id"] == session.session_id
        assert details["backend_name"] == BACKEND
        assert details["mode"] == "dedicated"
        assert details["state"] == "active"
        assert details["accepting_jobs"] is True
        assert details["max_time"] == 28800
        assert isinstance(details["interactive_timeout"], int)
        assert details["started_at"] and details["activated_at"]
        assert details["last_job_started"] and details["last_job_completed"]
        assert details["closed_at"] is None
        assert details["usage_time"] >= 0
        assert [t["status"] for t in details["timestamps"]] == ["open", "active"]
        assert session.status() == "In progress, accepting new jobs"
        session_id = session.session_id
    # __exit__ closed it: no new jobs, and with none pending the session is closed.
    assert session.status() == "Closed"
    closed = session.details()
    assert closed is not None
    assert closed["accepting_jobs"] is False
    assert closed["closed_at"] is not None
    assert local.call(lambda: local.server.session(session_id).state.value) == "closed"


def test_session_with_max_time_sends_max_ttl(local: ServerThread, service: Any) -> None:
    backend = service.backend(BACKEND)
    with Session(backend=backend, max_time=600) as session:
        assert session.details()["max_time"] == 600  # type: ignore[index]
        assert session.status() == "Pending"


def test_session_cancel_cancels_the_queued_job(
    local: ServerThread, make_service: ServiceFactory
) -> None:
    service = make_service(instance=new_instance())
    backend = service.backend(BACKEND)
    local.pause(BACKEND)
    try:
        session = Session(backend=backend, max_time=600)
        job = SamplerV2(mode=session).run([isa_bell(backend)], shots=SHOTS)
        assert job.status() == "QUEUED"
        session.cancel()
        assert job.status() == "CANCELLED"
        assert local.wait_for_job(job.job_id()) == "Cancelled"
        with pytest.raises(RuntimeInvalidStateError):
            job.result()
        assert session.status() == "Closed"
    finally:
        local.resume(BACKEND)
    assert [j.job_id() for j in service.jobs(session_id=session.session_id, limit=None)] == [
        job.job_id()
    ]
    # A cancelled session refuses new work.
    with pytest.raises(IBMRuntimeError, match="closed"):
        SamplerV2(mode=session).run([isa_bell(backend)], shots=SHOTS)


def test_batch_runs_every_job(local: ServerThread, make_service: ServiceFactory) -> None:
    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager

    service = make_service(instance=new_instance())
    backend = service.backend(BACKEND)
    manager = generate_preset_pass_manager(backend=backend, optimization_level=1, seed_transpiler=1)
    expected = ["000", "101", "110"]
    circuits = []
    for bits in expected:
        circuit = QuantumCircuit(3)
        for position, bit in enumerate(reversed(bits)):
            if bit == "1":
                circuit.x(position)
        circuit.measure_all()
        circuits.append(manager.run(circuit))
    with Batch(backend=backend) as batch:
        sampler = SamplerV2(mode=batch)
        jobs = [sampler.run([isa], shots=200) for isa in circuits]
        assert len({job.job_id() for job in jobs}) == 3
        for job, bits in zip(jobs, expected, strict=True):
            assert job.result()[0].data.meas.get_counts() == {bits: 200}
            assert job.session_id == batch.session_id
        details = batch.details()
        assert details is not None
        assert details["mode"] == "batch"
        assert details["backend_name"] == BACKEND
    listed = service.jobs(session_id=batch.session_id, limit=None)
    assert sorted(j.job_id() for j in listed) == sorted(j.job_id() for j in jobs)
    assert batch.status() == "Closed"
