"""Flows 1-2: the official client starts up against the local server, and reads its backends."""

from __future__ import annotations

from typing import Any

import pytest
from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2

from ._circuits import isa_bell
from ._harness import BACKEND, ServerThread, point_client_at
from .conftest import ServiceFactory


def _init_requests(local: ServerThread, build: Any) -> tuple[Any, list[tuple[str, str]]]:
    start = local.request_count()
    built = build()
    seen = [(r.method, r.path) for r in local.requests_since(start)]
    return built, seen


@pytest.mark.parametrize("lookup", [True, False], ids=["global-search", "experimental-flag"])
def test_service_starts_both_ways(
    local: ServerThread, make_service: ServiceFactory, lookup: bool
) -> None:
    service, seen = _init_requests(local, lambda: make_service(lookup=lookup))
    assert isinstance(service, QiskitRuntimeService)
    assert service.active_account()["instance"] == local.instance
    iam = [r for r in seen if r == ("POST", "/identity/token")]
    lookups = [r for r in seen if r[1].startswith(("/v3/resources/search", "/catalog/"))]
    if lookup:
        # Two token managers (instance lookup + runtime client), then search and catalog.
        assert len(iam) == 2
        assert ("POST", "/v3/resources/search") in lookups
        assert any(path.startswith("/catalog/api/v1/") for _, path in lookups)
        assert [i["crn"] for i in service.instances()] == [local.instance]
    else:
        assert len(iam) == 1
        assert lookups == []
    assert seen[-1] == ("GET", "/api/v1/backends")
    assert {b.name for b in service.backends()} == {"ibm_local5", "ibm_local27"}


def test_service_from_environment_only(
    local: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Variant B: ``QiskitRuntimeService()`` with nothing but environment variables."""
    point_client_at(monkeypatch, local, lookup=True)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", local.token)
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", local.instance)
    monkeypatch.setenv("QISKIT_IBM_URL", local.url + "/experimental/api/v1")
    service, seen = _init_requests(local, QiskitRuntimeService)
    assert seen[-1] == ("GET", "/experimental/api/v1/backends")
    backend = service.backend(BACKEND)
    assert backend.num_qubits == 5
    # The whole flow works under the /experimental prefix too.
    job = SamplerV2(mode=backend).run([isa_bell(backend)], shots=100)
    counts = job.result()[0].data.meas.get_counts()
    assert sum(counts.values()) == 100
    assert set(counts) <= {"00", "11"}


def test_explicit_experimental_url(local: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """The constructor with ``url=<server>/experimental/api/v1`` and no ``url_resolver``."""
    point_client_at(monkeypatch, local, lookup=False)
    service = QiskitRuntimeService(
        token=local.token, instance=local.instance, url=local.url + "/experimental/api/v1"
    )
    assert service.backend(BACKEND).name == BACKEND


def test_backends_and_backend(local: ServerThread, service: Any) -> None:
    backends = service.backends()
    assert sorted(b.name for b in backends) == ["ibm_local27", "ibm_local5"]
    assert service.backends(min_num_qubits=20)[0].name == "ibm_local27"
    backend = service.backend(BACKEND)
    assert backend.name == BACKEND
    assert backend.num_qubits == 5
    target = backend.target
    assert target.num_qubits == 5
    assert {"cz", "rz", "sx", "x", "measure"} <= set(target.operation_names)
    assert backend.coupling_map is not None and backend.coupling_map.size() == 5
    properties = backend.properties()
    assert properties is not None
    assert properties.backend_name == BACKEND
    assert len(properties.qubits) == 5
    assert 0 < properties.t1(0) < 1  # seconds
    assert 0 <= properties.readout_error(0) < 0.5
    assert backend.configuration().basis_gates == ["cz", "id", "rz", "sx", "x"]


def test_backend_status(service: Any) -> None:
    status = service.backend(BACKEND).status()
    assert status.backend_name == BACKEND
    assert status.operational is True
    assert status.status_msg == "active"
    assert status.pending_jobs == 0


def test_least_busy_prefers_the_shorter_queue(
    local: ServerThread, make_service: ServiceFactory
) -> None:
    service = make_service()
    backend = service.backend(BACKEND)
    local.pause(BACKEND)
    try:
        job = SamplerV2(mode=backend).run([isa_bell(backend)], shots=10)
        local.wait_for_job(job.job_id(), "Queued")
        assert backend.status().pending_jobs == 1
        # The client caches the backend listing per service: a new one reads the queue lengths.
        assert make_service().least_busy().name == "ibm_local27"
        job.cancel()
    finally:
        local.resume(BACKEND)
    assert local.wait_for_job(job.job_id()) == "Cancelled"
    assert make_service().least_busy().name in {"ibm_local5", "ibm_local27"}
    assert service.least_busy(min_num_qubits=20).name == "ibm_local27"
