"""Memory and scale: N pending jobs in job mode on a server whose jobs never finish.

The server is ``aioqruntime serve`` in its own process, paused (``POST /_local/pause``) after a
warm-up job, so every submitted job stays queued. The client submits N Bell jobs in job mode
from ``--in-flight`` concurrent submitters, keeps every job handle (as a caller awaiting them
would), then watches them for ``--watch`` seconds. Reported:

* submission throughput (jobs/s) with that many submissions in flight;
* RSS per pending job (resident set growth of this process from before the first submission to
  after the watch, after a garbage collection) and, with ``--heap``, Python heap per pending job
  (tracemalloc; it slows the run, so the throughput of a ``--heap`` run is not the figure);
* status polling requests per second while N jobs are pending (what the server saw);
* tasks alive in this process while the jobs are pending (no task per job).

    python benchmarks/memory.py [--jobs 10000] [--in-flight 64] [--watch 10] [--heap]

No official counterpart: the official client has no shared poller to compare (it would run one
thread per awaited job). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import time
import tracemalloc
from collections import Counter
from typing import Any

import anyio
from _harness import ServerProcess, machine, refuse_non_loopback, server_process
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from aioqruntime import AsyncRuntimeService, AsyncSampler

BACKEND = "ibm_local5"
# 1 ms per request: enough for the server to log every request (see ServerProcess).
SPEC = "/*:latency=0.001"


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


async def run(server: ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    async with AsyncRuntimeService(
        token=server.token, instance=server.instance, url=server.api_url,
        submissions_per_minute=None,
    ) as service:  # fmt: skip
        backend = await service.backend(BACKEND)
        isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell())
        sampler = AsyncSampler(backend)
        await (await sampler.run([isa], shots=100))  # warm: worker started, imports done
        await anyio.to_thread.run_sync(server.pause)
        jobs: list[Any] = []
        gc.collect()
        if args.heap:
            tracemalloc.start()
        heap_before = tracemalloc.get_traced_memory()[0] if args.heap else 0
        rss_before = rss_bytes()
        log_before = len(await anyio.to_thread.run_sync(server.request_log))
        next_index = 0

        async def submitter() -> None:
            nonlocal next_index
            while next_index < args.jobs:
                next_index += 1
                jobs.append(await sampler.run([isa], shots=100))

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(args.in_flight):
                tg.start_soon(submitter)
        submit_seconds = time.perf_counter() - started
        log_submitted = await anyio.to_thread.run_sync(server.request_log)
        await anyio.sleep(args.watch)  # the watcher polls N pending jobs meanwhile
        log_watched = await anyio.to_thread.run_sync(server.request_log)
        tasks = len(asyncio.all_tasks())
        gc.collect()
        rss_after = rss_bytes()
        heap_after = tracemalloc.get_traced_memory()[0] if args.heap else 0
        if args.heap:
            tracemalloc.stop()
        pending = sum(1 for job in jobs if not job.done())
        polls = Counter(f"{method} {path}" for method, path in log_watched[len(log_submitted) :])
        # The jobs stay queued; the server process (in-memory state) is terminated after this.
        return {
            "jobs": len(jobs),
            "pending": pending,
            "in_flight": args.in_flight,
            "submit_jobs_per_s": round(len(jobs) / submit_seconds, 1),
            "submit_requests": len(log_submitted) - log_before,
            "rss_kib_per_job": round((rss_after - rss_before) / 1024 / len(jobs), 2),
            "heap_kib_per_job": round((heap_after - heap_before) / 1024 / len(jobs), 2)
            if args.heap
            else None,
            "poll_requests_per_s": round(sum(polls.values()) / args.watch, 1),
            "poll_routes": dict(polls),
            "tasks_alive": tasks,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--watch", type=float, default=10.0, help="seconds of polling measured")
    parser.add_argument("--heap", action="store_true", help="also trace the Python heap")
    parser.add_argument("--json", help="also write the summary to this JSON file")
    args = parser.parse_args()
    refuse_non_loopback()
    print(machine())
    with server_process("--faults", SPEC) as server:
        summary = anyio.run(run, server, args)
    for key, value in summary.items():
        print(f"{key:>20}: {value}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(summary, out, indent=1)


if __name__ == "__main__":
    main()
