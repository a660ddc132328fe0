"""Persistence: SIGKILL the standalone server mid-run, restart it on the same DB, lose nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import anyio
import pytest

from .conftest import sampler_body

LINE = re.compile(r"url=(\S+) api_key=(\S+) instance=(\S+)")


class Serve:
    """``python -m aioqruntime serve`` in a subprocess; parses the one line it prints."""

    def __init__(self, db: Path, token: str, *extra: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aioqruntime",
                "serve",
                "--port",
                "0",
                "--db",
                str(db),
                "--token",
                token,
                "--devices",
                "ibm_local5",
                *extra,
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = LINE.search(line)
        assert match, line
        self.url, self.token, self.instance = match.groups()
        self.api = self.url + "/api/v1"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@pytest.fixture
def processes() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for serve in started:
        if serve.process.poll() is None:
            serve.kill()
        if serve.process.stdout is not None:
            serve.process.stdout.close()


async def _admin(
    http: aiohttp.ClientSession, serve: Serve, path: str, **kw: object
) -> aiohttp.ClientResponse:
    headers = {"Authorization": f"apikey {serve.token}"}
    response = await http.request(kw.pop("method", "POST"), serve.url + path, headers=headers, **kw)  # type: ignore[arg-type]
    await response.read()
    return response


async def test_sigkill_and_restart_loses_nothing(tmp_path: Path, processes: list[Serve]) -> None:
    db = tmp_path / "state.db"
    token = "persistence-test-key"
    serve = await anyio.to_thread.run_sync(Serve, db, token, "--execution-delay", "600")
    processes.append(serve)
    headers = {"Authorization": f"apikey {token}", "Service-CRN": serve.instance}
    async with aiohttp.ClientSession() as http:
        session = await (
            await http.post(
                serve.api + "/sessions",
                headers=headers,
                json={"mode": "batch", "backend": "ibm_local5"},
            )
        ).json()
        ids = []
        for tag in ("a", "b", "c"):
            body = sampler_body(session_id=session["id"], tags=[tag])
            response = await http.post(serve.api + "/jobs", headers=headers, json=body)
            assert response.status == 200, await response.text()
            ids.append((await response.json())["id"])
        # The first job is Running (its execution delay is 600 s); the others are queued.
        waited = await _admin(
            http, serve, f"/_local/jobs/{ids[0]}/wait", method="GET", params={"state": "Running"}
        )
        assert waited.status == 200
        await anyio.to_thread.run_sync(serve.kill)

        restarted = await anyio.to_thread.run_sync(Serve, db, token)
        processes.append(restarted)
        headers["Service-CRN"] = restarted.instance
        for job_id in ids:
            response = await _admin(http, restarted, f"/_local/jobs/{job_id}/wait", method="GET")
            assert response.status == 200
            assert (await response.json())["state"]["status"] == "Completed"
        listing = await (
            await http.get(
                restarted.api + "/jobs", headers=headers, params={"session_id": session["id"]}
            )
        ).json()
        assert listing["count"] == 3
        assert sorted(j["tags"][0] for j in listing["jobs"]) == ["a", "b", "c"]
        logs = await (
            await http.get(restarted.api + f"/jobs/{ids[0]}/logs", headers=headers)
        ).text()
        assert "re-queued" in logs
        for job_id in ids:
            response = await http.get(restarted.api + f"/jobs/{job_id}/results", headers=headers)
            assert response.status == 200 and "PrimitiveResult" in await response.text()
        details = await (
            await http.get(restarted.api + f"/sessions/{session['id']}", headers=headers)
        ).json()
        assert details["mode"] == "batch"
    assert await anyio.to_thread.run_sync(restarted.stop) == 0

    # A third start still has everything, results included.
    third = await anyio.to_thread.run_sync(Serve, db, token)
    processes.append(third)
    async with aiohttp.ClientSession() as http:
        headers["Service-CRN"] = third.instance
        listing = await (await http.get(third.api + "/jobs", headers=headers)).json()
        assert listing["count"] == 3
        assert {j["state"]["status"] for j in listing["jobs"]} == {"Completed"}
    assert await anyio.to_thread.run_sync(third.stop) == 0
