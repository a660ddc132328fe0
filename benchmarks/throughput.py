"""200 Bell jobs in one session on the local server, 20 ms of latency added to every request.

Compares aioqruntime with the official qiskit-ibm-runtime client run (a) as its documentation
shows (``run`` then ``result``, one job after another) and (b) from a pool of 32 threads. Prints
wall time, HTTP requests per job (from the server's request log) and the delay from a job
finishing on the server to the client holding its result, with ratios official/ours.

    python benchmarks/throughput.py [--jobs 200] [--latency 0.02] [--threads 32] [--skip-sequential]

Loopback only: the server runs in a background thread (its own event loop); the official client is
pointed at it by configuration (official-client.md §2) and never at IBM.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import anyio
import anyio.from_thread
from _harness import official_service, refuse_non_loopback, server_in_background
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from aioqruntime import AsyncRuntimeService, AsyncSampler, AsyncSession
from aioqruntime.server import FaultRule, LocalRuntimeServer, ServerConfig

BACKEND = "ibm_local5"
SHOTS = 100


@dataclass
class Run:
    name: str
    wall: float
    requests: int
    jobs: int
    delays: list[float]

    @property
    def requests_per_job(self) -> float:
        return self.requests / self.jobs

    @property
    def median_delay_ms(self) -> float:
        return 1000 * statistics.median(self.delays)

    @property
    def mean_delay_ms(self) -> float:
        return 1000 * statistics.fmean(self.delays)


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def finished_at(server: LocalRuntimeServer, job_id: str) -> float:
    moment: datetime | None = server.job(job_id).finished_at
    assert moment is not None, f"job {job_id} has no finish time"
    return moment.timestamp()


# --- ours ---------------------------------------------------------------------------------------


async def run_ours(server: LocalRuntimeServer, jobs: int) -> Run:
    resolved: dict[str, float] = {}
    async with AsyncRuntimeService(
        token=server.token,
        instance=server.instance,
        url=server.api_url,
        submissions_per_minute=None,
    ) as service:
        backend = await service.backend(BACKEND)
        isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())
        before = len(server.request_log)
        started = time.perf_counter()
        async with AsyncSession(backend) as session:
            sampler = AsyncSampler(session)

            async def one() -> None:
                job = await sampler.run([isa], shots=SHOTS)
                job.add_done_callback(lambda j: resolved.__setitem__(j.job_id(), time.time()))
                result = await job
                assert sum(result[0].data.meas.get_counts().values()) == SHOTS

            async with anyio.create_task_group() as tg:
                for _ in range(jobs):
                    tg.start_soon(one)
        wall = time.perf_counter() - started
        requests = len(server.request_log) - before
    delays = [resolved[job_id] - finished_at(server, job_id) for job_id in resolved]
    return Run("aioqruntime (async, 1 session)", wall, requests, jobs, delays)


# --- the official client -----------------------------------------------------------------------


def run_official(server: LocalRuntimeServer, jobs: int, *, threads: int | None, name: str) -> Run:

    from qiskit_ibm_runtime import SamplerV2, Session

    with official_service(server) as service:
        backend = service.backend(BACKEND)
        isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())
        resolved: dict[str, float] = {}
        before = len(server.request_log)
        started = time.perf_counter()
        with Session(backend=backend) as session:
            sampler = SamplerV2(mode=session)

            def one(_: int) -> None:
                job = sampler.run([isa], shots=SHOTS)
                result = job.result()
                resolved[job.job_id()] = time.time()
                assert sum(result[0].data.meas.get_counts().values()) == SHOTS

            if threads is None:
                for index in range(jobs):
                    one(index)
            else:
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    list(pool.map(one, range(jobs)))
        wall = time.perf_counter() - started
        requests = len(server.request_log) - before
    delays = [resolved[job_id] - finished_at(server, job_id) for job_id in resolved]
    return Run(name, wall, requests, jobs, delays)


# --- driver -------------------------------------------------------------------------------------


async def warm_up(server: LocalRuntimeServer) -> None:
    async with AsyncRuntimeService(
        token=server.token, instance=server.instance, url=server.api_url
    ) as service:
        backend = await service.backend(BACKEND)
        isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())
        await (await AsyncSampler(backend).run([isa], shots=SHOTS))


def report(runs: list[Run], ours: Run) -> None:
    print()
    header = f"{'client':42} {'wall s':>8} {'req/job':>8} {'resolve ms (median/mean)':>26}"
    print(header)
    print("-" * len(header))
    for run in runs:
        print(
            f"{run.name:42} {run.wall:8.2f} {run.requests_per_job:8.2f} "
            f"{run.median_delay_ms:12.1f} /{run.mean_delay_ms:9.1f}"
        )
    print()
    for run in runs:
        if run is ours:
            continue
        print(
            f"{run.name} / ours: wall x{run.wall / ours.wall:.1f}, "
            f"requests per job x{run.requests_per_job / ours.requests_per_job:.1f}, "
            f"resolve delay (median) x{run.median_delay_ms / ours.median_delay_ms:.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--skip-sequential", action="store_true")
    args = parser.parse_args()
    runs: list[Run] = []
    refuse_non_loopback()
    config = ServerConfig(faults=(FaultRule(path="/*", latency=args.latency),))
    with server_in_background(config, warm_up) as server:
        print(f"server at {server.url}, {args.latency * 1000:.0f} ms per request, {args.jobs} jobs")
        steps: list[Callable[[], Run]] = [lambda: anyio.run(run_ours, server, args.jobs)]
        if not args.skip_sequential:
            steps.append(
                lambda: run_official(
                    server, args.jobs, threads=None, name="official (documented, sequential)"
                )
            )
        steps.append(
            lambda: run_official(
                server, args.jobs, threads=args.threads, name=f"official ({args.threads} threads)"
            )
        )
        for step in steps:
            run = step()
            print(f"  {run.name}: {run.wall:.2f} s")
            runs.append(run)
    report(runs, runs[0])


if __name__ == "__main__":
    main()
