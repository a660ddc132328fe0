"""Fixtures for the local server tests: one shared simulation pool, servers, an API client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from aioqruntime.backends import default_devices
from aioqruntime.codec import encode_estimator_pubs, encode_sampler_pubs
from aioqruntime.server import LocalRuntimeServer, ServerConfig, SimulationPool

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
DEVICES = {d.name: d for d in default_devices()}


@pytest.fixture(scope="session")
def pool() -> Iterator[SimulationPool]:
    """One worker process shared by every server of the run (qiskit is imported once)."""
    shared = SimulationPool(workers=1)
    yield shared
    shared.close(wait=True)


class Api:
    """A thin aiohttp client for the server's REST API (what a test drives by hand)."""

    def __init__(self, http: aiohttp.ClientSession, server: LocalRuntimeServer, token: str) -> None:
        self.http = http
        self.server = server
        self.token = token
        self.instance = server.instance

    def headers(self, instance: str | None = None, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "Service-CRN": instance or self.instance,
            **extra,
        }

    async def request(
        self, method: str, path: str, *, instance: str | None = None, **kwargs: Any
    ) -> aiohttp.ClientResponse:
        headers = {**self.headers(instance), **kwargs.pop("headers", {})}
        response = await self.http.request(
            method, self.server.api_url + path, headers=headers, **kwargs
        )
        await response.read()
        return response

    async def json(self, method: str, path: str, *, status: int = 200, **kwargs: Any) -> Any:
        response = await self.request(method, path, **kwargs)
        body = await response.text()
        assert response.status == status, body
        return await response.json() if body else None

    async def submit(self, body: dict[str, Any], **kwargs: Any) -> str:
        answer = await self.json("POST", "/jobs", json=body, **kwargs)
        return str(answer["id"])


async def exchange(http: aiohttp.ClientSession, server: LocalRuntimeServer) -> str:
    response = await http.post(
        server.url + "/identity/token",
        data={"grant_type": APIKEY_GRANT, "apikey": server.token, "response_type": "cloud_iam"},
    )
    assert response.status == 200, await response.text()
    return str((await response.json())["access_token"])


@pytest.fixture
def config() -> ServerConfig:
    return ServerConfig()


@pytest.fixture
async def server(pool: SimulationPool, config: ServerConfig) -> AsyncIterator[LocalRuntimeServer]:
    async with LocalRuntimeServer(config=config, pool=pool) as running:
        yield running


@pytest.fixture
async def api(server: LocalRuntimeServer) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(http, server, await exchange(http, server))


_ISA_CACHE: dict[tuple[str, str], QuantumCircuit] = {}


def bell(backend: str = "ibm_local5", *, measure: bool = True) -> QuantumCircuit:
    """A Bell pair transpiled for ``backend`` (ISA), cached."""
    key = (backend, "bell" if measure else "bell-nomeas")
    if key not in _ISA_CACHE:
        qc = QuantumCircuit(2)
        qc.h(0)
        qc.cx(0, 1)
        if measure:
            qc.measure_all()
        _ISA_CACHE[key] = transpile(
            qc, backend=DEVICES[backend].backend(), optimization_level=1, seed_transpiler=7
        )
    return _ISA_CACHE[key]


def sampler_body(
    backend: str = "ibm_local5",
    *,
    shots: int | None = 1000,
    circuit: QuantumCircuit | None = None,
    options: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    pub = SamplerPub.coerce((circuit if circuit is not None else bell(backend), None, shots))
    return {
        "program_id": "sampler",
        "backend": backend,
        "log_level": "WARNING",
        "params": {
            "pubs": encode_sampler_pubs([pub]),
            "options": options or {},
            "version": 2,
            "support_qiskit": True,
        },
        **top,
    }


def estimator_body(
    observables: Any,
    backend: str = "ibm_local5",
    *,
    precision: float | None = None,
    options: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    circuit = bell(backend, measure=False)
    layout = circuit.layout
    if layout is not None:
        observables = observables.apply_layout(layout)
    pub = EstimatorPub.coerce((circuit, observables), precision)
    return {
        "program_id": "estimator",
        "backend": backend,
        "params": {
            "pubs": encode_estimator_pubs([pub]),
            "options": options or {},
            "version": 2,
            "support_qiskit": True,
        },
        **top,
    }
