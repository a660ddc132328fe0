"""50 SPSA iterations of a 4-qubit VQE under the service's 5-submissions-per-minute limit.

Compares aioqruntime (an ``EstimatorEvaluator``: each SPSA iteration's two perturbed points are
one job, so 50 iterations + the final point = 51 jobs) with the official qiskit-ibm-runtime client
(``EstimatorV2`` in a ``Session``, ``run`` then ``result``) used two ways: at its best practice,
both perturbed points broadcast as one ``(2, P)`` parameter array per job (51 jobs, as ours), and
naively, one job per evaluation (101 jobs). Same SPSA, same seed, same points.

Time scale: the local server's limit is a sliding 60 s window of ``rate_limit_per_minute``
submissions; this script shortens the window to ``60 / scale`` seconds
(``ServerConfig.rate_limit_window``): IBM's 5 per minute becomes 5 per ``60 / scale`` s.
Both clients space their submissions the same way,
just under the scaled rate (95 %). The official client does not pace and answers a 429 with
``IBMRuntimeError`` (no retry), so its submissions go through a small pacer (plus a retry on
429): the least a user of it must add. Ours goes through the same pacing (``PacedEstimator``),
because the service's built-in pacing allows bursts of ``int(per_minute)`` submissions, which
a sliding window refuses at a scaled rate.

    python benchmarks/variational.py [--iterations 50] [--scale 30]

Loopback only: the server runs in its own process (no client shares its GIL); the official
client is pointed at it by configuration (official-client.md §2), and any non-loopback
connection or lookup is refused.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.from_thread
import numpy as np
from _harness import ServerProcess, official_service, refuse_non_loopback, server_process
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from aioqruntime import AsyncEstimator, AsyncRuntimeService, AsyncSession
from aioqruntime.variational import EstimatorEvaluator, EstimatorPacker, spsa

BACKEND = "ibm_local5"
QUBITS = 4
PRECISION = 0.01
SEED = 11
SPSA_GAINS = {"learning_rate": 0.2, "perturbation": 0.15, "alpha": 0.602, "gamma": 0.101}
IBM_PER_MINUTE = 5
#: Both clients pace at 95 % of the limit: at exactly the limit, jitter between client and server
#: clocks makes a sixth submission land inside the window now and then (a 429 and a retry).
PACING = 0.95 * IBM_PER_MINUTE


def hamiltonian() -> SparsePauliOp:
    """Transverse-field Ising chain, h = 1 (open boundary)."""
    zz = [("ZZ", [i, i + 1], 1.0) for i in range(QUBITS - 1)]
    x = [("X", [i], 1.0) for i in range(QUBITS)]
    return SparsePauliOp.from_sparse_list(zz + x, num_qubits=QUBITS)


def ansatz(reps: int = 2) -> QuantumCircuit:
    """Hardware-efficient: RY layer, then (CX chain, RY layer) ``reps`` times."""
    theta = iter(ParameterVector("θ", QUBITS * (reps + 1)))
    circuit = QuantumCircuit(QUBITS)
    for q in range(QUBITS):
        circuit.ry(next(theta), q)
    for _ in range(reps):
        for q in range(QUBITS - 1):
            circuit.cx(q, q + 1)
        for q in range(QUBITS):
            circuit.ry(next(theta), q)
    return circuit


@dataclass
class Run:
    name: str
    energy: float
    jobs: int
    seconds: float
    requests: int
    rejected: int  # 429 answers to POST /jobs


def count(server: ServerProcess, since: int) -> tuple[int, int, int]:
    """Jobs accepted, all requests and 429-rejected submissions since log index ``since``."""
    records = server.requests()[since:]
    posts = [r for r in records if r["method"] == "POST" and r["path"].endswith("/jobs")]
    return (
        sum(1 for r in posts if r["status"] < 300),
        len(records),
        sum(1 for r in posts if r["status"] == 429),
    )


# --- ours ---------------------------------------------------------------------------------------


async def run_ours(server: ServerProcess, iterations: int, scale: float) -> Run:
    async with AsyncRuntimeService(
        token=server.token,
        instance=server.instance,
        url=server.api_url,
        # The service's own pacing bursts up to int(per_minute) submissions, more than a sliding
        # window admits at a scaled rate: pace like the official run instead (PacedEstimator).
        submissions_per_minute=None,
    ) as service:
        backend = await service.backend(BACKEND)
        circuit = generate_preset_pass_manager(backend=backend, optimization_level=1).run(ansatz())
        observable = hamiltonian().apply_layout(circuit.layout)
        x0 = np.random.default_rng(SEED).uniform(-0.5, 0.5, circuit.num_parameters)
        since = len(await anyio.to_thread.run_sync(server.requests))
        started = time.perf_counter()
        async with (
            AsyncSession(backend, max_time="1h") as session,
            EstimatorEvaluator(
                PacedEstimator(session, interval=60.0 / scale / PACING),
                circuit,
                observable,
                precision=PRECISION,
            ) as ev,
        ):
            result = await spsa(
                ev.evaluate, x0, maxiter=iterations, track=False, seed=SEED, **SPSA_GAINS
            )
        seconds = time.perf_counter() - started
    jobs, requests, rejected = await anyio.to_thread.run_sync(count, server, since)
    assert jobs == ev.statistics().jobs_submitted
    return Run("aioqruntime (coalesced)", result.fun, jobs, seconds, requests, rejected)


async def run_ours_packed(
    server: ServerProcess, iterations: int, scale: float, optimizers: int
) -> Run:
    """``optimizers`` concurrent SPSA runs in one session, their evaluators sharing one packer."""
    async with AsyncRuntimeService(
        token=server.token, instance=server.instance, url=server.api_url,
        submissions_per_minute=None,
    ) as service:  # fmt: skip
        backend = await service.backend(BACKEND)
        circuit = generate_preset_pass_manager(backend=backend, optimization_level=1).run(ansatz())
        observable = hamiltonian().apply_layout(circuit.layout)
        since = len(await anyio.to_thread.run_sync(server.requests))
        finals: list[float] = []
        started = time.perf_counter()
        async with (
            AsyncSession(backend, max_time="1h") as session,
            EstimatorPacker(
                PacedEstimator(session, interval=60.0 / scale / PACING), window=0.05
            ) as packer,
        ):

            async def optimize(seed: int) -> None:
                x0 = np.random.default_rng(seed).uniform(-0.5, 0.5, circuit.num_parameters)
                async with EstimatorEvaluator(
                    packer, circuit, observable, precision=PRECISION
                ) as ev:
                    result = await spsa(
                        ev.evaluate, x0, maxiter=iterations, track=False, seed=seed, **SPSA_GAINS
                    )
                finals.append(result.fun)

            async with anyio.create_task_group() as tg:
                for seed in range(SEED, SEED + optimizers):
                    tg.start_soon(optimize, seed)
        seconds = time.perf_counter() - started
    jobs, requests, rejected = await anyio.to_thread.run_sync(count, server, since)
    assert jobs == packer.statistics().jobs_submitted
    name = f"aioqruntime ({optimizers} optimizers, packed)"
    return Run(name, min(finals), jobs, seconds, requests, rejected)


class PacedEstimator(AsyncEstimator):
    """Submissions spaced ``interval`` apart, as :class:`Pacer` does for the official client."""

    def __init__(self, mode: Any, *, interval: float) -> None:
        super().__init__(mode)
        self.interval = interval
        self.last = -float("inf")
        self.lock = anyio.Lock()

    async def run(self, pubs: Any, *, precision: float | None = None) -> Any:
        async with self.lock:
            await anyio.sleep(max(0.0, self.last + self.interval - time.monotonic()))
            self.last = time.monotonic()
        return await super().run(pubs, precision=precision)


# --- the official client -----------------------------------------------------------------------


def official_spsa(
    estimator: Any,
    submit: Pacer,
    circuit: QuantumCircuit,
    observable: SparsePauliOp,
    *,
    iterations: int,
    seed: int,
    broadcast: bool,
) -> float:
    """The same SPSA as aioqruntime.variational.spsa(track=False, resamplings=1)."""
    x = np.random.default_rng(seed).uniform(-0.5, 0.5, circuit.num_parameters)
    rng = np.random.default_rng(seed)

    def energy(point: np.ndarray) -> float:
        job = submit(lambda: estimator.run([(circuit, observable, point)], precision=PRECISION))
        return float(job.result()[0].data.evs)

    def energies(points: np.ndarray) -> tuple[float, float]:
        # Best practice: both points broadcast in one pub, one job.
        job = submit(lambda: estimator.run([(circuit, observable, points)], precision=PRECISION))
        plus, minus = job.result()[0].data.evs
        return float(plus), float(minus)

    a, c = SPSA_GAINS["learning_rate"], SPSA_GAINS["perturbation"]
    stability = 0.1 * iterations
    for k in range(iterations):
        gain = a / (k + 1 + stability) ** SPSA_GAINS["alpha"]
        spread = c / (k + 1) ** SPSA_GAINS["gamma"]
        delta = rng.choice([-1.0, 1.0], size=(1, x.size))[0]
        if broadcast:
            plus, minus = energies(np.stack([x + spread * delta, x - spread * delta]))
        else:
            plus, minus = energy(x + spread * delta), energy(x - spread * delta)
        x = x - gain * (plus - minus) / (2 * spread) * delta
    return energy(x)


def run_official(
    server: ServerProcess, iterations: int, scale: float, *, broadcast: bool, optimizers: int = 1
) -> Run:
    """``optimizers`` > 1: that many SPSA runs (seeds SEED, SEED + 1, ...) from as many threads
    in one session, sharing one pacer (the official client's way to run them concurrently)."""
    from qiskit_ibm_runtime import EstimatorV2, Session

    with official_service(server) as service:
        backend = service.backend(BACKEND)
        circuit = generate_preset_pass_manager(backend=backend, optimization_level=1).run(ansatz())
        observable = hamiltonian().apply_layout(circuit.layout)
        since = len(server.requests())
        started = time.perf_counter()
        submit = Pacer(interval=60.0 / scale / PACING)
        with Session(backend=backend) as session:
            estimator = EstimatorV2(mode=session)

            def optimize(seed: int) -> float:
                return official_spsa(
                    estimator, submit, circuit, observable,
                    iterations=iterations, seed=seed, broadcast=broadcast,
                )  # fmt: skip

            with ThreadPoolExecutor(max_workers=optimizers) as pool:
                finals = list(pool.map(optimize, range(SEED, SEED + optimizers)))
        seconds = time.perf_counter() - started
    jobs, requests, rejected = count(server, since)
    name = "official (best practice, broadcast)" if broadcast else "official (1 job per eval)"
    if optimizers > 1:
        name = f"official ({optimizers} threads, broadcast)"
    return Run(name, min(finals), jobs, seconds, requests, rejected)


class Pacer:
    """What a user of the official client must add: it neither paces nor retries a 429.

    Submissions are spaced ``interval`` apart (the scaled 5/min, as our client paces itself);
    a 429 that still happens is retried after another interval.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last = -float("inf")
        self.lock = threading.Lock()  # threads share it

    def __call__(self, submit: Callable[[], Any]) -> Any:
        from qiskit_ibm_runtime.exceptions import IBMRuntimeError

        while True:
            with self.lock:
                time.sleep(max(0.0, self.last + self.interval - time.monotonic()))
                self.last = time.monotonic()
            try:
                return submit()
            except IBMRuntimeError as exc:
                if "429" not in str(exc):
                    raise


# --- loopback guard and driver ------------------------------------------------------------------


async def warm_up(server: ServerProcess) -> None:
    """One job first, so that no measured run pays the worker process start-up."""
    async with AsyncRuntimeService(
        token=server.token, instance=server.instance, url=server.api_url
    ) as service:
        backend = await service.backend(BACKEND)
        circuit = generate_preset_pass_manager(backend=backend, optimization_level=1).run(ansatz())
        observable = hamiltonian().apply_layout(circuit.layout)
        await (await AsyncEstimator(backend).run([(circuit, observable, np.zeros(12))]))


def report(runs: list[Run], iterations: int, scale: float) -> None:
    exact = float(np.linalg.eigvalsh(hamiltonian().to_matrix()).min())
    window = 60.0 / scale
    print()
    print(f"VQE, 4-qubit TFIM (exact ground energy {exact:+.4f}), {iterations} SPSA iterations")
    print(
        f"server limit: {IBM_PER_MINUTE} submissions per {window:g} s sliding window "
        f"= IBM's {IBM_PER_MINUTE}/min at {scale:g}x time scale"
    )
    header = (
        f"{'client':36} {'jobs':>5} {'wall s':>8} {'= real min':>10} {'requests':>9}"
        f" {'429s':>5} {'energy':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in runs:
        print(
            f"{r.name:36} {r.jobs:5d} {r.seconds:8.2f} {r.seconds * scale / 60:10.1f}"
            f" {r.requests:9d} {r.rejected:5d} {r.energy:+8.4f}"
        )
    ours, *officials = runs
    print()
    for official in officials:
        print(
            f"{official.name} / ours: jobs x{official.jobs / ours.jobs:.2f}, "
            f"wall time x{official.seconds / ours.seconds:.2f}, "
            f"requests x{official.requests / ours.requests:.2f}"
        )
    print(
        f"('= real min': wall time x {scale:g} / 60, the minutes the run would take at the real "
        f"rate limit if the rest of the work scaled likewise)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--scale", type=float, default=30.0)
    parser.add_argument(
        "--optimizers",
        type=int,
        default=1,
        help="K > 1: K concurrent SPSA runs (multi-start), ours packed vs K official threads",
    )
    parser.add_argument("--json", help="also write the runs to this JSON file")
    args = parser.parse_args()
    refuse_non_loopback()
    # IBM's 5 per minute, with the server's sliding window scaled down by `scale`.
    config = {"rate_limit_per_minute": IBM_PER_MINUTE, "rate_limit_window": 60.0 / args.scale}
    with server_process(config=config) as server:
        anyio.run(warm_up, server)
        print(f"server at {server.url}; {args.iterations} iterations, time scale {args.scale:g}x")
        if args.optimizers > 1:
            runs = [
                anyio.run(run_ours_packed, server, args.iterations, args.scale, args.optimizers),
                run_official(
                    server, args.iterations, args.scale, broadcast=True,
                    optimizers=args.optimizers,
                ),
            ]  # fmt: skip
        else:
            runs = [anyio.run(run_ours, server, args.iterations, args.scale)]
            for broadcast in (True, False):
                runs.append(run_official(server, args.iterations, args.scale, broadcast=broadcast))
        for run in runs:
            print(f"  {run.name}: {run.jobs} jobs, {run.seconds:.1f} s")
    report(runs, args.iterations, args.scale)
    if args.json:
        with open(args.json, "w") as out:
            json.dump([vars(run) for run in runs], out, indent=1)


if __name__ == "__main__":  # the local server starts spawn worker processes
    main()
