"""The harness of the official-client conformance tests.

The official client (``qiskit-ibm-runtime``) is synchronous, so the local server runs in a
background thread with its own event loop (:class:`ServerThread`); the test's thread drives the
client. Every interaction with the server object (its test hooks, its request log, waiting for a
job state) is marshalled onto the server's loop, so nothing is touched from two threads.

The client is pointed at the server by configuration only, as ``official-client.md`` §2 says:
``IAM_URL``, either the Global Search/Catalog stand-ins (``GLOBAL_SEARCH_URL`` and
``GLOBAL_CATALOG_URL``) or ``QISKIT_FUNCTIONS_EXPERIMENTAL=1``, and ``url_resolver=`` (or an
``/experimental/api/v1`` URL).
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from aioqruntime.server import LocalRuntimeServer, ServerConfig, SimulationPool

T = TypeVar("T")

#: Seconds any wait on the server may take before the test fails (never reached when healthy).
WAIT_TIMEOUT = 120.0

#: The device the flows run on (a 5-qubit QPU-like device of the default set).
BACKEND = "ibm_local5"

#: The recordings of the official client, vendored verbatim in ``tests/data/traces``.
TRACES = Path(__file__).parents[1] / "data" / "traces"
STORED_SEQUENCES = Path(__file__).with_name("recorded_sequences.json")

#: The recorded flows whose sequences are stored with the tests.
RECORDED_FLOWS = (
    "a_service",
    "a_skip_lookup",
    "a_env_only",
    "b_session_sampler",
    "c1_session_cancel",
    "c2_batch",
    "c3_estimator",
    "c4_job_cancel",
    "c5_job_lookup",
    "c6_sampler_job_mode",
    "c7_job_failed",
    "e_retry_502",
)

_ENV_VARIABLES = (
    "IAM_URL",
    "GLOBAL_SEARCH_URL",
    "GLOBAL_CATALOG_URL",
    "QISKIT_FUNCTIONS_EXPERIMENTAL",
    "QISKIT_IBM_TOKEN",
    "QISKIT_IBM_INSTANCE",
    "QISKIT_IBM_URL",
    "QISKIT_IBM_CHANNEL",
)


class ServerThread:
    """A :class:`LocalRuntimeServer` running in a daemon thread on its own asyncio loop."""

    def __init__(self, config: ServerConfig, pool: SimulationPool) -> None:
        self._config = config
        self._pool = pool
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._server: LocalRuntimeServer | None = None
        self._thread = threading.Thread(
            target=self._main, name="official-local-server", daemon=True
        )

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(WAIT_TIMEOUT):
            raise RuntimeError("the local server did not start in time")
        if self._failure is not None:
            raise RuntimeError("the local server failed to start") from self._failure
        return self

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and self._thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(WAIT_TIMEOUT)
        if self._thread.is_alive():
            raise RuntimeError("the local server did not stop in time")
        if self._failure is not None:
            raise RuntimeError("the local server crashed") from self._failure

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._failure = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with LocalRuntimeServer(config=self._config, pool=self._pool) as server:
            self._server = server
            self._ready.set()
            await self._stop.wait()
        self._server = None

    # -- addresses -------------------------------------------------------------------------
    @property
    def server(self) -> LocalRuntimeServer:
        if self._server is None:
            raise RuntimeError("the local server is not running")
        return self._server

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api_url(self) -> str:
        return self.server.api_url

    @property
    def token(self) -> str:
        return self.server.token

    @property
    def instance(self) -> str:
        return self.server.instance

    # -- running things on the server's loop -----------------------------------------------
    def run(self, make: Callable[[], Awaitable[T]], timeout: float = WAIT_TIMEOUT) -> T:
        """Await ``make()`` on the server's loop; its result (or exception) here."""
        assert self._loop is not None

        async def wrapper() -> T:
            return await make()

        future: Future[T] = asyncio.run_coroutine_threadsafe(wrapper(), self._loop)
        return future.result(timeout)

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a synchronous server method on the server's loop."""

        async def invoke() -> T:
            return function(*args, **kwargs)

        return self.run(invoke)

    # -- test hooks ------------------------------------------------------------------------
    def pause(self, backend: str | None = None) -> None:
        self.call(self.server.pause, backend)

    def resume(self, backend: str | None = None) -> None:
        self.call(self.server.resume, backend)

    def fail_next_job(self, backend: str, reason: str, reason_code: int) -> None:
        self.call(self.server.fail_next_job, backend, reason, reason_code)

    def wait_for_job(self, job_id: str, *states: str) -> str:
        """Block until the job is in one of ``states`` (default: any final); its status."""
        record = self.run(lambda: self.server.wait_for_job_state(job_id, *states))
        return str(record.status.value)

    def request_count(self) -> int:
        return self.call(lambda: len(self.server.request_log))

    def requests_since(self, start: int) -> list[Request]:
        records = self.call(lambda: list(self.server.request_log))
        return [Request(r.method, r.path, r.query, r.status) for r in records[start:]]

    def fault_log(self) -> list[tuple[str, str, str]]:
        return self.call(lambda: self.server.fault_log)


