"""100 executor-sampler jobs in one session: aioqruntime vs the official client, same server.

The local server runs in its own process (``python -m aioqruntime serve --port 0``), so that
neither client shares a process with it; each client gets a fresh one (same configuration,
warmed up by one job). Both clients run the same twirled Bell pub (gate and
measurement twirling, ``--shots`` per job) through their client-side executor sampler in one
session; a ticker task on an event loop in this process measures how late it wakes up (event-
loop lag) while the jobs run and their results are post-processed:

* ``aioqruntime``: ``executor_sampler.AsyncSampler`` on that loop, all jobs submitted at once;
  preparation, decoding and post-processing run in worker threads.
* ``official (sequential)``: ``executor_sampler.Sampler`` as documented (``run`` then
  ``result``), called from the loop through ``anyio.to_thread.run_sync`` (the way an asyncio
  application uses a blocking client); ``official (N threads)``: the same from a pool.

Printed: wall time, HTTP requests per job (from the server's ``/_local/requests`` log) and loop
lag (p50 / p99 / max, ms), with ratios official/ours.

Then post-processing alone (``--docs`` results documents of one bigger job: a 10-point sweep,
``--big-shots`` shots, twirled): the loop's lag while each client turns them into a
``PrimitiveResult``: ours as the SDK does it (in worker threads, 4 at a time), the official
decoder chain called on the loop (what an asyncio application calling ``job.result()`` in a
coroutine gets) and in a worker thread.

    python benchmarks/executor.py [--jobs 100] [--shots 1024] [--threads 8] [--skip-sequential]
                                  [--gc-freeze] [--docs 30] [--big-shots 100000]

The worst lag is usually one full (generation 2) garbage collection of this process's heap
(qiskit, samplomatic, pydantic models: several hundred ms on a loaded 2-core machine), which
any client pays; ``--gc-freeze`` calls ``gc.freeze()`` after the warm-up job, for every client
alike, to show the lag without it.

Loopback only (the guard refuses any other host).
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import anyio
from _harness import official_environment, refuse_non_loopback
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from aioqruntime import AsyncRuntimeService, AsyncSession
from aioqruntime.executor_sampler import AsyncSampler

BACKEND = "ibm_local5"
TICK = 0.001
OPTIONS: dict[str, Any] = {"twirling": {"enable_gates": True, "enable_measure": True}}


@dataclass
class Server:
    """The address and credentials ``aioqruntime serve`` printed."""

    url: str
    token: str
    instance: str
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def api_url(self) -> str:
        return self.url + "/api/v1"

    def request_count(self) -> int:
        request = urllib.request.Request(
            self.url + "/_local/requests", headers={"Authorization": f"apikey {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return len(json.load(response)["requests"])


@dataclass
class Run:
    name: str
    wall: float
    requests: int
    jobs: int
    lag: list[float]

    @property
    def requests_per_job(self) -> float:
        return self.requests / self.jobs

    def lag_ms(self) -> tuple[float, float, float]:
        ms = sorted(sample * 1000 for sample in self.lag) or [0.0]
        return statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))], ms[-1]


def start_server() -> Server:
    argv = [sys.executable, "-m", "aioqruntime", "serve", "--port", "0"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    found = re.search(r"url=(\S+) api_key=(\S+) instance=(\S+)", line)
    if found is None:
        process.terminate()
        raise RuntimeError(f"unexpected server banner: {line!r}")
    return Server(found[1], found[2], found[3], process)


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def check(result: Any, shots: int) -> None:
    counts = result[0].data.meas.get_counts()
    assert set(counts) <= {"00", "11"}, counts
    assert sum(counts.values()) >= shots


async def with_ticker(work: Callable[[], Awaitable[None]]) -> tuple[float, list[float]]:
    """Run ``work`` while a ticker records its oversleep; returns (wall, lag samples)."""
    samples: list[float] = []

    async def ticker() -> None:
        while True:
            started = time.perf_counter()
            await anyio.sleep(TICK)
            samples.append(max(0.0, time.perf_counter() - started - TICK))

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        started = time.perf_counter()
        await work()
        wall = time.perf_counter() - started
        tg.cancel_scope.cancel()
    return wall, samples


async def run_ours(server: Server, jobs: int, shots: int) -> Run:
    async with AsyncRuntimeService(
        token=server.token,
        instance=server.instance,
        url=server.api_url,
        submissions_per_minute=None,
    ) as service:
        backend = await service.backend(BACKEND)
        isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())
        before = server.request_count()

        async def work() -> None:
            async with AsyncSession(backend) as session:
                sampler = AsyncSampler(session, options=OPTIONS)

                async def one() -> None:
                    check(await (await sampler.run([isa], shots=shots)), shots)

                async with anyio.create_task_group() as tg:
                    for _ in range(jobs):
                        tg.start_soon(one)

        wall, lag = await with_ticker(work)
        requests = server.request_count() - before
    return Run("aioqruntime (async, 1 session)", wall, requests, jobs, lag)


def official_jobs(server: Server, jobs: int, shots: int, threads: int | None) -> int:
    """The official client's run; returns the requests it made (blocking: run it in a thread)."""
    import warnings

    from qiskit_ibm_runtime import QiskitRuntimeService, Session
    from qiskit_ibm_runtime.executor_sampler import Sampler

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    with official_environment(server):  # type: ignore[arg-type]
        service = QiskitRuntimeService(
            channel="ibm_quantum_platform",
            token=server.token,
            instance=server.instance,
            url=server.url + "/experimental/api/v1",
        )
        backend = service.backend(BACKEND)
        isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())
        before = server.request_count()
        with Session(backend=backend) as session:
            sampler = Sampler(mode=session, options=OPTIONS)

            def one(_: int) -> None:
                check(sampler.run([isa], shots=shots).result(), shots)

            if threads is None:
                for index in range(jobs):
                    one(index)
            else:
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    list(pool.map(one, range(jobs)))
        return server.request_count() - before


