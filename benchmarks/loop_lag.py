"""Event-loop lag of the SDK while it settles real jobs, and while results are decoded.

No official counterpart: the official client is synchronous and has no event loop to measure.

A ticker task sleeps 1 ms in a loop and records how late it wakes up (oversleep): that is how
long any other coroutine (an HTTP handler, a watcher tick) would have waited for the loop.

* ``sdk`` (the default measurement, ``--sdk-jobs N``, 100 unless 0): N real sampler jobs
  through ``AsyncRuntimeService`` against a local server in its own process
  (``aioqruntime serve``), so that only the client shares this loop; the SDK fetches and decodes
  each result (``ServiceCore.decode_result``: worker threads, ``decode_threads=4``).
* ``idle``: nothing else running (the floor of this machine).
* the same decoding without the SDK, on 1,000 result documents of 10,000 shots each
  (``--docs 0`` skips these): ``off-loop``, ``anyio.to_thread.run_sync(loads, ...)`` with a
  4-thread limiter fed by 4 workers; ``off-burst``, all decode tasks started at once;
  ``inline``, ``aioqruntime.codec.loads(text)`` on the loop with a checkpoint in between (what a
  client that decodes in its response handler does).

    python benchmarks/loop_lag.py [--sdk-jobs 100] [--docs 1000] [--shots 10000] [--bits 32]

Figures are lag in milliseconds (p50 / p99 / max) and wall time.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np

from aioqruntime.codec import dumps, loads

TICK = 0.001


@dataclass
class Lag:
    name: str
    samples: list[float]
    wall: float
    work: int

    def summary(self) -> dict[str, object]:
        ms = sorted(s * 1000 for s in self.samples)
        return {
            "name": self.name,
            "p50_ms": round(statistics.median(ms), 2),
            "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
            "max_ms": round(ms[-1], 2),
            "wall_s": round(self.wall, 2),
            "done": self.work,
        }

    def row(self) -> str:
        ms = sorted(s * 1000 for s in self.samples)
        p50 = statistics.median(ms)
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        return (
            f"{self.name:<10} {p50:>8.2f} {p99:>8.2f} {ms[-1]:>9.2f} {len(ms):>7} "
            f"{self.wall:>8.2f} {self.work:>6}"
        )


def result_document(shots: int, bits: int, seed: int = 0) -> str:
    """One sampler result (one pub, ``shots`` x ``bits`` random outcomes) as the server sends it."""
    from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, size=(shots, (bits + 7) // 8), dtype=np.uint8)
    pub = SamplerPubResult(DataBin(meas=BitArray(array, bits)), metadata={"circuit_metadata": {}})
    return dumps(PrimitiveResult([pub], metadata={"version": 2}))


async def measure(name: str, work: Callable[[], Awaitable[int]]) -> Lag:
    """Run ``work`` while the ticker records its oversleep; stop the ticker when work is done."""
    samples: list[float] = []

    async def ticker() -> None:
        while True:
            started = time.perf_counter()
            await anyio.sleep(TICK)
            samples.append(max(0.0, time.perf_counter() - started - TICK))

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.sleep(0.05)  # the ticker is running before the work starts
        done = await work()
        tg.cancel_scope.cancel()
    return Lag(name, samples, time.perf_counter() - started, done)


async def idle(seconds: float) -> int:
    await anyio.sleep(seconds)
    return 0


def off_loop(text: str, count: int, *, burst: bool) -> Callable[[], Awaitable[int]]:
    """Decode in worker threads (4-thread limiter, as the SDK).

    ``burst``: all ``count`` tasks started at once (the SDK's watcher starts one settle task per
    finished job, so a tick that finds many finished jobs does this); else 4 long-lived workers
    pull documents one at a time (documents arriving over time).
    """

    async def work() -> int:
        limiter = anyio.CapacityLimiter(4)
        decoded = 0

        async def one() -> None:
            nonlocal decoded
            await anyio.to_thread.run_sync(loads, text, limiter=limiter)
            decoded += 1

        async def worker(share: int) -> None:
            for _ in range(share):
                await one()

        async with anyio.create_task_group() as tg:
            if burst:
                for _ in range(count):
                    tg.start_soon(one)
            else:
                for index in range(4):
                    tg.start_soon(worker, count // 4 + (1 if index < count % 4 else 0))
        return decoded

    return work


def inline(text: str, count: int) -> Callable[[], Awaitable[int]]:
    async def work() -> int:
        for _ in range(count):
            loads(text)
            await anyio.lowlevel.checkpoint()
        return count

    return work


def sdk_jobs(count: int, shots: int) -> Callable[[], Awaitable[int]]:
    async def work() -> int:
        from qiskit import QuantumCircuit

        from aioqruntime import AsyncRuntimeService, AsyncSampler

        argv = [sys.executable, "-m", "aioqruntime", "serve", "--port", "0", "--lanes", "2"]
        async with await anyio.open_process(argv, stderr=subprocess.DEVNULL) as server:
            assert server.stdout is not None
            line = (await server.stdout.receive()).decode()
            found = re.search(r"url=(\S+) api_key=(\S+)", line)
            assert found is not None, line
            url, key = found.groups()
            try:
                async with AsyncRuntimeService(
                    url=f"{url}/api/v1", token=key, submissions_per_minute=None
                ) as service:
                    backend = await service.backend("ibm_local27")
                    circuit = QuantumCircuit(27, 20)
                    circuit.h(range(20))  # 20 random bits per shot
                    circuit.measure(range(20), range(20))
                    # Transpiling (and importing the transpiler) is CPU work: not on the loop
                    # being measured.
                    circuit = await anyio.to_thread.run_sync(_transpile, circuit, backend)
                    sampler = AsyncSampler(backend)
                    done = 0

                    async def one() -> None:
                        nonlocal done
                        job = await sampler.run([circuit], shots=shots)
                        await job
                        done += 1

                    async with anyio.create_task_group() as tg:
                        for _ in range(count):
                            tg.start_soon(one)
                    return done
            finally:
                server.terminate()

    return work


def _transpile(circuit: Any, backend: Any) -> Any:
    from qiskit.transpiler import generate_preset_pass_manager

    return generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)


async def main(args: argparse.Namespace) -> None:
    text = result_document(args.shots, args.bits)
    print(
        f"{args.docs} sampler results, {args.shots} shots x {args.bits} bits each "
        f"({len(text) / 1e3:.0f} kB of JSON per document); ticker sleeps {TICK * 1e3:.0f} ms"
    )
    start = time.perf_counter()
    loads(text)
    print(f"one decode: {(time.perf_counter() - start) * 1e3:.2f} ms")
    runs = [await measure("idle", lambda: idle(1.0))]
    if args.sdk_jobs:
        # Imported before the ticker starts: a first import is not the SDK's steady state.
        import aioqruntime.primitives
        import aioqruntime.runtime
        import aioqruntime.transport  # noqa: F401

        runs.append(await measure("sdk", sdk_jobs(args.sdk_jobs, args.shots)))
    if args.docs:
        runs += [
            await measure("off-loop", off_loop(text, args.docs, burst=False)),
            await measure("off-burst", off_loop(text, args.docs, burst=True)),
            await measure("inline", inline(text, args.docs)),
        ]
    print()
    print(
        f"{'':<10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>9} {'ticks':>7} {'wall s':>8} {'done':>6}"
    )
    for run in runs:
        print(run.row())
    if args.json:
        import json
        from pathlib import Path

        text = json.dumps([run.summary() for run in runs], indent=1)
        await anyio.to_thread.run_sync(Path(args.json).write_text, text)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="event-loop lag while results are decoded")
    parser.add_argument(
        "--docs", type=int, default=1000, help="result documents decoded without the SDK (0: none)"
    )
    parser.add_argument("--shots", type=int, default=10_000, help="shots each (default 10000)")
    parser.add_argument("--bits", type=int, default=32, help="bits per shot (default 32)")
    parser.add_argument(
        "--sdk-jobs", type=int, default=100, help="N jobs through a local server (0: none)"
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    return parser.parse_args()


if __name__ == "__main__":
    anyio.run(main, parse_args())