@dataclass(frozen=True)
class Request:
    """One request as the server recorded it."""

    method: str
    path: str
    query: str
    status: int


def new_instance() -> str:
    """A fresh instance CRN: the server scopes jobs and sessions by ``Service-CRN``."""
    return f"crn:v1:bluemix:public:quantum-computing:us-east:a/official:{uuid.uuid4().hex}::"


def point_client_at(
    monkeypatch: pytest.MonkeyPatch, local: ServerThread, *, lookup: bool = True
) -> None:
    """Set the environment that keeps the official client on loopback (official-client.md §2)."""
    for name in _ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IAM_URL", local.url)
    if lookup:
        monkeypatch.setenv("GLOBAL_SEARCH_URL", local.url)
        monkeypatch.setenv("GLOBAL_CATALOG_URL", local.url + "/catalog/api/v1")
    else:
        monkeypatch.setenv("QISKIT_FUNCTIONS_EXPERIMENTAL", "1")


def resolver_for(local: ServerThread) -> Callable[[str, str, bool | None, str], str]:
    """A ``url_resolver`` that keeps the port (the default one drops it, §6.1)."""
    api_url = local.api_url

    def resolve(url: str, instance: str, private_endpoint: bool | None, channel: str) -> str:
        return api_url

    return resolve


# -- request sequences --------------------------------------------------------------------
_ID_SEGMENT = {"jobs": "{job}", "sessions": "{session}", "backends": "{backend}"}
_API_PREFIX = re.compile(r"^/(?:experimental/)?api/v1(?=/|$)")


def template(path: str) -> str:
    """``/api/v1/jobs/d123/results`` -> ``/api/v1/jobs/{job}/results`` (ids and names replaced)."""
    match = _API_PREFIX.match(path)
    if match is None:
        if path.startswith("/catalog/api/v1/"):
            return "/catalog/api/v1/{plan}"
        return path
    parts = path[match.end() :].split("/")
    out = []
    for index, part in enumerate(parts):
        previous = parts[index - 1] if index > 0 else ""
        out.append(_ID_SEGMENT.get(previous, part) if index == 2 else part)
    return "/api/v1" + "/".join(out)


def _normalise_query(query: dict[str, list[str]]) -> str:
    return "&".join(f"{k}={v}" for k in sorted(query) for v in query[k])


#: (method, path template, normalised query, status) of one request.
Step = tuple[str, str, str, int]

_POLL = ("GET", "/api/v1/jobs/{job}")


def fold_polling(steps: Iterable[Step]) -> list[Step]:
    """Consecutive status polls of a job folded into one; every other request is kept."""
    out: list[Step] = []
    for step in steps:
        if out and step == out[-1] and step[:2] == _POLL:
            continue
        out.append(step)
    return out


def our_sequence(requests: Iterable[Request]) -> list[Step]:
    """What the server saw, without its ``/_local`` routes, polls folded."""
    from urllib.parse import parse_qs

    return fold_polling(
        (
            r.method,
            template(r.path),
            _normalise_query(parse_qs(r.query, keep_blank_values=True)),
            r.status,
        )
        for r in requests
        if not r.path.startswith("/_local")
    )


def recorded_sequence(path: Path) -> list[Step]:
    """The same view of a recorded trace (a ``tests/data/traces/<flow>.jsonl`` file)."""
    import json

    rows: list[Step] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            if "marker" in entry:
                continue
            query = _normalise_query(entry["query"])
            rows.append((entry["method"], template(entry["path"]), query, int(entry["status"])))
    return fold_polling(rows)


def trace_sequence(flow: str) -> list[Step]:
    """A flow's recorded sequence, as stored in ``recorded_sequences.json`` (derived from the
    vendored traces by :func:`recorded_sequence`; a test checks the two agree)."""
    import json

    stored = json.loads(STORED_SEQUENCES.read_text(encoding="utf-8"))
    return [(m, p, q, int(s)) for m, p, q, s in stored[flow]]
