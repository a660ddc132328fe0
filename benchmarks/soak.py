"""Soak: the local server under both clients at once, for a bounded time (not a unit test).

    python benchmarks/soak.py [--duration 180] [--threads 32] [--latency 0.05] [--json]

The server runs in its own process (``python -m aioqruntime serve``, ``--lanes 4
--execution-delay 0.2``) under ``PYTHONFAULTHANDLER=1``, so a crash kills only it and leaves a
traceback in its stderr. In front of it, a loopback proxy adds ``--latency`` to every request and
counts the answers. Through the proxy, concurrently until the duration is over:

* the official client (qiskit-ibm-runtime 0.51.0) from ``--threads`` threads: rounds of Bell jobs
  in a ``Session``, every third round cancelled from one thread while the others submit;
* this SDK: rounds of Bell jobs in an ``AsyncSession`` closed normally, or cancelled, or in job
  mode.

Every ``--executor-every``-th job of both clients (default every second one) is a twirled Bell
pub through the client-side executor sampler (``executor_sampler.Sampler`` /
``executor_sampler.AsyncSampler``, gate and measurement twirling): an ``executor`` program whose
validation on the server reads IBM's wire model, its QPY blob and a samplex (the load under which
the server once died with SIGSEGV in qiskit's ``_accelerate``).

Then every job any client was given an id for is awaited on the server directly (bounded). The
report: server alive (and any fatal error it printed), requests served, 5xx answers, jobs
submitted / completed / cancelled / failed, and jobs lost (given an id, never final, or gone).
Exit status 0 only if the server is alive, no answer was a 5xx and no job was lost.
Loopback only (the server binds 127.0.0.1; the official client is pointed at it by
configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import anyio
from _harness import official_environment, refuse_non_loopback
from aiohttp import web
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2, Session
from qiskit_ibm_runtime.executor_sampler import Sampler as OfficialExecutorSampler

from aioqruntime import AsyncRuntimeService, AsyncSampler, AsyncSession, JobError
from aioqruntime.executor_sampler import AsyncSampler as AsyncExecutorSampler

BACKEND = "ibm_local5"
SHOTS = 100
FINAL = {"completed", "cancelled", "failed", "cancelled - ran too long", "done", "error"}
_HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
#: The executor-sampler jobs' options: twirled, so each job carries a samplex to the server.
TWIRLED: dict[str, Any] = {"twirling": {"enable_gates": True, "enable_measure": True}}


@dataclass
class Ledger:
    """Thread-safe record of what the clients saw."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    job_ids: set[str] = field(default_factory=set)
    outcomes: Counter[str] = field(default_factory=Counter)

    def submitted(self, job_id: str) -> None:
        with self.lock:
            self.job_ids.add(job_id)

    def count(self, outcome: str) -> None:
        with self.lock:
            self.outcomes[outcome] += 1


# --- the server process and the proxy -----------------------------------------------------------


