"""Simulation workers never outlive the server: SIGKILL ``aioqruntime serve``, its workers exit.

A worker reads its requests from a pipe whose other end only the server holds; when the server
dies, however it dies, the kernel closes that end and the worker sees end of file and exits. No
``multiprocessing`` resource tracker exists to be left behind either.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import anyio
import pytest

from .conftest import APIKEY_GRANT, sampler_body

EXIT_BOUND = 30.0  # seconds a worker may take to notice (it is normally milliseconds)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The fields after the command name (which may hold spaces) start with state, ppid.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _exited(pid: int) -> bool:
    """Gone, or a zombie waiting for a reaper (it has exited either way)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _still_running_after(pids: list[int], bound: float) -> list[int]:
    """Poll the process table (there is no event to await) until all exited or ``bound``."""
    deadline = time.monotonic() + bound
    while not all(_exited(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if not _exited(pid)]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    token = "orphan-test-key"
    command = [sys.executable, "-m", "aioqruntime", "serve", "--port", "0", "--token", token]
    command += ["--workers", "2"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path
    )
    try:
        assert process.stdout is not None
        match = re.search(r"url=(\S+)", process.stdout.readline())
        assert match is not None, "the server did not start"
        yield process, match.group(1), token
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
async def test_workers_exit_when_the_server_is_killed(
    serve: tuple[subprocess.Popen[str], str, str],
) -> None:
    process, url, token = serve
    async with aiohttp.ClientSession() as http:
        reply = await http.post(
            url + "/identity/token", data={"grant_type": APIKEY_GRANT, "apikey": token}
        )
        headers = {"Authorization": f"Bearer {(await reply.json())['access_token']}"}
        reply = await http.post(url + "/api/v1/jobs", json=sampler_body(), headers=headers)
        assert reply.status == 200, await reply.text()
        job_id = (await reply.json())["id"]
        reply = await http.get(f"{url}/_local/jobs/{job_id}/wait", headers=headers)
        assert (await reply.json())["status"] == "Completed"

    workers = _children(process.pid)
    commands = [_command_line(pid) for pid in workers]
    assert len(workers) == 2, commands
    assert all("aioqruntime.server._worker_main" in c for c in commands), commands
    assert not any("resource_tracker" in c for c in commands), commands

    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    left = await anyio.to_thread.run_sync(_still_running_after, workers, EXIT_BOUND)
    assert left == [], f"workers {left} outlived the killed server"
