"""Validation of ``POST /jobs`` params before a job is queued (CPU work: run it in a thread).

Every refusal is a :class:`JobValidationError` whose message names what is wrong (the pub index,
the JSON path from the codec, the offending instruction...), answered as 400 by the route.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from aioqruntime._exceptions import CodecError
from aioqruntime.server._config import DEFAULT_MAX_INFLATED_BYTES
from aioqruntime.server._worker import EstimatorPlan, sampler_pub_shots

__all__ = ["JobValidationError", "validate_params"]

#: Instructions every device runs without a target entry (they are not operations).
_ALWAYS_ALLOWED = frozenset({"barrier"})


class JobValidationError(ValueError):
    """The job's params are not acceptable; the message says why."""


def validate_params(
    program_id: str,
    params: Mapping[str, Any],
    *,
    backend: str,
    target: Any,
    configuration: Mapping[str, Any],
    max_executions: int | None,
    max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES,
) -> int:
    """Check ``params`` for ``program_id`` on ``backend``; return the number of executions.

    Compressed payloads (QPY, NPY) may together inflate to at most ``max_inflated_bytes``.
    """
    from aioqruntime.codec import decode_estimator_params, decode_sampler_params
    from aioqruntime.codec._binary import inflate_limit

    if program_id == "executor":
        return _validate_executor(
            params,
            backend=backend,
            target=target,
            configuration=configuration,
            max_executions=max_executions,
            max_inflated_bytes=max_inflated_bytes,
        )
    version = params.get("version", 2)
    if version != 2 or isinstance(version, bool):
        raise JobValidationError(f"params.version: only version 2 is supported, got {version!r}")
    options = params.get("options", {})
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise JobValidationError("params.options: must be a JSON object")
    _check_options(program_id, options, params)
    try:
        with inflate_limit(max_inflated_bytes, total=max_inflated_bytes):
            if program_id == "sampler":
                pubs: list[Any] = list(decode_sampler_params(dict(params)))
            else:
                pubs = list(decode_estimator_params(dict(params)))
    except CodecError as exc:
        where = "params" + (exc.path if exc.path.startswith("/") else f"/{exc.path}")
        raise JobValidationError(f"{where}: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise JobValidationError(f"params.pubs: {exc}") from exc
    if not pubs:
        raise JobValidationError("params.pubs: at least one pub is required")

    n_qubits = int(configuration.get("n_qubits", 0))
    max_shots = configuration.get("max_shots")
    plan = EstimatorPlan(params) if program_id == "estimator" else None
    executions = 0
    for index, pub in enumerate(pubs):
        circuit = pub.circuit
        if circuit.num_qubits > n_qubits:
            raise JobValidationError(
                f"params.pubs[{index}]: the circuit has {circuit.num_qubits} qubits but backend "
                f"{backend!r} has {n_qubits}"
            )
        _check_isa(index, circuit, target, backend)
        shots = _pub_shots(index, pub, plan, options, max_shots)
        executions += shots * max(1, int(pub.size))
    if max_executions is not None and executions > max_executions:
        raise JobValidationError(
            f"params.pubs: the job needs {executions} executions (shots x circuits after "
            f"broadcasting), more than the limit of {max_executions}"
        )
    return executions


def _pub_shots(
    index: int, pub: Any, plan: EstimatorPlan | None, options: Mapping[str, Any], max_shots: Any
) -> int:
    """The shots pub ``index`` runs: a sampler's (within the backend's maximum) or an estimator's
    from its precision (``plan``)."""
    if plan is not None:
        precision = pub.precision if pub.precision is not None else plan.default_precision
        if not math.isfinite(precision) or precision <= 0:
            raise JobValidationError(f"params.pubs[{index}]: precision must be positive")
        return plan.pub_shots(pub.precision)[0]
    if pub.shots is not None and pub.shots <= 0:
        raise JobValidationError(f"params.pubs[{index}]: shots must be positive")
    shots = sampler_pub_shots(pub.shots, options)[0]
    if shots <= 0:
        raise JobValidationError(f"params.pubs[{index}]: shots must be positive")
    if isinstance(max_shots, int) and shots > max_shots:
        raise JobValidationError(
            f"params.pubs[{index}]: {shots} shots exceed the backend maximum {max_shots}"
        )
    return shots


def _check_options(program_id: str, options: Mapping[str, Any], params: Mapping[str, Any]) -> None:
    shots = options.get("default_shots")
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
        raise JobValidationError("params.options.default_shots: must be an integer >= 1")
    if program_id == "estimator":
        precision = options.get("default_precision")
        if precision is not None and (
            isinstance(precision, bool)
            or not isinstance(precision, (int, float))
            or not precision > 0
        ):
            raise JobValidationError("params.options.default_precision: must be a number > 0")
        level = params.get("resilience_level")
        if level is not None and (isinstance(level, bool) or level not in (0, 1, 2)):
            raise JobValidationError("params.resilience_level: must be 0, 1 or 2")
    for group in ("simulator", "execution", "twirling", "resilience", "dynamical_decoupling"):
        value = options.get(group)
        if value is not None and not isinstance(value, Mapping):
            raise JobValidationError(f"params.options.{group}: must be a JSON object")
    _check_twirling(options.get("twirling") or {})
    resilience = options.get("resilience") or {}
    mitigation = resilience.get("measure_mitigation")
    if mitigation is not None and not isinstance(mitigation, bool):
        raise JobValidationError("params.options.resilience.measure_mitigation: must be a boolean")
    simulator = options.get("simulator") or {}
    seed = simulator.get("seed_simulator")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise JobValidationError("params.options.simulator.seed_simulator: must be an integer >= 0")


_TWIRLING_STRATEGIES = frozenset({"active", "active-accum", "active-circuit", "all"})


def _check_twirling(twirling: Mapping[str, Any]) -> None:
    for name in ("enable_gates", "enable_measure"):
        value = twirling.get(name)
        if value is not None and not isinstance(value, bool):
            raise JobValidationError(f"params.options.twirling.{name}: must be a boolean")
    for name in ("num_randomizations", "shots_per_randomization"):
        value = twirling.get(name)
        if value not in (None, "auto") and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise JobValidationError(
                f"params.options.twirling.{name}: must be an integer >= 1 or 'auto', got {value!r}"
            )
    strategy = twirling.get("strategy")
    if strategy is not None and strategy not in _TWIRLING_STRATEGIES:
        raise JobValidationError(
            f"params.options.twirling.strategy: must be one of {sorted(_TWIRLING_STRATEGIES)}"
        )


def _instructions(circuit: Any) -> Iterator[tuple[str, tuple[int, ...] | None]]:
    """``(name, physical qubits)`` of every instruction; qubits are ``None`` inside control flow."""
    for instruction in circuit.data:
        operation = instruction.operation
        qargs = tuple(circuit.find_bit(q).index for q in instruction.qubits)
        yield operation.name, qargs
        for block in getattr(operation, "blocks", ()):
            for name, _ in _instructions(block):
                yield name, None


def _check_isa(index: int, circuit: Any, target: Any, backend: str) -> None:
    names = set(target.operation_names)
    for name, qargs in _instructions(circuit):
        if name in _ALWAYS_ALLOWED:
            continue
        if name not in names:
            raise JobValidationError(
                f"params.pubs[{index}]: instruction {name!r} is not supported by backend "
                f"{backend!r} (supported: {', '.join(sorted(names))}); the circuit is not ISA, "
                "transpile it for the backend first"
            )
        if qargs is not None and not target.instruction_supported(name, qargs):
            raise JobValidationError(
                f"params.pubs[{index}]: instruction {name!r} on qubits {list(qargs)} is not "
                f"supported by backend {backend!r}; the circuit is not ISA, transpile it first"
            )


def _validate_executor(
    params: Mapping[str, Any],
    *,
    backend: str,
    target: Any,
    configuration: Mapping[str, Any],
    max_executions: int | None,
    max_inflated_bytes: int,
) -> int:
    """An ``executor`` program: IBM's wire model, decodable circuits and samplexes, ISA."""
    from aioqruntime.server._program_executor import ProgramError, parse_program

    try:
        program = parse_program(dict(params), max_inflated_bytes=max_inflated_bytes)
    except ProgramError as exc:
        raise JobValidationError(str(exc)) from exc
    n_qubits = int(configuration.get("n_qubits", 0))
    for item in program.items:
        where = f"params.quantum_program.items[{item.index}]"
        if item.circuit.num_qubits > n_qubits:
            raise JobValidationError(
                f"{where}: the circuit has {item.circuit.num_qubits} qubits but backend "
                f"{backend!r} has {n_qubits}"
            )
        try:
            _check_isa(item.index, item.circuit, target, backend)
        except JobValidationError as exc:
            raise JobValidationError(
                str(exc).replace(f"params.pubs[{item.index}]", where, 1)
            ) from None
    max_shots = configuration.get("max_shots")
    if isinstance(max_shots, int) and program.shots > max_shots:
        raise JobValidationError(
            f"params.quantum_program.shots: {program.shots} shots exceed the backend maximum "
            f"{max_shots}"
        )
    executions = program.executions
    if max_executions is not None and executions > max_executions:
        raise JobValidationError(
            f"params.quantum_program: the program needs {executions} executions (shots x "
            f"bound circuits over all items), more than the limit of {max_executions}"
        )
    return executions