async def run_official(server: Server, jobs: int, shots: int, threads: int | None) -> Run:
    requests = 0

    async def work() -> None:
        nonlocal requests
        requests = await anyio.to_thread.run_sync(official_jobs, server, jobs, shots, threads)

    wall, lag = await with_ticker(work)
    name = "official (sequential)" if threads is None else f"official ({threads} threads)"
    return Run(name, wall, requests, jobs, lag)


# --- post-processing alone ------------------------------------------------------------------


async def big_result_text(server: Server, shots: int) -> str:
    """The results document of one twirled 10-point sweep job (fetched once, decoded many)."""
    from qiskit.circuit import Parameter

    from aioqruntime.protocol import job_results

    theta = Parameter("t")
    circuit = QuantumCircuit(2)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    circuit.measure_all()
    async with AsyncRuntimeService(
        token=server.token, instance=server.instance, url=server.api_url
    ) as service:
        backend = await service.backend(BACKEND)
        isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)
        sweep = [[0.3 * index] for index in range(10)]
        job = await AsyncSampler(backend, options=OPTIONS).run([(isa, sweep)], shots=shots)
        await job
        return (await service.transport.send(job_results(job.job_id()))).text()


def official_decode(text: str) -> Any:
    """The official client's decoder chain for ``executor`` jobs, as ``job.result()`` runs it."""
    from qiskit_ibm_runtime.decoders.defaults import DEFAULT_DECODERS

    result: Any = text
    for decoder in DEFAULT_DECODERS["executor"]:
        if decoder.is_applicable(result):
            result = decoder.decode(result)
    return result


async def decode_lag(name: str, text: str, docs: int, decode: Any, *, inline: bool) -> Run:
    limiter = anyio.CapacityLimiter(4)

    async def work() -> None:
        if inline:
            for _ in range(docs):
                decode(text)  # blocks the loop for one document
                await anyio.sleep(TICK)  # then lets the ticker run
            return

        async def one() -> None:
            await anyio.to_thread.run_sync(decode, text, limiter=limiter)

        async with anyio.create_task_group() as tg:
            for _ in range(docs):
                tg.start_soon(one)

    wall, lag = await with_ticker(work)
    return Run(name, wall, 0, docs, lag)


