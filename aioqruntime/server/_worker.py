"""What runs inside a simulation worker process: decode the params, simulate with Aer, encode.

The parent sends plain text and small dicts (the params JSON text, the device configuration) and
gets text back (the result JSON, or a traceback-like text for a failed job), so nothing but strings
and builtins crosses the process boundary. Qiskit and Aer are imported once per worker
(:func:`warm_up`), never in the event-loop process by this module's import.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["DEFAULT_PRECISION", "DEFAULT_SHOTS", "JobOutcome", "run_job", "warm_up"]

#: Service defaults when neither the pub nor the options say (protocol.md §3.4).
DEFAULT_SHOTS = 4096
DEFAULT_PRECISION = 0.015625

#: ``(ok, text, stats)``: the result or error text, plus numbers for usage and metrics.
JobOutcome = tuple[bool, str, dict[str, Any]]


def warm_up() -> str:
    """Import the heavy modules once, so the first job does not pay for it."""
    import qiskit
    import qiskit_aer.primitives  # noqa: F401

    import aioqruntime.codec  # noqa: F401

    return str(qiskit.__version__)


def run_job(
    program_id: str,
    params_text: str,
    *,
    noise_device: tuple[Mapping[str, Any], Mapping[str, Any] | None] | None = None,
) -> JobOutcome:
    """Run one job of a program the server runs; never raises (a failure is traceback text)."""
    started = time.perf_counter()
    try:
        from aioqruntime.codec import loads

        noise_model = _noise_model(noise_device) if noise_device is not None else None
        if program_id == "executor":
            from aioqruntime.server._program_executor import run_executor

            # Plain JSON read by IBM's own wire models, not the RuntimeDecoder tags.
            text, executions = run_executor(params_text, noise_model)
            return _done(started, text, executions)
        params = loads(params_text)
        if not isinstance(params, dict):
            raise ValueError("params must be a JSON object")
        if program_id == "sampler":
            text, executions = _run_sampler(params, noise_model)
        elif program_id == "estimator":
            text, executions = _run_estimator(params, noise_model)
        else:
            raise ValueError(f"program {program_id!r} cannot be simulated")
    except Exception:  # the job failed; its traceback is the job's error text
        return False, traceback.format_exc(), {"seconds": time.perf_counter() - started}
    return _done(started, text, executions)


def _done(started: float, text: str, executions: int) -> JobOutcome:
    import qiskit

    stats = {
        "seconds": time.perf_counter() - started,
        "executions": executions,
        "qiskit_version": str(qiskit.__version__),
    }
    return True, text, stats


def _options(params: Mapping[str, Any]) -> dict[str, Any]:
    options = params.get("options") or {}
    return dict(options) if isinstance(options, Mapping) else {}


def _seed(options: Mapping[str, Any], *extra: str) -> int | None:
    simulator = options.get("simulator") or {}
    seed = simulator.get("seed_simulator") if isinstance(simulator, Mapping) else None
    for key in extra:
        if seed is None and options.get(key) is not None:
            seed = options[key]
    return int(seed) if seed is not None else None


_NOISE_CACHE: dict[str, Any] = {}


def _noise_model(device: tuple[Mapping[str, Any], Mapping[str, Any] | None]) -> Any:
    """The device's Aer noise model, built once per worker and device (it is not cheap)."""
    configuration, properties = device
    key = f"{configuration.get('backend_name')}@{(properties or {}).get('last_update_date')}"
    if key not in _NOISE_CACHE:
        from aioqruntime.backends import RuntimeBackend, noise_model_for

        _NOISE_CACHE[key] = noise_model_for(RuntimeBackend(configuration, properties))
    return _NOISE_CACHE[key]


def _backend_options(noise_model: Any) -> dict[str, Any]:
    return {} if noise_model is None else {"noise_model": noise_model}


def _active_qubits(circuit: Any, extra: Sequence[int] = ()) -> list[int]:
    """Qubits any instruction touches (plus ``extra``), in index order."""
    used: set[int] = set(extra)
    for instruction in circuit.data:
        for qubit in instruction.qubits:
            used.add(circuit.find_bit(qubit).index)
    return sorted(used)


def _compact(circuit: Any, active: Sequence[int]) -> Any:
    """The circuit on just its ``active`` qubits, renumbered; classical bits are kept as they are.

    A 127-qubit ISA circuit of a Bell pair becomes a 2-qubit circuit, so even simulation methods
    that do not truncate idle qubits themselves stay fast. Control flow keeps its own bit lists,
    so circuits with control flow are left alone.
    """
    if len(active) == circuit.num_qubits or any(
        getattr(inst.operation, "blocks", ()) for inst in circuit.data
    ):
        return circuit
    from qiskit.circuit import QuantumCircuit, QuantumRegister

    register = QuantumRegister(len(active), "q")
    position = {q: i for i, q in enumerate(active)}
    compact = QuantumCircuit(
        register,
        *circuit.cregs,
        name=circuit.name,
        global_phase=circuit.global_phase,
        metadata=circuit.metadata,
    )
    loose_clbits = [bit for bit in circuit.clbits if not circuit.find_bit(bit).registers]
    if loose_clbits:
        compact.add_bits(loose_clbits)
    for instruction in circuit.data:
        qubits = [register[position[circuit.find_bit(q).index]] for q in instruction.qubits]
        compact.append(instruction.operation, qubits, instruction.clbits, copy=False)
    return compact


