"""N Bell jobs in one session on a QPU-like local server, with latency added to every request.

The server is ``aioqruntime serve --lanes L --execution-delay D --faults '/*:latency=S'`` in its
own process: no client shares its interpreter (the official client's threads would otherwise
contend with it for the GIL). Clients, one after the other on the same warm server:

* aioqruntime: N ``sampler.run`` tasks in one ``AsyncSession``, awaited together;
* the official client 0.51.0 from a pool of ``--threads`` threads (``run`` then ``result``);
* ``--sequential``: the official client as its documentation shows, one job after another.

Per client: wall time against the bound ``N / lanes x job time`` (job time measured on the
server: running -> finished, mean), HTTP requests per job (what the server saw, by route), client
CPU per job (this process's CPU time: the server runs elsewhere), and the resolve latency (job
finished on the server -> the client holds its result) p50/p99, with requests per second.

    python benchmarks/throughput.py [--jobs 200] [--latency 0.05] [--lanes 4]
        [--execution-delay 0.2] [--threads 32] [--sequential] [--skip-official]
        [--poll-rps 10] [--poll-interval S]

``--poll-rps`` sets our status-request budget (default 10 per second; the tick follows it): the
resolve latency's floor is half a tick plus one results request, so this is the trade between
requests per second and latency.

Loopback only; the official client is pointed at the server by configuration, never at IBM.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import anyio
from _harness import ServerProcess, machine, official_service, refuse_non_loopback, server_process
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from aioqruntime import AsyncRuntimeService, AsyncSampler, AsyncSession
from aioqruntime.protocol import PollSchedule

BACKEND = "ibm_local5"
SHOTS = 100


@dataclass
class Run:
    name: str
    jobs: int
    lanes: int
    wall: float
    cpu: float
    requests: list[tuple[str, str]]
    resolved: dict[str, float]
    started: float  # epoch seconds at the first submission
    times: dict[str, dict[str, float]] = field(default_factory=dict)

    def breakdown(self) -> dict[str, float]:
        """Where the wall time goes: the ramp until the first job runs, the span the server's
        lanes are busy (and how full), the drain from the last finish to its result."""
        first_running = min(t["running"] for t in self.times.values())
        last_finished = max(t["finished"] for t in self.times.values())
        busy = sum(t["finished"] - t["running"] for t in self.times.values())
        span = last_finished - first_running
        return {
            "ramp_s": round(first_running - self.started, 3),
            "span_s": round(span, 3),
            "lane_utilization": round(busy / (self.lanes * span), 3),
            "drain_s": round(max(self.resolved.values()) - last_finished, 3),
        }

    @property
    def job_seconds(self) -> float:
        return statistics.fmean(t["finished"] - t["running"] for t in self.times.values())

    @property
    def bound(self) -> float:
        return self.jobs / self.lanes * self.job_seconds

    @property
    def delays_ms(self) -> list[float]:
        return sorted(
            1000 * (self.resolved[job_id] - t["finished"]) for job_id, t in self.times.items()
        )

    def percentile(self, q: float) -> float:
        ms = self.delays_ms
        return ms[min(len(ms) - 1, int(q * len(ms)))]

    def summary(self) -> dict[str, object]:
        routes = Counter(_route(method, path) for method, path in self.requests)
        return {
            "client": self.name,
            "jobs": self.jobs,
            "wall_s": round(self.wall, 3),
            "bound_s": round(self.bound, 3),
            "wall_over_bound": round(self.wall / self.bound, 3),
            "requests_per_job": round(len(self.requests) / self.jobs, 2),
            "requests_per_s": round(len(self.requests) / self.wall, 1),
            # Polling (the job list and per-job reads): what PollSchedule's budget bounds.
            "status_requests_per_s": round(
                (routes["GET /jobs"] + routes["GET /jobs/{id}"]) / self.wall, 1
            ),
            "cpu_ms_per_job": round(1000 * self.cpu / self.jobs, 2),
            "resolve_p50_ms": round(self.percentile(0.5), 1),
            "resolve_p90_ms": round(self.percentile(0.9), 1),
            "resolve_p99_ms": round(self.percentile(0.99), 1),
            **self.breakdown(),
            "routes": dict(routes.most_common()),
            # (finished on the server, seconds from the first finish; resolve delay ms)
            "delays": self.delay_series(),
        }

    def delay_series(self) -> list[tuple[float, float]]:
        first = min(t["finished"] for t in self.times.values())
        return sorted(
            (
                round(t["finished"] - first, 3),
                round(1000 * (self.resolved[job_id] - t["finished"]), 1),
            )
            for job_id, t in self.times.items()
        )


def _route(method: str, path: str) -> str:
    parts = [p if len(p) < 20 else "{id}" for p in path.split("/")]
    return f"{method} {'/'.join(parts)}"


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


# --- ours ---------------------------------------------------------------------------------------


async def run_ours(
    server: ServerProcess, jobs: int, schedule: PollSchedule | None = None
) -> tuple[float, dict[str, float], float]:
    resolved: dict[str, float] = {}
    async with AsyncRuntimeService(
        token=server.token, instance=server.instance, url=server.api_url,
        submissions_per_minute=None, poll_schedule=schedule,
    ) as service:  # fmt: skip
        backend = await service.backend(BACKEND)
        isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())
        started, epoch = time.perf_counter(), time.time()
        async with AsyncSession(backend) as session:
            sampler = AsyncSampler(session)

            async def one() -> None:
                job = await sampler.run([isa], shots=SHOTS)
                result = await job
                resolved[job.job_id()] = time.time()
                assert sum(result[0].data.meas.get_counts().values()) == SHOTS

            async with anyio.create_task_group() as tg:
                for _ in range(jobs):
                    tg.start_soon(one)
            wall = time.perf_counter() - started
    return wall, resolved, epoch


# --- the official client -----------------------------------------------------------------------


def run_official(
    server: ServerProcess, jobs: int, threads: int | None
) -> tuple[float, dict[str, float], float]:
    from qiskit_ibm_runtime import SamplerV2, Session

    with official_service(server) as service:
        backend = service.backend(BACKEND)
        isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())
        resolved: dict[str, float] = {}
        started, epoch = time.perf_counter(), time.time()
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
    return wall, resolved, epoch


# --- driver -------------------------------------------------------------------------------------


def measure(
    server: ServerProcess,
    name: str,
    lanes: int,
    spec: str,
    client: Callable[[], tuple[float, dict[str, float], float]],
) -> Run:
    before = len(server.request_log())
    cpu = time.process_time()
    wall, resolved, epoch = client()
    cpu = time.process_time() - cpu
    requests = server.request_log()[before:]
    server.set_faults("")  # the look-ups below are not the client's
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            times = dict(zip(resolved, pool.map(server.job_times, resolved), strict=True))
    finally:
        server.set_faults(spec)
    return Run(name, len(resolved), lanes, wall, cpu, requests, resolved, epoch, times)


async def warm_up(server: ServerProcess) -> None:
    async with AsyncRuntimeService(
        token=server.token, instance=server.instance, url=server.api_url
    ) as service:
        backend = await service.backend(BACKEND)
        isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())
        await (await AsyncSampler(backend).run([isa], shots=SHOTS))


def report(runs: list[Run]) -> None:
    header = (
        f"{'client':34} {'wall s':>7} {'bound s':>7} {'w/b':>6} {'req/job':>7} {'req/s':>6} "
        f"{'cpu ms/job':>10} {'resolve p50/p99 ms':>19}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        s = run.summary()
        print(
            f"{run.name:34} {run.wall:7.2f} {run.bound:7.2f} {s['wall_over_bound']:6.3f} "
            f"{s['requests_per_job']:7.2f} {s['requests_per_s']:6.1f} {s['cpu_ms_per_job']:10.2f} "
            f"{s['resolve_p50_ms']:9.1f} /{s['resolve_p99_ms']:8.1f}"
        )
    print()
    for run in runs:
        routes = run.summary()["routes"]
        assert isinstance(routes, dict)
        top = ", ".join(f"{route} {count / run.jobs:.2f}" for route, count in routes.items())
        print(f"{run.name}: requests per job by route: {top}")
        print(f"{run.name}: status requests/s: {run.summary()['status_requests_per_s']}")
        print(f"{run.name}: where the wall time goes: {run.breakdown()}")


def poll_schedule(rps: float | None, interval: float | None) -> PollSchedule | None:
    """Our schedule for a status budget of ``rps`` requests/s (``None``: the default, 10)."""
    if rps is None and interval is None:
        return None
    default = PollSchedule()
    rps = default.max_requests_per_second if rps is None else rps
    interval = 1 / rps if interval is None else interval
    return PollSchedule(
        fast_interval=min(default.fast_interval, interval),
        session_interval=interval,
        session_ceiling=max(default.session_ceiling, interval),
        max_requests_per_second=rps,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added per request")
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument("--execution-delay", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--sequential", action="store_true", help="also the sequential official")
    parser.add_argument("--skip-official", action="store_true")
    parser.add_argument("--json", help="also write the summaries to this JSON file")
    parser.add_argument(
        "--poll-rps",
        type=float,
        help="our status-request budget, PollSchedule(max_requests_per_second=...); the tick "
        "interval in a session follows it (1 / budget) unless --poll-interval says otherwise",
    )
    parser.add_argument("--poll-interval", type=float, help="our PollSchedule(session_interval)")
    args = parser.parse_args()
    refuse_non_loopback()
    schedule = poll_schedule(args.poll_rps, args.poll_interval)
    spec = f"/*:latency={args.latency}"
    print(machine())
    server_args = ["--lanes", str(args.lanes), "--execution-delay", str(args.execution_delay)]
    with server_process(*server_args, "--faults", spec) as server:
        anyio.run(warm_up, server)
        print(
            f"server pid {server.process.pid} at {server.url}: {args.jobs} jobs, lanes "
            f"{args.lanes}, execution delay {args.execution_delay} s, "
            f"{args.latency * 1000:.0f} ms per request"
        )
        steps: list[tuple[str, Callable[[], tuple[float, dict[str, float], float]]]] = [
            (
                "aioqruntime (async, 1 session)",
                lambda: anyio.run(run_ours, server, args.jobs, schedule),
            )
        ]
        if not args.skip_official:
            steps.append(
                (
                    f"official ({args.threads} threads)",
                    lambda: run_official(server, args.jobs, args.threads),
                )
            )
            if args.sequential:
                steps.append(
                    ("official (sequential)", lambda: run_official(server, args.jobs, None))
                )
        runs = []
        for name, client in steps:
            run = measure(server, name, args.lanes, spec, client)
            print(f"  {name}: {run.wall:.2f} s")
            runs.append(run)
    print()
    report(runs)
    if args.json:
        with open(args.json, "w") as out:
            json.dump([run.summary() for run in runs], out, indent=1)


if __name__ == "__main__":
    main()
