"""Jobs: create/get/list (filters, pagination, true count), cancel, delete, tags, results,
metrics, logs, usage, validation, instance isolation, estimator values."""

from __future__ import annotations

import anyio
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from aioqruntime.codec import loads
from aioqruntime.server import LocalRuntimeServer, ServerConfig

from .conftest import Api, estimator_body, sampler_body

OTHER = "crn:v1:bluemix:public:quantum-computing:us-east:a/other:other::"


async def test_job_document_and_lifecycle(api: Api, server: LocalRuntimeServer) -> None:
    server.pause()
    job_id = await api.submit(sampler_body(tags=["a", "b"], cost=300, private=False))
    assert len(job_id) == 20 and job_id[0].isalpha() and job_id.isalnum()
    assert job_id == job_id.lower()
    queued = await api.json("GET", f"/jobs/{job_id}", params={"exclude_params": "true"})
    assert queued["state"] == {"status": "Queued"} and queued["status"] == "Queued"
    assert queued["program"] == {"id": "sampler"} and queued["cost"] == 300
    assert queued["tags"] == ["a", "b"] and "params" not in queued
    assert "params" in await api.json("GET", f"/jobs/{job_id}")
    response = await api.request("GET", f"/jobs/{job_id}/results")
    assert response.status == 204
    server.resume()
    await server.wait_for_job_state(job_id, "Completed")
    metrics = await api.json("GET", f"/jobs/{job_id}/metrics")
    assert set(metrics["timestamps"]) == {"created", "running", "finished"}
    assert metrics["usage"]["status"] == "complete"
    assert metrics["circuits_execution_time_ns"] > 0 and metrics["qiskit_version"]
    logs = await api.request("GET", f"/jobs/{job_id}/logs")
    assert "Completed" in await logs.text() and logs.content_type == "text/plain"
    usage = await api.json("GET", "/instances/usage")
    assert usage["instance_id"] == api.instance and usage["usage_consumed_seconds"] > 0


async def test_cancel_delete_and_tags(api: Api, server: LocalRuntimeServer) -> None:
    server.pause()
    job_id = await api.submit(sampler_body())
    await api.json("DELETE", f"/jobs/{job_id}", status=409)
    await api.json("POST", f"/jobs/{job_id}/cancel", status=204)
    job = await api.json("GET", f"/jobs/{job_id}")
    assert job["state"]["status"] == "Cancelled"
    await api.json("POST", f"/jobs/{job_id}/cancel", status=409)
    response = await api.request("PUT", f"/jobs/{job_id}/tags", json={"tags": ["x", "y"]})
    assert response.status == 204
    assert (await api.json("GET", f"/jobs/{job_id}"))["tags"] == ["x", "y"]
    await api.json("PUT", f"/jobs/{job_id}/tags", json={"tags": ["t"] * 9}, status=400)
    await api.json("DELETE", f"/jobs/{job_id}", status=204)
    await api.json("GET", f"/jobs/{job_id}", status=404)


#: Every job stays Running this long (far beyond any test): only a cancel can end it.
HOLD_RUNNING = ServerConfig(execution_delay=3600.0)


@pytest.mark.parametrize("config", [HOLD_RUNNING])
async def test_cancel_running_job(api: Api, server: LocalRuntimeServer) -> None:
    job_id = await api.submit(sampler_body())
    after = await api.submit(sampler_body())  # queued behind it on the same one-lane device
    await server.wait_for_job_state(job_id, "Running")
    response = await api.request("POST", f"/jobs/{job_id}/cancel")
    assert response.status == 204
    job = await api.json("GET", f"/jobs/{job_id}", params={"exclude_params": "true"})
    assert job["state"]["status"] == "Cancelled"
    assert job["state"]["reason"] == "Job cancelled by the user"
    # The device's one lane is free again: the job queued behind it starts.
    with anyio.fail_after(60):
        await server.wait_for_job_state(after, "Running")
    assert server.job(job_id).status.value == "Cancelled"
    response = await api.request("POST", f"/jobs/{job_id}/cancel")
    assert response.status == 409


async def test_list_filters_and_pagination(api: Api, server: LocalRuntimeServer) -> None:
    server.pause()
    ids = [await api.submit(sampler_body(tags=["batch", f"n{i}"])) for i in range(5)]
    est = await api.submit(estimator_body(SparsePauliOp("ZZ"), tags=["batch"]))
    await api.submit(sampler_body(), instance=OTHER)
    page = await api.json("GET", "/jobs", params={"limit": "2", "exclude_params": "true"})
    assert page["count"] == 6 and page["limit"] == 2 and page["offset"] == 0
    assert [j["id"] for j in page["jobs"]] == [est, ids[4]]  # newest first
    collected: list[str] = []
    offset = 0
    while True:
        page = await api.json("GET", "/jobs", params={"limit": "4", "offset": str(offset)})
        collected += [j["id"] for j in page["jobs"]]
        offset += len(page["jobs"])
        if offset >= page["count"]:
            break
    assert collected == [est, *reversed(ids)]
    asc = await api.json("GET", "/jobs", params={"sort": "ASC"})
    assert [j["id"] for j in asc["jobs"]] == [*ids, est]
    assert (await api.json("GET", "/jobs", params={"program": "estimator"}))["count"] == 1
    both = await api.json("GET", "/jobs", params=[("tags", "batch"), ("tags", "n3")])
    assert [j["id"] for j in both["jobs"]] == [ids[3]]
    assert (await api.json("GET", "/jobs", params={"pending": "true"}))["count"] == 6
    assert (await api.json("GET", "/jobs", params={"pending": "false"}))["count"] == 0
    assert (await api.json("GET", "/jobs", params={"backend": "ibm_local27"}))["count"] == 0
    assert (await api.json("GET", "/jobs", params={"limit": "999"}))["limit"] == 200
    created = server.job(ids[2]).created.isoformat()
    after = await api.json("GET", "/jobs", params={"created_after": created})
    assert {j["id"] for j in after["jobs"]} == {ids[3], ids[4], est}
    before = await api.json("GET", "/jobs", params={"created_before": created})
    assert {j["id"] for j in before["jobs"]} == {ids[0], ids[1]}
    await api.json("GET", "/jobs", params={"created_after": "yesterday"}, status=400)
    server.resume()
    for job_id in [*ids, est]:
        await server.wait_for_job_state(job_id)
    assert (await api.json("GET", "/jobs", params={"pending": "false"}))["count"] == 6


