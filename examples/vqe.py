"""VQE of H2 (two qubits) with SPSA on the embedded local server: coalesced vs naive.

Both runs use the same SPSA (same seed, same points). The coalesced run evaluates each iteration's
points concurrently through an ``EstimatorEvaluator``, so an iteration is one job whose PUB
carries all the points; the naive run submits one job per evaluation and waits for it, the way a
synchronous loop does. Prints the energy found vs the exact ground energy, jobs and wall time.

    python examples/vqe.py [--iterations 40] [--resamplings 1]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from aioqruntime import AsyncEstimator, AsyncRuntimeService, AsyncSession
from aioqruntime.variational import EstimatorEvaluator, spsa

# H2 at 0.735 Å (STO-3G, parity mapping, two-qubit reduction).
H2 = SparsePauliOp.from_list(
    [("II", -1.052373), ("IZ", 0.397937), ("ZI", -0.397937), ("ZZ", -0.011280), ("XX", 0.180931)]
)
PRECISION = 0.01
SPSA_SETTINGS: dict[str, Any] = {"learning_rate": 0.6, "perturbation": 0.15}


def ansatz(reps: int = 2) -> QuantumCircuit:
    """Hardware-efficient: RY on every qubit, then (CX, RY) ``reps`` times."""
    theta = ParameterVector("θ", 2 * (reps + 1))
    circuit = QuantumCircuit(2)
    circuit.ry(theta[0], 0)
    circuit.ry(theta[1], 1)
    for rep in range(1, reps + 1):
        circuit.cx(0, 1)
        circuit.ry(theta[2 * rep], 0)
        circuit.ry(theta[2 * rep + 1], 1)
    return circuit


@dataclass
class Run:
    name: str
    energy: float
    jobs: int
    seconds: float


async def run(
    *, iterations: int = 40, resamplings: int = 1, seed: int = 7, **server_options: Any
) -> tuple[float, list[Run]]:
    """The exact ground energy and the coalesced and naive runs."""
    exact = float(np.linalg.eigvalsh(H2.to_matrix()).min())
    async with AsyncRuntimeService.local(**server_options) as service:
        backend = await service.backend("ibm_local5")
        circuit = generate_preset_pass_manager(backend=backend, optimization_level=1).run(ansatz())
        observable = H2.apply_layout(circuit.layout)
        x0 = np.random.default_rng(seed).uniform(-np.pi, np.pi, circuit.num_parameters)
        options = {"maxiter": iterations, "resamplings": resamplings, "seed": seed, **SPSA_SETTINGS}
        runs = []

        started = time.perf_counter()
        async with (
            AsyncSession(backend, max_time="10m") as session,
            EstimatorEvaluator(session, circuit, observable, precision=PRECISION) as ev,
        ):
            result = await spsa(ev.evaluate, x0, **options)
        jobs = ev.statistics().jobs_submitted
        runs.append(Run("coalesced", result.fun, jobs, time.perf_counter() - started))

        started = time.perf_counter()
        async with AsyncSession(backend, max_time="10m") as session:
            estimator = AsyncEstimator(session)
            one_at_a_time = anyio.Lock()
            jobs = 0

            async def naive(x: np.ndarray) -> float:
                # One job per evaluation, waited for before the next: a synchronous loop's pattern.
                nonlocal jobs
                async with one_at_a_time:
                    job = await estimator.run([(circuit, observable, x)], precision=PRECISION)
                    jobs += 1
                    return float((await job)[0].data.evs)

            result = await spsa(naive, x0, **options)
        runs.append(
            Run("naive (1 job/evaluation)", result.fun, jobs, time.perf_counter() - started)
        )
    return exact, runs


def report(exact: float, runs: list[Run]) -> None:
    print(f"VQE of H2 (2 qubits), SPSA, local server; exact ground energy {exact:+.4f} Ha")
    print(f"{'run':26} {'energy Ha':>10} {'error':>8} {'jobs':>6} {'wall s':>8}")
    for r in runs:
        print(f"{r.name:26} {r.energy:+10.4f} {r.energy - exact:8.4f} {r.jobs:6d} {r.seconds:8.2f}")
    ours, naive = runs
    jobs, seconds = naive.jobs / ours.jobs, naive.seconds / ours.seconds
    print(f"naive / coalesced: jobs x{jobs:.1f}, time x{seconds:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--resamplings", type=int, default=1)
    args = parser.parse_args()
    exact, runs = anyio.run(lambda: run(iterations=args.iterations, resamplings=args.resamplings))
    report(exact, runs)


if __name__ == "__main__":  # the local server starts spawn worker processes
    main()