@contextlib.contextmanager
def server_process(
    token: str, lanes: int, delay: float, stderr_path: Path
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    command = [sys.executable, "-m", "aioqruntime", "serve", "--port", "0", "--token", token]
    command += ["--lanes", str(lanes), "--execution-delay", str(delay)]
    with open(stderr_path, "w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.search(r"url=(\S+)", line)
            if match is None:
                raise RuntimeError(f"the server did not start: {line!r}")
            yield process, match.group(1)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()


class LatencyProxy:
    """Forwards everything to ``upstream`` after ``latency`` seconds; counts answers by status."""

    def __init__(self, upstream: str, latency: float) -> None:
        self.upstream = upstream.rstrip("/")
        self.latency = latency
        self.statuses: Counter[int] = Counter()
        #: ``"METHOD /path status"`` of every 4xx/5xx answer (ids replaced by ``{id}``).
        self.errors: Counter[str] = Counter()
        self.unanswered = 0
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LatencyProxy]:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as client:
            app = web.Application(client_max_size=1 << 30)

            async def handle(request: web.Request) -> web.StreamResponse:
                return await self._forward(client, request)

            app.router.add_route("*", "/{tail:.*}", handle)
            runner = web.AppRunner(app, handle_signals=False, access_log=None)
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                self.port = runner.addresses[0][1]
                yield self
            finally:
                with anyio.CancelScope(shield=True):
                    await runner.cleanup()

    async def _forward(
        self, client: aiohttp.ClientSession, request: web.Request
    ) -> web.StreamResponse:
        body = await request.read()
        await anyio.sleep(self.latency)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        try:
            async with client.request(
                request.method,
                self.upstream + request.path_qs,
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as upstream:
                payload = await upstream.read()
                out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
                self.statuses[upstream.status] += 1
                if upstream.status >= 400:
                    path = re.sub(r"/[a-z0-9]{20}(?=/|$)", "/{id}", request.path)
                    self.errors[f"{request.method} {path} {upstream.status}"] += 1
                return web.Response(status=upstream.status, body=payload, headers=out)
        except aiohttp.ClientError:
            self.unanswered += 1  # the server dropped or refused the connection
            return web.Response(status=502, text="upstream unavailable")


# --- the clients --------------------------------------------------------------------------------


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def _is_executor(index: int, every: int) -> bool:
    return every > 0 and index % every == every - 1


def _counts_ok(result: Any, executor: bool) -> bool:
    counts = result[0].data.meas.get_counts()
    if not set(counts) <= {"00", "11"}:
        return False
    # Twirling may round the shots up to whole randomizations; V2 samplers run exactly SHOTS.
    total = sum(counts.values())
    return total >= SHOTS if executor else total == SHOTS


def _failed(name: str, exc: BaseException) -> str:
    """The outcome of a job that failed otherwise than by cancellation, with what was raised."""
    return f"{name} failed: {type(exc).__name__}: {str(exc)[:120]}"


def official_rounds(
    url: str,
    token: str,
    instance: str,
    deadline: float,
    threads: int,
    ledger: Ledger,
    executor_every: int,
) -> None:
    with official_environment(SimpleNamespace(url=url)):  # type: ignore[arg-type]
        service = QiskitRuntimeService(
            channel="ibm_quantum_platform",
            token=token,
            instance=instance,
            url=url + "/experimental/api/v1",
        )
        backend = service.backend(BACKEND)
        isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())
        round_number = 0
        while time.monotonic() < deadline:
            round_number += 1
            with Session(backend=backend) as session:
                # Every third round, one thread cancels the session while the others submit.
                canceller = threads // 2 if round_number % 3 == 0 else -1
                sampler = SamplerV2(mode=session)
                executor = OfficialExecutorSampler(mode=session, options=TWIRLED)
                count = threads * 2
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    cancels = [i == canceller for i in range(count)]
                    samplers = [
                        executor if _is_executor(i, executor_every) else sampler
                        for i in range(count)
                    ]
                    list(
                        pool.map(
                            _official_job,
                            samplers,
                            [session] * count,
                            [isa] * count,
                            [ledger] * count,
                            cancels,
                        )
                    )


def _official_job(sampler: Any, session: Any, isa: Any, ledger: Ledger, cancel: bool) -> None:
    executor = isinstance(sampler, OfficialExecutorSampler)
    name = "official executor" if executor else "official"
    try:
        job = sampler.run([isa], shots=SHOTS)
    except Exception:
        ledger.count(f"{name} refused")  # e.g. into a cancelled session
        return
    ledger.submitted(job.job_id())
    if cancel:
        session.cancel()
    try:
        result = job.result(timeout=300)
    except Exception as exc:
        cancelled = "cancel" in str(exc).lower()
        ledger.count(f"{name} cancelled" if cancelled else _failed(name, exc))
        return
    ok = _counts_ok(result, executor)
    ledger.count(f"{name} completed" if ok else f"{name} wrong result")


async def our_rounds(
    url: str, token: str, instance: str, deadline: float, ledger: Ledger, executor_every: int
) -> None:
    async with AsyncRuntimeService(
        token=token, instance=instance, url=url, submissions_per_minute=None
    ) as service:
        backend = await service.backend(BACKEND)
        isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())
        round_number = 0
        while time.monotonic() < deadline:
            round_number += 1
            kind = ("close", "cancel", "job mode")[round_number % 3]
            if kind == "job mode":
                samplers = _our_samplers(backend, 8, executor_every)
                await _our_jobs(samplers, isa, ledger, cancel=None)
                continue
            async with AsyncSession(backend=backend, max_time="10m") as session:
                samplers = _our_samplers(session, 16, executor_every)
                await _our_jobs(samplers, isa, ledger, cancel=session if kind == "cancel" else None)


def _our_samplers(mode: Any, count: int, executor_every: int) -> list[Any]:
    sampler, executor = AsyncSampler(mode=mode), AsyncExecutorSampler(mode, options=TWIRLED)
    return [executor if _is_executor(i, executor_every) else sampler for i in range(count)]


async def _our_jobs(
    samplers: list[Any], isa: Any, ledger: Ledger, *, cancel: AsyncSession | None
) -> None:
    jobs = await asyncio.gather(*(sampler.run([isa], shots=SHOTS) for sampler in samplers))
    for job in jobs:
        ledger.submitted(job.job_id())
    if cancel is not None:
        await cancel.cancel()
    for sampler, job in zip(samplers, jobs, strict=True):
        executor = isinstance(sampler, AsyncExecutorSampler)
        name = "ours executor" if executor else "ours"
        try:
            with anyio.fail_after(300):
                result = await job
        except JobError as exc:
            cancelled = "cancel" in type(exc).__name__.lower()
            ledger.count(f"{name} cancelled" if cancelled else _failed(name, exc))
            continue
        ok = _counts_ok(result, executor)
        ledger.count(f"{name} completed" if ok else f"{name} wrong result")