def _run_sampler(params: dict[str, Any], noise_model: Any) -> tuple[str, int]:
    from qiskit.primitives import PrimitiveResult, SamplerPubResult
    from qiskit.primitives.containers.sampler_pub import SamplerPub
    from qiskit_aer.primitives import SamplerV2

    from aioqruntime.codec import decode_sampler_params, dumps

    options = _options(params)
    default_shots = int(options.get("default_shots") or DEFAULT_SHOTS)
    pubs = decode_sampler_params(params)
    runnable = []
    for pub in pubs:
        circuit = pub.circuit
        if noise_model is None:
            circuit = _compact(circuit, _active_qubits(circuit))
        runnable.append(SamplerPub(circuit, pub.parameter_values, pub.shots or default_shots))
    sampler = SamplerV2(
        default_shots=default_shots,
        seed=_seed(options),
        options={"backend_options": _backend_options(noise_model)},
    )
    result = sampler.run(runnable).result()
    pub_results = [
        SamplerPubResult(
            pub_result.data,
            metadata={"shots": pub.shots, "circuit_metadata": dict(original.circuit.metadata)},
        )
        for pub_result, pub, original in zip(result, runnable, pubs, strict=True)
    ]
    executions = sum(pub.shots * max(1, pub.parameter_values.size) for pub in runnable)
    return dumps(PrimitiveResult(pub_results, metadata={"version": 2})), executions


def _compact_observables(observables: Any, num_qubits: int, active: Sequence[int]) -> Any:
    from qiskit.primitives.containers import ObservablesArray

    def shrink(item: Any) -> Any:
        if isinstance(item, list):
            return [shrink(x) for x in item]
        return {
            "".join(label[num_qubits - 1 - q] for q in reversed(active)): coeff
            for label, coeff in item.items()
        }

    return ObservablesArray(shrink(observables.tolist()))


def _observable_qubits(observables: Any, num_qubits: int) -> set[int]:
    touched: set[int] = set()

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for x in item:
                walk(x)
            return
        for label in item:
            for position, char in enumerate(label):
                if char != "I":
                    touched.add(num_qubits - 1 - position)

    walk(observables.tolist())
    return touched


def _run_estimator(params: dict[str, Any], noise_model: Any) -> tuple[str, int]:
    from qiskit.primitives import PrimitiveResult, PubResult
    from qiskit.primitives.containers.estimator_pub import EstimatorPub
    from qiskit_aer.primitives import EstimatorV2

    from aioqruntime.codec import decode_estimator_params, dumps

    options = _options(params)
    default_precision = estimator_default_precision(options)
    pubs = decode_estimator_params(params)
    runnable = []
    for pub in pubs:
        circuit, observables = pub.circuit, pub.observables
        if noise_model is None:
            n = circuit.num_qubits
            active = _active_qubits(circuit, sorted(_observable_qubits(observables, n)))
            compact = _compact(circuit, active)
            if compact is not circuit:
                circuit, observables = compact, _compact_observables(observables, n, active)
        precision = pub.precision if pub.precision is not None else default_precision
        runnable.append(EstimatorPub(circuit, observables, pub.parameter_values, precision))
    seed = _seed(options, "seed_estimator")
    run_options: dict[str, Any] = {} if seed is None else {"seed_simulator": seed}
    estimator = EstimatorV2(
        options={
            "default_precision": default_precision,
            "backend_options": _backend_options(noise_model),
            "run_options": run_options,
        }
    )
    result = estimator.run(runnable).result()
    pub_results = []
    executions = 0
    for pub_result, pub, original in zip(result, runnable, pubs, strict=True):
        shots = shots_for_precision(pub.precision)
        executions += shots * max(1, pub.size)
        pub_results.append(
            PubResult(
                pub_result.data,
                metadata={
                    "shots": shots,
                    "target_precision": pub.precision,
                    "circuit_metadata": dict(original.circuit.metadata),
                    "resilience": {},
                    "num_randomizations": 1,
                },
            )
        )
    metadata = {
        "dynamical_decoupling": {"enable": False},
        "twirling": {"enable_gates": False, "enable_measure": False},
        "resilience": {},
        "version": 2,
    }
    return dumps(PrimitiveResult(pub_results, metadata=metadata)), executions


def estimator_default_precision(options: Mapping[str, Any]) -> float:
    """``default_shots`` overrides ``default_precision`` (as on the service), else 1/64."""
    shots = options.get("default_shots")
    if shots:
        return 1.0 / math.sqrt(float(shots))
    precision = options.get("default_precision")
    return float(precision) if precision else DEFAULT_PRECISION


def shots_for_precision(precision: float) -> int:
    """Shots a QPU would need for this standard error (``~1/precision²``); exact runs count 1."""
    if precision <= 0:
        return 1
    return max(1, math.ceil(1.0 / (precision * precision)))


def dumps_error(message: str) -> str:
    """A traceback-like text for a job failed on purpose (the official client shows it as is)."""
    return f"Traceback (most recent call last):\n  (local runtime server)\n{message}\n"