async def test_instance_isolation(api: Api, server: LocalRuntimeServer) -> None:
    server.pause()
    job_id = await api.submit(sampler_body())
    session = await api.json("POST", "/sessions", json={"mode": "batch", "backend": "ibm_local5"})
    for method, path in [
        ("GET", f"/jobs/{job_id}"),
        ("POST", f"/jobs/{job_id}/cancel"),
        ("DELETE", f"/jobs/{job_id}"),
        ("GET", f"/jobs/{job_id}/results"),
        ("GET", f"/jobs/{job_id}/logs"),
        ("GET", f"/jobs/{job_id}/metrics"),
        ("GET", f"/sessions/{session['id']}"),
        ("DELETE", f"/sessions/{session['id']}/close"),
    ]:
        await api.json(method, path, instance=OTHER, status=404)
    assert (await api.json("GET", "/jobs", instance=OTHER))["count"] == 0
    body = sampler_body(session_id=session["id"])
    await api.json("POST", "/jobs", json=body, instance=OTHER, status=400)
    assert server.job(job_id).status.value == "Queued"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"program_id": "nope"}, "program"),
        ({"program_id": "noise-learner"}, "not emulated"),
        ({"backend": "ibm_nowhere"}, "backend"),
        ({"tags": ["x" * 87]}, "tag"),
        ({"tags": [str(i) for i in range(9)]}, "8 tags"),
        ({"log_level": "loud"}, "log_level"),
        ({"cost": -1}, "cost"),
        ({"params": []}, "params"),
        ({"session_id": "nosuchsession"}, "session"),
    ],
)
async def test_top_level_validation(api: Api, change: dict[str, object], needle: str) -> None:
    body = {**sampler_body(), **change}
    response = await api.request("POST", "/jobs", json=body)
    assert response.status in (400, 404)
    assert needle in (await response.json())["errors"][0]["message"]


async def test_params_validation_names_the_problem(api: Api) -> None:
    body = sampler_body()
    body["params"]["pubs"][0][0] = {"__type__": "QuantumCircuit", "__value__": "bm90IHFweQ=="}
    message = (await api.json("POST", "/jobs", json=body, status=400))["errors"][0]["message"]
    assert "pubs/0/0" in message

    raw = QuantumCircuit(2)
    raw.h(0)
    raw.cx(0, 1)
    raw.measure_all()
    message = (await api.json("POST", "/jobs", json=sampler_body(circuit=raw), status=400))[
        "errors"
    ][0]["message"]
    assert "not ISA" in message and "'h'" in message

    wide = QuantumCircuit(6)
    wide.measure_all()
    message = (await api.json("POST", "/jobs", json=sampler_body(circuit=wide), status=400))[
        "errors"
    ][0]["message"]
    assert "6 qubits" in message

    zero = sampler_body()
    zero["params"]["pubs"][0][2] = 0
    message = (await api.json("POST", "/jobs", json=zero, status=400))["errors"][0]["message"]
    assert "pubs" in message and "shot" in message


async def test_log_level_any_case_and_null_shots(api: Api, server: LocalRuntimeServer) -> None:
    body = sampler_body(shots=None, options={"default_shots": 123}, log_level="InFo")
    job_id = await api.submit(body)
    await server.wait_for_job_state(job_id, "Completed")
    result = loads(await (await api.request("GET", f"/jobs/{job_id}/results")).text())
    assert result[0].data.meas.num_shots == 123


async def test_estimator_matches_exact_value(api: Api, server: LocalRuntimeServer) -> None:
    observables = SparsePauliOp.from_list([("ZZ", 1.0), ("XX", 0.5), ("ZI", 1.0)])
    job_id = await api.submit(estimator_body(observables, precision=0.01))
    await server.wait_for_job_state(job_id, "Completed")
    result = loads(await (await api.request("GET", f"/jobs/{job_id}/results")).text())
    assert abs(float(result[0].data.evs) - 1.5) < 0.06  # exact <ZZ>+0.5<XX>+<ZI> = 1.5
    seeded = estimator_body(observables, options={"simulator": {"seed_simulator": 3}})
    first, second = await api.submit(seeded), await api.submit(seeded)
    values = []
    for job_id in (first, second):
        await server.wait_for_job_state(job_id, "Completed")
        text = await (await api.request("GET", f"/jobs/{job_id}/results")).text()
        values.append(float(np.asarray(loads(text)[0].data.evs)))
    assert values[0] == values[1]


async def test_failed_job_has_reason_and_traceback(api: Api, server: LocalRuntimeServer) -> None:
    server.fail_next_job("ibm_local5", "Injected failure for the test", 1517)
    job_id = await api.submit(sampler_body())
    await server.wait_for_job_state(job_id, "Failed")
    job = await api.json("GET", f"/jobs/{job_id}")
    assert job["state"]["reason_code"] == 1517
    text = await (await api.request("GET", f"/jobs/{job_id}/results")).text()
    assert text.startswith("Traceback")
