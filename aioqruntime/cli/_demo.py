"""``aioqruntime demo``: the README's main command.

Starts the embedded local runtime server (no IBM account needed), runs the Bell example in a
session, then a short VQE: SPSA through the coalescing evaluator, so every iteration is a single
estimator job carrying all of its parameter sets as one broadcast PUB. Prints a summary: counts,
energy, jobs and time.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from aioqruntime.cli._output import echo
from aioqruntime.cli._status import EXIT_OK

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

# H2 at 0.735 Å (STO-3G, parity mapping, two-qubit reduction): a standard two-qubit test case.
_H2_TERMS = [
    ("II", -1.052373),
    ("IZ", 0.397937),
    ("ZI", -0.397937),
    ("ZZ", -0.011280),
    ("XX", 0.180931),
]
_SPSA_ITERATIONS = 40

__all__ = ["add_parser", "demo"]


def add_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo", help="run the demo against the embedded local server"
    )
    parser.set_defaults(handler=demo)


@dataclass
class _Progress:
    """A one-line progress bar on a terminal; silent when the stream is not a TTY."""

    total: int
    label: str
    stream: TextIO = sys.stderr
    done: int = 0

    def advance(self, note: str = "") -> None:
        self.done += 1
        if not self.stream.isatty():
            return
        width = 30
        filled = width * self.done // self.total
        bar = "#" * filled + "-" * (width - filled)
        end = "\n" if self.done >= self.total else ""
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} {note}{end}")
        self.stream.flush()


def _bell() -> QuantumCircuit:
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def _ansatz() -> QuantumCircuit:
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    theta = ParameterVector("θ", 4)
    circuit = QuantumCircuit(2)
    circuit.ry(theta[0], 0)
    circuit.ry(theta[1], 1)
    circuit.cx(0, 1)
    circuit.ry(theta[2], 0)
    circuit.ry(theta[3], 1)
    return circuit


def _hamiltonian() -> SparsePauliOp:
    from qiskit.quantum_info import SparsePauliOp

    return SparsePauliOp.from_list(_H2_TERMS)


def _exact_ground_energy() -> float:
    import numpy as np

    return float(np.linalg.eigvalsh(_hamiltonian().to_matrix()).min())


async def _run() -> dict[str, Any]:
    import numpy as np
    from qiskit.transpiler import generate_preset_pass_manager

    from aioqruntime import AsyncRuntimeService, AsyncSampler, AsyncSession
    from aioqruntime.variational import EstimatorEvaluator, spsa

    started = time.perf_counter()
    jobs = 0
    async with AsyncRuntimeService.local() as service:
        backend = await service.backend("ibm_local5")
        pass_manager = generate_preset_pass_manager(backend=backend, optimization_level=1)
        bell = pass_manager.run(_bell())
        ansatz = pass_manager.run(_ansatz())
        observable = _hamiltonian().apply_layout(ansatz.layout)

        async with AsyncSession(backend=backend, max_time="10m", service=service) as session:
            sampler = AsyncSampler(mode=session)
            bell_job = await sampler.run([bell], shots=1000)
            jobs += 1
            counts = (await bell_job)[0].data.meas.get_counts()

            progress = _Progress(total=_SPSA_ITERATIONS, label="VQE (SPSA)")
            x0 = np.random.default_rng(7).uniform(-np.pi, np.pi, size=ansatz.num_parameters)
            # Each SPSA iteration's points are evaluated concurrently; the evaluator coalesces
            # them into one job whose PUB carries a broadcast parameter array.
            async with EstimatorEvaluator(session, ansatz, observable, precision=0.01) as ev:
                found = await spsa(
                    ev.evaluate,
                    x0,
                    maxiter=_SPSA_ITERATIONS,
                    learning_rate=0.6,
                    perturbation=0.15,
                    resamplings=2,
                    seed=7,
                    callback=lambda _k, _x, value: progress.advance(f"E={value:+.4f}"),
                )
            jobs += ev.statistics().jobs_submitted
            energy = float(found.fun)

    return {
        "backend": backend.name,
        "counts": counts,
        "energy": energy,
        "exact": _exact_ground_energy(),
        "jobs": jobs,
        "seconds": time.perf_counter() - started,
    }


def demo(args: argparse.Namespace) -> int:
    """Run the demo and print its summary; the exit status."""
    import anyio

    summary = anyio.run(_run)
    counts = dict(sorted(summary["counts"].items()))
    out = sys.stdout
    echo("aioqruntime demo (embedded local server, qiskit-aer)", out)
    echo(f"  backend        : {summary['backend']}", out)
    echo(f"  Bell counts    : {counts}", out)
    echo(f"  VQE energy     : {summary['energy']:+.4f} Ha (exact {summary['exact']:+.4f} Ha)", out)
    echo(f"  jobs submitted : {summary['jobs']}", out)
    echo(f"  wall time      : {summary['seconds']:.1f} s", out)
    return EXIT_OK