def post_processing(server: Server, docs: int, shots: int) -> list[Run]:
    from aioqruntime.primitives._executor import decode_executor_result

    text = anyio.run(big_result_text, server, shots)
    ours = official_decode(text), decode_executor_result(text)
    assert ours[0][0].data.meas.get_counts() == ours[1][0].data.meas.get_counts()
    print(f"  one results document: {len(text) / 1e6:.2f} MB")
    return [
        anyio.run(
            lambda: decode_lag(
                "aioqruntime (worker threads)", text, docs, decode_executor_result, inline=False
            )
        ),
        anyio.run(
            lambda: decode_lag(
                "official decoder, on the loop", text, docs, official_decode, inline=True
            )
        ),
        anyio.run(
            lambda: decode_lag(
                "official decoder, in threads", text, docs, official_decode, inline=False
            )
        ),
    ]


def report_decoding(runs: list[Run]) -> None:
    header = f"{'post-processing':34} {'wall s':>8} {'ms/doc':>8} {'loop lag ms p50/p99/max':>26}"
    print()
    print(header)
    print("-" * len(header))
    for run in runs:
        p50, p99, worst = run.lag_ms()
        print(
            f"{run.name:34} {run.wall:8.2f} {1000 * run.wall / run.jobs:8.1f} "
            f"{p50:8.2f} /{p99:7.2f} /{worst:7.1f}"
        )


def report(runs: list[Run]) -> None:
    ours = runs[0]
    header = f"{'client':34} {'wall s':>8} {'req/job':>8} {'loop lag ms p50/p99/max':>26}"
    print()
    print(header)
    print("-" * len(header))
    for run in runs:
        p50, p99, worst = run.lag_ms()
        print(
            f"{run.name:34} {run.wall:8.2f} {run.requests_per_job:8.2f} "
            f"{p50:8.2f} /{p99:7.2f} /{worst:7.1f}"
        )
    print()
    for run in runs[1:]:
        print(
            f"{run.name} / ours: wall x{run.wall / ours.wall:.1f}, "
            f"requests per job x{run.requests_per_job / ours.requests_per_job:.1f}, "
            f"lag p99 x{run.lag_ms()[1] / max(ours.lag_ms()[1], 1e-6):.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--skip-sequential", action="store_true")
    parser.add_argument("--gc-freeze", action="store_true")
    parser.add_argument("--docs", type=int, default=30)
    parser.add_argument("--big-shots", type=int, default=100_000)
    args = parser.parse_args()
    refuse_non_loopback()
    print(f"{args.jobs} jobs of {args.shots} shots per client, each on a fresh server process")
    variants: list[int | None] = [] if args.skip_sequential else [None]
    variants.append(args.threads)
    runs = [
        measured(lambda server: anyio.run(run_ours, server, args.jobs, args.shots), args.gc_freeze)
    ]
    for threads in variants:
        runs.append(
            measured(
                lambda server, threads=threads: anyio.run(  # type: ignore[misc]
                    run_official, server, args.jobs, args.shots, threads
                ),
                args.gc_freeze,
            )
        )
    report(runs)
    server = start_server()
    try:
        decoding = post_processing(server, args.docs, args.big_shots)
    finally:
        server.process.terminate()
        server.process.wait(timeout=60)
    report_decoding(decoding)


def measured(step: Callable[[Server], Run], gc_freeze: bool) -> Run:
    """``step`` against a fresh server process (warmed up by one job), stopped afterwards."""
    server = start_server()
    try:
        # One job first, so that no measured run pays the simulation worker's start-up.
        anyio.run(run_ours, server, 1, 100)
        if gc_freeze:
            gc.collect()
            gc.freeze()
        run = step(server)
    finally:
        crashed = server.process.poll()
        server.process.terminate()
        server.process.wait(timeout=60)
    if crashed is not None:
        raise RuntimeError(f"the server process exited with status {crashed} during the run")
    print(f"  {run.name}: {run.wall:.2f} s")
    return run


if __name__ == "__main__":
    main()
