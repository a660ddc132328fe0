"""Auth, backends and a first Bell job against the local server, over real loopback HTTP."""

from __future__ import annotations

import aiohttp
import numpy as np
import pytest

from aioqruntime.codec import loads
from aioqruntime.server import LocalRuntimeServer

from .conftest import Api, sampler_body


async def test_token_exchange_shape(server: LocalRuntimeServer) -> None:
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            server.url + "/identity/token",
            data={
                "grant_type": "urn:ibm:params:oauth:grant-type:apikey",
                "apikey": server.token,
                "response_type": "cloud_iam",
            },
        )
        body = await response.json()
    assert response.status == 200
    assert body["token_type"] == "Bearer"
    assert body["refresh_token"] == "not_supported"
    assert body["expires_in"] == 3600
    assert body["access_token"].count(".") == 2


async def test_wrong_api_key_is_refused(server: LocalRuntimeServer) -> None:
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            server.url + "/identity/token",
            data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": "nope"},
        )
        assert response.status == 400
        assert "errorMessage" in await response.json()


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not.a.jwt", "Bearer ", "Basic abc", "apikey wrong"],
)
async def test_401_shape(server: LocalRuntimeServer, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with aiohttp.ClientSession() as http:
        response = await http.get(server.api_url + "/backends", headers=headers)
        body = await response.json()
    assert response.status == 401
    assert set(body) == {"errors", "trace"}
    assert set(body["errors"][0]) == {"code", "message", "more_info"}
    assert server.token not in str(body)


async def test_expired_token_is_refused(server: LocalRuntimeServer) -> None:
    expired = server.issue_token(lifetime=-5)
    async with aiohttp.ClientSession() as http:
        response = await http.get(
            server.api_url + "/backends", headers={"Authorization": f"Bearer {expired}"}
        )
        assert response.status == 401
        assert "expired" in (await response.json())["errors"][0]["message"]


async def test_apikey_fallback_and_experimental_prefix(server: LocalRuntimeServer) -> None:
    async with aiohttp.ClientSession() as http:
        for base in (server.api_url, server.url + "/experimental/api/v1"):
            response = await http.get(
                base + "/backends", headers={"Authorization": f"apikey {server.token}"}
            )
            assert response.status == 200


async def test_backends(api: Api) -> None:
    plain = await api.json("GET", "/backends")
    devices = ["ibm_local5", "ibm_local27", "ibm_local127", "ibm_local_simulator"]
    assert [d["name"] for d in plain["devices"]] == devices
    listing = await api.json("GET", "/backends", params={"include_mocks": "True"})
    names = [d["name"] for d in listing["devices"]]
    # As the service: each real device has a mock (dry-run) twin, listed only when asked for.
    mocks = ["mock_local5", "mock_local27", "mock_local127"]
    assert names == devices + mocks
    assert [d.get("class") for d in listing["devices"]] == [None] * 4 + ["mock"] * 3
    for device in listing["devices"]:
        assert device["status"]["name"] == "online"
        assert device["queue_length"] == 0
        assert {"qubits", "physical_qubits", "is_simulator"} <= set(device)
    config = await api.json("GET", "/backends/ibm_local27/configuration")
    assert config["n_qubits"] == 27 and "ecr" in config["basis_gates"]
    props = await api.json("GET", "/backends/ibm_local27/properties")
    assert len(props["qubits"]) == 27
    status = await api.json("GET", "/backends/ibm_local5/status")
    config5 = await api.json("GET", "/backends/ibm_local5/configuration")
    assert config5["backend_version"]
    assert status == {
        "state": True,
        "status": "active",
        "message": "available",
        "length_queue": 0,
        "backend_version": config5["backend_version"],
    }
    await api.json("GET", "/backends/nope/status", status=404)


@pytest.mark.parametrize("backend", ["ibm_local5", "ibm_local127"])
async def test_bell_job_counts(api: Api, server: LocalRuntimeServer, backend: str) -> None:
    job_id = await api.submit(sampler_body(backend, shots=4000))
    job = await server.wait_for_job_state(job_id)
    assert job.status.value == "Completed"
    response = await api.request("GET", f"/jobs/{job_id}/results")
    result = loads(await response.text())
    counts = result[0].data.meas.get_counts()
    assert set(counts) <= {"00", "11"}
    assert sum(counts.values()) == 4000
    assert abs(counts.get("00", 0) / 4000 - 0.5) < 0.05
    assert isinstance(result[0].data.meas.array, np.ndarray)
