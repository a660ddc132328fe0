"""What the side-by-side benchmarks share: a loopback guard, a local server in its own process
(``aioqruntime serve``, so that no client shares its interpreter or GIL), and the configuration
that points the official client at it (configuration only, as shared/official-client.md
describes)."""

from __future__ import annotations

import ipaddress
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aioqruntime.server import LocalRuntimeServer, ServerConfig


def _is_loopback(host: Any) -> bool:
    if host in ("localhost", None):
        return True
    try:
        return ipaddress.ip_address(str(host).strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_non_loopback() -> None:
    """A wrong configuration fails loudly here instead of contacting any other host."""
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise OSError(f"benchmark: refusing to resolve non-loopback host {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise OSError(f"benchmark: refusing to connect to {address!r}")
        return real_connect(self, address)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = connect  # type: ignore[method-assign]


@contextmanager
def official_environment(server: LocalRuntimeServer | ServerProcess) -> Iterator[None]:
    """IAM at the local server, no Global Search/Catalog look-up; restored afterwards."""
    saved = {k: os.environ.get(k) for k in ("IAM_URL", "QISKIT_FUNCTIONS_EXPERIMENTAL")}
    os.environ["IAM_URL"] = server.url
    os.environ["QISKIT_FUNCTIONS_EXPERIMENTAL"] = "1"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def official_service(server: LocalRuntimeServer | ServerProcess) -> Iterator[Any]:
    """The official ``QiskitRuntimeService`` pointed at ``server`` by configuration only."""
    import warnings

    from qiskit_ibm_runtime import QiskitRuntimeService

    # SamplerV2/EstimatorV2 are deprecated in 0.51.0; the benchmark measures them as documented.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    with official_environment(server):
        yield QiskitRuntimeService(
            channel="ibm_quantum_platform",
            token=server.token,
            instance=server.instance,
            url=server.url + "/experimental/api/v1",
        )


@dataclass
class ServerProcess:
    """``aioqruntime serve`` in a subprocess, with what the benchmarks ask of it out of process.

    Requests are counted from the server's fault log: run it with a latency rule on every path
    (``--faults '/*:latency=S'``), and each request the server sees is one entry.
    """

    url: str
    token: str
    instance: str
    process: subprocess.Popen[str]
    _bearer: str = field(default="", repr=False)

    @property
    def api_url(self) -> str:
        return self.url + "/api/v1"

    def _call(self, method: str, path: str, body: object = None) -> Any:
        if not self._bearer:
            form = urllib.parse.urlencode(
                {"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": self.token}
            ).encode()
            with urllib.request.urlopen(self.url + "/identity/token", form) as reply:
                self._bearer = json.loads(reply.read())["access_token"]
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._bearer}")
        request.add_header("Service-CRN", self.instance)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request) as reply:
            text = reply.read()
        return json.loads(text) if text else None

    def requests(self) -> list[dict[str, Any]]:
        """The server's bounded request log (``ServerConfig.request_log_size`` records), with
        each answer's status."""
        return list(self._call("GET", "/_local/requests")["requests"])

    def request_log(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every request so far that matched the latency rule."""
        log = self._call("GET", "/_local/faults")["log"]
        return [(method, path) for method, path, kind in log if kind == "latency"]

    def set_faults(self, spec: str) -> None:
        self._call("PUT", "/_local/faults", {"spec": spec})

    def pause(self) -> None:
        self._call("POST", "/_local/pause", {})

    def resume(self) -> None:
        self._call("POST", "/_local/resume", {})

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/v1/jobs/{job_id}?exclude_params=true"))

    def job_times(self, job_id: str) -> dict[str, float]:
        """Epoch seconds of the job's ``created``/``running``/``finished`` stamps."""
        stamps = self._call("GET", f"/api/v1/jobs/{job_id}/metrics")["timestamps"]
        return {name: parse_time(text) for name, text in stamps.items() if text}


@contextmanager
def server_process(*args: str, config: dict[str, Any] | None = None) -> Iterator[ServerProcess]:
    """Start ``aioqruntime serve --port 0 *args``; terminate it (and wait) on every exit path.

    ``config``: instead, a server with ``ServerConfig(**config)`` (for knobs the command line
    does not have), started by this file in its own process the same way.
    """
    if config is None:
        argv = [sys.executable, "-m", "aioqruntime", "serve", "--port", "0", *args]
    else:
        argv = [sys.executable, __file__, json.dumps(config)]
    # The server's stderr goes to a file: if it dies mid-run, its last words are printed.
    with tempfile.TemporaryFile(mode="w+") as errors:
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}  # a crash prints every thread's stack
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            found = re.search(r"url=(\S+) api_key=(\S+) instance=(\S+)", line)
            if found is None:
                raise RuntimeError(f"aioqruntime serve did not start: {line!r}")
            url, token, instance = found.groups()
            # Keep reading its output: a full pipe would block the server mid-run.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            yield ServerProcess(url, token, instance, process)
        finally:
            died = process.poll()
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if died is not None:
                errors.seek(0)
                tail = errors.read()[-30000:]
                print(f"the server process exited early (status {died}):\n{tail}", file=sys.stderr)


def machine() -> str:
    """One line: CPU count, load, Python and the versions that matter here."""
    from importlib.metadata import version

    names = ("aioqruntime", "qiskit", "qiskit-aer", "qiskit-ibm-runtime", "aiohttp", "numpy")
    versions = []
    for name in names:
        try:
            versions.append(f"{name} {version(name)}")
        except Exception:
            import aioqruntime

            versions.append(f"{name} {getattr(aioqruntime, '__version__', '?')} (source tree)")
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs, load {load[0]:.2f}, "
        f"Python {platform.python_version()}; " + ", ".join(versions)
    )


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def _serve_with_config(config: dict[str, Any]) -> None:
    import signal

    import anyio

    async with LocalRuntimeServer(config=ServerConfig(**config)) as server:
        print(
            f"aioqruntime local server: url={server.url} api_key={server.token} "
            f"instance={server.instance}",
            flush=True,
        )
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                break


if __name__ == "__main__":  # server_process(config=...); its simulation workers are spawned
    import anyio

    anyio.run(_serve_with_config, json.loads(sys.argv[1]))
