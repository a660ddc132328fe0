"""QAOA MaxCut on a 6-node graph with SPSA on the embedded local server: coalesced vs naive.

The cost ``<H>`` (H = Σ_(i,j) (Z_i Z_j - 1) / 2, so -<H> is the expected cut) is minimised by SPSA
over the QAOA angles (p = 2). The coalesced run sends each iteration's points as one estimator job
through an ``EstimatorEvaluator``; the naive run submits one job per evaluation and waits for it.
The final angles are sampled (``SamplerEvaluator``) and the best sampled cut is compared with the
optimum found by brute force.

    python examples/qaoa_maxcut.py [--iterations 30]
"""

from __future__ import annotations

import argparse
import itertools
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
from aioqruntime.variational import EstimatorEvaluator, SamplerEvaluator, spsa

NODES = 6
EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (0, 2), (1, 4), (3, 5)]
LAYERS = 2
PRECISION = 0.02
SHOTS = 1000
SPSA_SETTINGS: dict[str, Any] = {"learning_rate": 0.1, "perturbation": 0.1}


def cost_operator() -> SparsePauliOp:
    terms = [("ZZ", [i, j], 0.5) for i, j in EDGES] + [("I", [0], -0.5 * len(EDGES))]
    return SparsePauliOp.from_sparse_list(terms, num_qubits=NODES).simplify()


def qaoa(measure: bool) -> QuantumCircuit:
    gammas, betas = ParameterVector("γ", LAYERS), ParameterVector("β", LAYERS)
    circuit = QuantumCircuit(NODES)
    circuit.h(range(NODES))
    for layer in range(LAYERS):
        for i, j in EDGES:
            circuit.rzz(2 * gammas[layer], i, j)
        circuit.rx(2 * betas[layer], range(NODES))
    if measure:
        circuit.measure_all()
    return circuit


def cut_value(bits: str) -> int:
    """Edges cut by a bitstring (qiskit order: node 0 is the rightmost character)."""
    side = bits[::-1]
    return sum(side[i] != side[j] for i, j in EDGES)


def cuts(counts: dict[str, int]) -> tuple[int, int]:
    """The cut of the most frequent bitstring, and the best cut among all sampled."""
    likeliest = max(counts, key=lambda bits: counts[bits])
    return cut_value(likeliest), max(cut_value(bits) for bits in counts)


def best_cut() -> int:
    return max(cut_value("".join(bits)) for bits in itertools.product("01", repeat=NODES))


@dataclass
class Run:
    name: str
    expected_cut: float
    likeliest_cut: int
    sampled_cut: int
    jobs: int
    seconds: float


async def run(
    *, iterations: int = 30, seed: int = 3, **server_options: Any
) -> tuple[int, list[Run]]:
    """The brute-force optimum and the coalesced and naive runs."""
    async with AsyncRuntimeService.local(**server_options) as service:
        backend = await service.backend("ibm_local27")
        pass_manager = generate_preset_pass_manager(
            backend=backend, optimization_level=1, seed_transpiler=seed
        )
        circuit, sampled = pass_manager.run(qaoa(False)), pass_manager.run(qaoa(True))
        observable = cost_operator().apply_layout(circuit.layout)
        # Parameters sort by name, so the betas come first: β = 0.4, γ = 0.3 is a good basin.
        x0 = np.array([0.4] * LAYERS + [0.3] * LAYERS)
        options = {"maxiter": iterations, "seed": seed, **SPSA_SETTINGS}
        runs = []

        started = time.perf_counter()
        async with AsyncSession(backend, max_time="10m") as session:
            async with EstimatorEvaluator(session, circuit, observable, precision=PRECISION) as ev:
                result = await spsa(ev.evaluate, x0, **options)
            async with SamplerEvaluator(session, sampled, shots=SHOTS) as sampler:
                counts = await sampler.counts(result.x)
        jobs = ev.statistics().jobs_submitted + sampler.statistics().jobs_submitted
        runs.append(
            Run("coalesced", -result.fun, *cuts(counts), jobs, time.perf_counter() - started)
        )

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
            async with SamplerEvaluator(session, sampled, shots=SHOTS) as sampler:
                counts = await sampler.counts(result.x)
            jobs += 1
        seconds = time.perf_counter() - started
        runs.append(Run("naive (1 job/evaluation)", -result.fun, *cuts(counts), jobs, seconds))
    return best_cut(), runs


def report(optimum: int, runs: list[Run]) -> None:
    print(f"QAOA MaxCut (p={LAYERS}), {NODES} nodes, {len(EDGES)} edges; optimum cut {optimum}")
    print(f"{'run':26} {'<cut>':>7} {'likeliest':>10} {'best seen':>10} {'jobs':>6} {'wall s':>8}")
    for r in runs:
        print(
            f"{r.name:26} {r.expected_cut:7.3f} {r.likeliest_cut:10d} {r.sampled_cut:10d}"
            f" {r.jobs:6d} {r.seconds:8.2f}"
        )
    ours, naive = runs
    jobs, seconds = naive.jobs / ours.jobs, naive.seconds / ours.seconds
    print(f"naive / coalesced: jobs x{jobs:.1f}, time x{seconds:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    optimum, runs = anyio.run(lambda: run(iterations=args.iterations))
    report(optimum, runs)


if __name__ == "__main__":  # the local server starts spawn worker processes
    main()