# --- the audit ----------------------------------------------------------------------------------


async def audit(server_url: str, token: str, job_ids: set[str], bound: float) -> dict[str, int]:
    """Final state of every job, asked of the server directly; ``lost`` if none within ``bound``."""
    states: Counter[str] = Counter()
    headers = {"Authorization": f"apikey {token}"}
    limit = anyio.CapacityLimiter(16)
    async with aiohttp.ClientSession(headers=headers) as http:

        async def one(job_id: str) -> None:
            async with limit:
                try:
                    with anyio.fail_after(bound):
                        async with http.get(f"{server_url}/_local/jobs/{job_id}/wait") as reply:
                            body = await reply.json() if reply.status == 200 else {}
                except (TimeoutError, aiohttp.ClientError):
                    body = {}
            status = str(body.get("status", "")).lower()
            states[status if status in FINAL else "lost"] += 1

        async with anyio.create_task_group() as tg:
            for job_id in job_ids:
                tg.start_soon(one, job_id)
    return dict(states)


async def soak(args: argparse.Namespace, server_url: str, token: str) -> dict[str, Any]:
    instance = "crn:v1:bluemix:public:quantum-computing:us-east:a/local:local::"
    ledger = Ledger()
    proxy = LatencyProxy(server_url, args.latency)
    began = time.monotonic()
    deadline = began + args.duration

    async def official() -> None:
        await anyio.to_thread.run_sync(
            official_rounds,
            proxy.url,
            token,
            instance,
            deadline,
            args.threads,
            ledger,
            args.executor_every,
        )

    async def ours() -> None:
        await our_rounds(proxy.url, token, instance, deadline, ledger, args.executor_every)

    async def recorded(name: str, client: Any) -> None:
        # A client that gives up (the server died, say) is reported, not raised: the audit runs.
        try:
            await client()
        except Exception as exc:
            ledger.count(f"{name} client stopped: {type(exc).__name__}: {exc}"[:200])

    async with proxy.running(), anyio.create_task_group() as tg:
        tg.start_soon(recorded, "official", official)
        tg.start_soon(recorded, "ours", ours)
    elapsed = time.monotonic() - began
    states = await audit(server_url, token, ledger.job_ids, args.audit_bound)
    return {
        "seconds": round(elapsed, 1),
        "requests_served": sum(proxy.statuses.values()),
        "answers_5xx": sum(n for status, n in proxy.statuses.items() if status >= 500),
        "unanswered": proxy.unanswered,
        "statuses": {str(k): v for k, v in sorted(proxy.statuses.items())},
        "error_answers": dict(proxy.errors),
        "jobs_submitted": len(ledger.job_ids),
        "client_outcomes": dict(sorted(ledger.outcomes.items())),
        "final_states": states,
        "jobs_lost": states.get("lost", 0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of load")
    parser.add_argument("--threads", type=int, default=32, help="official client threads")
    parser.add_argument("--latency", type=float, default=0.05, help="proxy seconds per request")
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument("--execution-delay", type=float, default=0.2)
    parser.add_argument(
        "--executor-every",
        type=int,
        default=2,
        help="every N-th job is a twirled executor-sampler job (0: none)",
    )
    parser.add_argument("--audit-bound", type=float, default=120.0, help="seconds per job audit")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    refuse_non_loopback()
    # SamplerV2 is deprecated in 0.51.0 (measured as documented); cancelled jobs are expected
    # here, so this SDK's WARNING line per cancelled job is noise.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("aioqruntime").setLevel(logging.ERROR)
    token = "soak-" + os.urandom(8).hex()
    with tempfile.TemporaryDirectory(prefix="aioqruntime-soak-") as tmp:
        stderr_path = Path(tmp) / "server.stderr"
        with server_process(token, args.lanes, args.execution_delay, stderr_path) as (
            process,
            url,
        ):
            try:
                report = anyio.run(soak, args, url, token)
            finally:
                alive = process.poll() is None
            report = {"server_alive": alive, "server_exit_code": process.poll(), **report}
        server_errors = stderr_path.read_text(encoding="utf-8", errors="replace")
    fatal = [line for line in server_errors.splitlines() if "Fatal Python error" in line]
    report["server_fatal_errors"] = fatal
    report["server_tracebacks"] = server_errors.count("Traceback (most recent call last)")
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:22} {value}")
        if fatal:
            print(server_errors[-4000:])
    healthy = alive and not fatal and report["answers_5xx"] == 0 and report["jobs_lost"] == 0
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
