"""Throughput of the local runtime server on this machine (not a test).

    python benchmarks/server.py [--clients 16] [--seconds 5] [--jobs 200] [--workers 1]
                                [--first-job-runs 3] [--cold-runs 3]

1. requests/s: N concurrent aiohttp clients loop on ``GET /jobs/{id}?exclude_params=true``
   (the polling request) for a fixed time against one server.
2. jobs/s: M trivial Bell jobs (100 shots, ``ibm_local5``, execution delay 0) submitted at once;
   wall time from the first submission to the last completion, and the submission rate alone.
3. first job: a server started cold, as ``AsyncRuntimeService.local()`` starts it (its own fresh
   simulation pool, nothing warmed up): seconds from entering the server to serving, and from
   then to the first Bell job's completion (``--first-job-runs`` times, median).
4. cold ``.local()``: a fresh interpreter per run (``--cold-runs`` times, median) enters
   ``AsyncRuntimeService.local()``, transpiles a Bell circuit and awaits its first result: the
   wall time a new user's first script waits, worker start-up included.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

import aiohttp
from qiskit import QuantumCircuit, transpile
from qiskit.primitives.containers.sampler_pub import SamplerPub

from aioqruntime.backends import default_devices
from aioqruntime.codec import encode_sampler_pubs
from aioqruntime.server import LocalRuntimeServer, ServerConfig, SimulationPool


def bell_body() -> dict[str, object]:
    device = next(d for d in default_devices() if d.name == "ibm_local5")
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    isa = transpile(qc, backend=device.backend(), optimization_level=1, seed_transpiler=1)
    return {
        "program_id": "sampler",
        "backend": "ibm_local5",
        "params": {
            "pubs": encode_sampler_pubs([SamplerPub.coerce((isa, None, 100))]),
            "options": {},
            "version": 2,
            "support_qiskit": True,
        },
    }


async def token_for(http: aiohttp.ClientSession, server: LocalRuntimeServer) -> str:
    response = await http.post(
        server.url + "/identity/token",
        data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": server.token},
    )
    return str((await response.json())["access_token"])


async def bench_requests(
    server: LocalRuntimeServer, body: dict[str, object], clients: int, seconds: float
) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as http:
        headers = {
            "Authorization": f"Bearer {await token_for(http, server)}",
            "Service-CRN": server.instance,
        }
        response = await http.post(server.api_url + "/jobs", json=body, headers=headers)
        job_id = (await response.json())["id"]
        url = f"{server.api_url}/jobs/{job_id}?exclude_params=true"
        done = 0
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with http.get(url, headers=headers) as reply:
                    await reply.read()
                    assert reply.status == 200
                latencies.append(time.perf_counter() - started)
                done += 1

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    print(
        f"GET /jobs/{{id}}: {done / elapsed:8.0f} requests/s with {clients} concurrent clients "
        f"over {elapsed:.1f} s (p50 {latencies[len(latencies) // 2] * 1e3:.2f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1e3:.2f} ms)"
    )


async def bench_jobs(server: LocalRuntimeServer, body: dict[str, object], jobs: int) -> None:
    async with aiohttp.ClientSession() as http:
        headers = {
            "Authorization": f"Bearer {await token_for(http, server)}",
            "Service-CRN": server.instance,
        }

        async def submit() -> str:
            async with http.post(server.api_url + "/jobs", json=body, headers=headers) as reply:
                return str((await reply.json())["id"])

        began = time.perf_counter()
        ids = await asyncio.gather(*(submit() for _ in range(jobs)))
        submitted = time.perf_counter() - began
        for job_id in ids:
            await server.wait_for_job_state(job_id, "Completed")
        elapsed = time.perf_counter() - began
    print(
        f"Bell jobs: {jobs / elapsed:8.1f} jobs/s end to end ({jobs} jobs in {elapsed:.2f} s; "
        f"submission alone {jobs / submitted:.0f} jobs/s incl. validation)"
    )


async def bench_first_job(body: dict[str, object], runs: int) -> None:
    starts: list[float] = []
    firsts: list[float] = []
    for _ in range(runs):
        began = time.perf_counter()
        async with LocalRuntimeServer() as server:
            serving = time.perf_counter()
            async with aiohttp.ClientSession() as http:
                headers = {
                    "Authorization": f"Bearer {await token_for(http, server)}",
                    "Service-CRN": server.instance,
                }
                async with http.post(server.api_url + "/jobs", json=body, headers=headers) as reply:
                    job_id = str((await reply.json())["id"])
                await server.wait_for_job_state(job_id, "Completed")
            done = time.perf_counter()
        starts.append(serving - began)
        firsts.append(done - serving)
    totals = [start + first for start, first in zip(starts, firsts, strict=True)]
    print(
        f"first job (cold server, median of {runs}): server start"
        f" {statistics.median(starts):.2f} s, then the first Bell job completed after"
        f" {statistics.median(firsts):.2f} s (total {statistics.median(totals):.2f} s)"
    )


_COLD_SCRIPT = """
import asyncio, time
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from aioqruntime import AsyncRuntimeService, AsyncSampler

async def main():
    began = time.perf_counter()
    async with AsyncRuntimeService.local() as service:
        backend = await service.backend("ibm_local5")
        bell = QuantumCircuit(2)
        bell.h(0)
        bell.cx(0, 1)
        bell.measure_all()
        isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(bell)
        await (await AsyncSampler(mode=backend).run([isa], shots=100))
        print("FIRST_RESULT", time.perf_counter() - began)

if __name__ == "__main__":
    asyncio.run(main())
"""


def bench_cold_local(runs: int) -> None:
    seconds = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", _COLD_SCRIPT], capture_output=True, text=True, check=True
        )
        seconds.append(float(done.stdout.split("FIRST_RESULT")[1].split()[0]))
    print(
        f"cold .local() (fresh interpreter, median of {runs}): first Bell result"
        f" {statistics.median(seconds):.2f} s after entering the service"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--lanes", type=int, default=1)
    parser.add_argument("--first-job-runs", type=int, default=3)
    parser.add_argument("--cold-runs", type=int, default=3)
    args = parser.parse_args()
    body = bell_body()
    if args.cold_runs > 0:
        bench_cold_local(args.cold_runs)
    if args.first_job_runs > 0:
        await bench_first_job(body, args.first_job_runs)
    pool = SimulationPool(workers=args.workers)
    try:
        await pool.warm_up()
        config = ServerConfig(execution_delay=0.0, lanes=args.lanes)
        async with LocalRuntimeServer(config=config, pool=pool) as server:
            server.pause()  # the polled job stays Queued: pure request handling
            await bench_requests(server, body, args.clients, args.seconds)
        async with LocalRuntimeServer(config=config, pool=pool) as server:
            await bench_jobs(server, body, args.jobs)
    finally:
        pool.close(wait=True)


if __name__ == "__main__":
    asyncio.run(main())
