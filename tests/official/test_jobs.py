"""Flows 6-10: EstimatorV2, job cancel, job lookup and listing filters, job-mode SamplerV2 with
metrics/logs/tags/usage, and failed jobs, all through the official client."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import EstimatorV2, SamplerV2
from qiskit_ibm_runtime.exceptions import (
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobNotFound,
)

from ._circuits import bell_counts, isa_bell, ry_pair
from ._harness import BACKEND, ServerThread, new_instance
from .conftest import ServiceFactory

OTHER_BACKEND = "ibm_local27"


@pytest.fixture
def isolated(make_service: ServiceFactory) -> Any:
    """A service on a fresh instance CRN: it sees only the jobs this test submits."""
    return make_service(instance=new_instance())


def test_estimator_job_mode_matches_statevector(service: Any) -> None:
    backend = service.backend(BACKEND)
    circuit, theta = ry_pair()
    isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)
    observable = SparsePauliOp.from_list([("ZZ", 1.0), ("IZ", 0.5), ("XX", 0.3)])
    values = np.array([[0.0], [np.pi / 3], [2.0]])
    precision = 0.01
    estimator = EstimatorV2(mode=backend)
    estimator.options.seed_estimator = 11
    job = estimator.run([(isa, observable.apply_layout(isa.layout), values, precision)])
    result = job.result()
    assert job.status() == "DONE"
    data = result[0].data
    assert data.evs.shape == (3,)
    assert np.allclose(data.stds, precision)
    exact = [
        Statevector(circuit.assign_parameters({theta: float(v[0])})).expectation_value(observable)
        for v in values
    ]
    # Aer samples N(exact, precision) (seeded): 5 precisions is far beyond any draw it makes.
    assert np.allclose(data.evs, np.real(exact), atol=5 * precision), (data.evs, exact)
    assert result[0].metadata["target_precision"] == precision


def test_cancel_a_queued_job_then_a_finished_one(local: ServerThread, service: Any) -> None:
    backend = service.backend(BACKEND)
    isa = isa_bell(backend)
    local.pause(BACKEND)
    try:
        held = SamplerV2(mode=backend).run([isa], shots=50)
        assert held.status() == "QUEUED"
        held.cancel()
        assert held.status() == "CANCELLED"
        assert local.wait_for_job(held.job_id()) == "Cancelled"
        with pytest.raises(RuntimeInvalidStateError):
            held.result()
        # Looked up afresh, the server's state says the same.
        assert service.job(held.job_id()).status() == "CANCELLED"
    finally:
        local.resume(BACKEND)
    done = SamplerV2(mode=backend).run([isa], shots=50)
    done.result()
    with pytest.raises(RuntimeInvalidStateError, match="409"):
        service.job(done.job_id()).cancel()
    with pytest.raises(RuntimeInvalidStateError):
        service.job(held.job_id()).cancel()


def test_job_lookup_listing_and_filters(local: ServerThread, isolated: Any) -> None:
    service = isolated
    backend = service.backend(BACKEND)
    other = service.backend(OTHER_BACKEND)
    isa, other_isa = isa_bell(backend), isa_bell(other)

    sampler = SamplerV2(mode=backend)
    finished = []
    for index in range(3):
        sampler.options.environment.job_tags = ["official", f"n{index}"]
        finished.append(sampler.run([isa], shots=20))
    for job in finished:
        job.result()

    local.pause(OTHER_BACKEND)
    try:
        other_sampler = SamplerV2(mode=other)
        other_sampler.options.environment.job_tags = ["held"]
        held = [other_sampler.run([other_isa], shots=20) for _ in range(19)]
        all_ids = [j.job_id() for j in finished + held]
        assert len(set(all_ids)) == 22

        # service.job(id): the same job, with what the server knows about it.
        first = service.job(finished[0].job_id())
        assert first.job_id() == finished[0].job_id()
        assert first.backend().name == BACKEND
        assert first.status() == "DONE"
        assert first.tags == ["official", "n0"]
        assert first.primitive_id == "sampler"
        assert bell_counts(first.result()[0].data.meas.get_counts())[0] > 0

        # Newest first by default; limit=None pages (20 per request) up to the true count.
        two = service.jobs(limit=2)
        assert [j.job_id() for j in two] == all_ids[::-1][:2]
        everything = service.jobs(limit=None)
        assert [j.job_id() for j in everything] == all_ids[::-1]
        oldest_first = service.jobs(limit=None, descending=False)
        assert [j.job_id() for j in oldest_first] == all_ids
        assert [j.job_id() for j in service.jobs(limit=5, skip=20)] == all_ids[::-1][20:]

        pending = service.jobs(limit=None, pending=True)
        assert sorted(j.job_id() for j in pending) == sorted(j.job_id() for j in held)
        not_pending = service.jobs(limit=10, pending=False)
        assert sorted(j.job_id() for j in not_pending) == sorted(j.job_id() for j in finished)
        on_backend = service.jobs(limit=None, backend_name=BACKEND)
        assert [j.job_id() for j in on_backend] == [j.job_id() for j in finished][::-1]
        tagged = service.jobs(limit=None, job_tags=["official", "n1"])
        assert [j.job_id() for j in tagged] == [finished[1].job_id()]
        assert service.jobs(limit=None, job_tags=["nope"]) == []
        assert len(service.jobs(limit=None, program_id="sampler")) == 22

        created = [service.job(j.job_id()).creation_date for j in finished]
        assert all(c is not None for c in created)
        after = service.jobs(limit=None, created_after=created[1], descending=False)
        assert [j.job_id() for j in after][:1] == [finished[2].job_id()]
        assert len(after) == 20
        before = service.jobs(limit=None, created_before=created[1] + timedelta(microseconds=1))
        assert [j.job_id() for j in before] == [finished[1].job_id(), finished[0].job_id()]
    finally:
        local.resume(OTHER_BACKEND)
    for job in held:
        assert local.wait_for_job(job.job_id()) == "Completed"
    assert service.jobs(limit=None, pending=True) == []

    with pytest.raises(RuntimeJobNotFound):
        service.job("dnotexist00000000000")


def test_job_mode_sampler_metrics_logs_tags_usage(service: Any) -> None:
    backend = service.backend(BACKEND)
    sampler = SamplerV2(mode=backend)
    sampler.options.environment.job_tags = ["first"]
    sampler.options.simulator.seed_simulator = 99
    job = sampler.run([isa_bell(backend)], shots=400)
    assert job.session_id is None
    zeros, ones = bell_counts(job.result()[0].data.meas.get_counts())
    assert zeros + ones == 400
    assert 0.35 * 400 <= zeros <= 0.65 * 400

    metrics = job.metrics()
    assert {"created", "running", "finished"} <= set(metrics["timestamps"])
    assert metrics["usage"]["status"] == "complete"
    assert metrics["usage"]["qpu_charge_time_seconds"] >= 0
    usage = job.usage()
    assert usage is not None and usage >= 0
    assert usage == job.usage(partial=True)

    logs = job.logs()
    assert isinstance(logs, str)
    assert "Completed" in logs

    assert job.tags == ["first"]
    assert sorted(job.update_tags(["alpha", "beta"])) == ["alpha", "beta"]
    assert sorted(job.tags) == ["alpha", "beta"]
    assert sorted(service.job(job.job_id()).tags) == ["alpha", "beta"]
    assert job.usage_estimation["quantum_seconds"] is not None


def test_failed_job_raises_with_reason_and_code(local: ServerThread, service: Any) -> None:
    backend = service.backend(BACKEND)
    reason = "Calibration drift beyond tolerance"
    local.fail_next_job(BACKEND, reason, 1517)
    job = SamplerV2(mode=backend).run([isa_bell(backend)], shots=10)
    with pytest.raises(RuntimeJobFailureError) as caught:
        job.result()
    text = str(caught.value)
    assert reason in text
    assert "1517" in text
    assert job.status() == "ERROR"
    message = job.error_message()
    assert message is not None
    assert reason in message and "1517" in message
    assert service.job(job.job_id()).status() == "ERROR"
