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
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from aioqruntime.server._circuits import active_qubits, backend_options, compact_circuit

if TYPE_CHECKING:
    from aioqruntime.codec import ExecutionSpan

__all__ = ["DEFAULT_PRECISION", "DEFAULT_SHOTS", "JobOutcome", "run_job", "warm_up"]

#: Service defaults when neither the pub nor the options say (protocol.md §3.4).
DEFAULT_SHOTS = 4096
DEFAULT_PRECISION = 0.015625

#: ``(ok, text, stats)``: the result or error text, plus numbers for usage and metrics.
JobOutcome = tuple[bool, str, dict[str, Any]]


def warm_up() -> str:
    """Import the heavy modules once, so the first job does not pay for it."""
    import ibm_quantum_schemas.executor.version_2_0  # noqa: F401
    import qiskit
    import qiskit_aer.primitives  # noqa: F401
    import samplomatic  # noqa: F401

    import aioqruntime.codec  # noqa: F401

    return str(qiskit.__version__)


def run_job(
    program_id: str,
    params_text: str,
    *,
    noise_device: tuple[Mapping[str, Any], Mapping[str, Any] | None] | None = None,
    dry_run: bool = False,
) -> JobOutcome:
    """Run one job of a program the server runs; never raises (a failure is traceback text).

    ``dry_run`` (a mock device): nothing is simulated; the result has the right shape and
    random data, as the service's mock devices return.
    """
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
        if dry_run and program_id in ("sampler", "estimator"):
            text, executions = _random_result(program_id, params)
        elif program_id == "sampler":
            text, executions = _run_sampler(params, noise_model)
        elif program_id == "estimator":
            properties = noise_device[1] if noise_device is not None else None
            text, executions = _run_estimator(params, noise_model, properties)
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


class Twirling:
    """The twirling a V2 primitive job asked for, resolved as the service resolves it.

    ``num_randomizations``/``shots_per_randomization`` are ints or ``"auto"``. When both are ints
    their product is the pub's shot count unless the pub itself says (the pub is the primitive's
    interface and always obeyed; ``default_shots`` is a Runtime option and yields).
    """

    def __init__(self, options: Mapping[str, Any], *, gates: bool, measure: bool) -> None:
        twirling = options.get("twirling") or {}
        given = {key: value for key, value in twirling.items() if value is not None}
        self.enable_gates = bool(given.get("enable_gates", gates))
        self.enable_measure = bool(given.get("enable_measure", measure))
        self.num_randomizations: int | str = given.get("num_randomizations", "auto")
        self.shots_per_randomization: int | str = given.get("shots_per_randomization", "auto")
        self.strategy = str(given.get("strategy", "active-accum"))

    @property
    def active(self) -> bool:
        return self.enable_gates or self.enable_measure

    @property
    def fixed_shots(self) -> int | None:
        """``num_randomizations x shots_per_randomization`` when twirling and both are set."""
        n, per = self.num_randomizations, self.shots_per_randomization
        if self.active and isinstance(n, int) and isinstance(per, int):
            return n * per
        return None

    def split(self, shots: int) -> tuple[int, int]:
        """``(num_randomizations, shots_per_randomization)`` for ``shots`` (TwirlingOptions)."""
        n, per = self.num_randomizations, self.shots_per_randomization
        if not isinstance(per, int):
            per = math.ceil(shots / n) if isinstance(n, int) else max(64, math.ceil(shots / 32))
        if not isinstance(n, int):
            n = math.ceil(shots / per)
        return n, per

    def metadata(self) -> dict[str, Any]:
        return {
            "enable_gates": self.enable_gates,
            "enable_measure": self.enable_measure,
            "num_randomizations": self.num_randomizations,
            "shots_per_randomization": self.shots_per_randomization,
            "strategy": self.strategy,
        }


def sampler_twirling(options: Mapping[str, Any]) -> Twirling:
    return Twirling(options, gates=False, measure=False)


def sampler_pub_shots(pub_shots: int | None, options: Mapping[str, Any]) -> tuple[int, int | None]:
    """``(shots executed per binding, num_randomizations or None)`` of one sampler pub."""
    twirling = sampler_twirling(options)
    shots = pub_shots or twirling.fixed_shots or int(options.get("default_shots") or DEFAULT_SHOTS)
    if not twirling.active:
        return shots, None
    n, per = twirling.split(shots)
    return n * per, n


def _run_sampler(params: dict[str, Any], noise_model: Any) -> tuple[str, int]:
    import numpy as np
    from qiskit.primitives import PrimitiveResult, SamplerPubResult
    from qiskit.primitives.containers import BitArray, DataBin
    from qiskit.primitives.containers.sampler_pub import SamplerPub
    from qiskit_aer.primitives import SamplerV2

    from aioqruntime.codec import ExecutionSpans, decode_sampler_params, dumps
    from aioqruntime.server._program_executor import run_twirled

    options = _options(params)
    twirling = sampler_twirling(options)
    seed = _seed(options)
    rng = np.random.default_rng(seed)
    sampler = SamplerV2(seed=seed, options={"backend_options": backend_options(noise_model)})
    pub_results, executions, spans = [], 0, []
    for index, pub in enumerate(decode_sampler_params(params)):
        started = datetime.now(timezone.utc)
        shots, randomizations = sampler_pub_shots(pub.shots, options)
        metadata: dict[str, Any] = {"circuit_metadata": dict(pub.circuit.metadata)}
        twirled = None
        if randomizations is not None:
            twirled = run_twirled(
                pub.circuit,
                pub.parameter_values,
                num_randomizations=randomizations,
                shots_per_randomization=shots // randomizations,
                enable_gates=twirling.enable_gates,
                enable_measures=twirling.enable_measure,
                strategy=twirling.strategy,
                sampler=sampler,
                noise_model=noise_model,
                rng=rng,
            )
        if twirled is not None:
            arrays = {
                name: BitArray.from_bool_array(bits, order="little")
                for name, bits in twirled.items()
            }
            data = DataBin(**arrays, shape=pub.parameter_values.shape)
            metadata["num_randomizations"] = randomizations
        else:
            # Not twirled (not asked, or not twirlable): the pub's own shot count, plainly.
            shots = pub.shots or int(options.get("default_shots") or DEFAULT_SHOTS)
            circuit = pub.circuit
            if noise_model is None:
                circuit = compact_circuit(circuit, active_qubits(circuit))
            data = sampler.run([SamplerPub(circuit, pub.parameter_values, shots)]).result()[0].data
        metadata["shots"] = shots
        pub_results.append(SamplerPubResult(data, metadata=metadata))
        executions += shots * max(1, pub.parameter_values.size)
        applied = None if twirled is None else randomizations  # None: not twirled after all
        spans.append(_pub_span(index, started, pub.parameter_values.shape, shots, applied))
    execution = {"execution_spans": ExecutionSpans(spans)}
    return dumps(
        PrimitiveResult(pub_results, metadata={"execution": execution, "version": 2})
    ), executions


def _pub_span(
    index: int,
    started: datetime,
    shape: tuple[int, ...],
    shots: int,
    randomizations: int | None,
) -> ExecutionSpan:
    """The span of one pub's execution, as the service reports it: one pub per span here, its
    whole data (twirled data as randomizations x shots per randomization, cut to the shots)."""
    from aioqruntime.codec import DoubleSliceSpan, TwirledSliceSpanV2

    stopped = datetime.now(timezone.utc)
    rows = math.prod(shape)
    if randomizations is None:
        return DoubleSliceSpan(
            started, stopped, {index: ((*shape, shots), slice(0, rows), slice(0, shots))}
        )
    per_randomization = shots // randomizations
    twirled_shape = (randomizations, *shape, per_randomization)
    return TwirledSliceSpanV2(
        started,
        stopped,
        {
            index: (
                twirled_shape,
                True,
                slice(0, randomizations * rows),
                slice(0, per_randomization),
                shots,
            )
        },
    )


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


class EstimatorPlan:
    """What an estimator job gets: its options resolved per ``resilience_level`` (default 1).

    Level 0 twirls nothing and mitigates nothing; level 1 twirls measurements and mitigates
    readout (TREX); level 2 also twirls gates. Explicit options override the level's defaults.
    ZNE, PEC and dynamical decoupling are not emulated, and the metadata says so.
    """

    def __init__(self, params: Mapping[str, Any]) -> None:
        options = _options(params)
        level = params.get("resilience_level", 1)
        self.level = 1 if level is None else int(level)
        self.twirling = Twirling(options, gates=self.level == 2, measure=self.level >= 1)
        resilience = options.get("resilience") or {}
        self.measure_mitigation = bool(resilience.get("measure_mitigation", self.level >= 1))
        self.default_precision = estimator_default_precision(options)
        #: Cleared when a pub could not be gate-twirled, so the metadata does not claim it.
        self.gates_twirled = True

    def pub_shots(self, pub_precision: float | None) -> tuple[int, int, float]:
        """``(shots executed, num_randomizations, standard error simulated)`` of one pub."""
        fixed = None if pub_precision is not None else self.twirling.fixed_shots
        if fixed is not None:
            shots, precision = fixed, 1.0 / math.sqrt(fixed)
        else:
            precision = pub_precision if pub_precision is not None else self.default_precision
            shots = shots_for_precision(precision)
        if not self.twirling.active:
            return shots, 1, precision
        randomizations, per = self.twirling.split(shots)
        return randomizations * per, randomizations, precision

    def metadata(self) -> dict[str, Any]:
        return {
            "dynamical_decoupling": {"enable": False},
            "twirling": {
                **self.twirling.metadata(),
                "enable_gates": self.twirling.enable_gates and self.gates_twirled,
            },
            "resilience": {
                "measure_mitigation": self.measure_mitigation,
                "zne_mitigation": False,
                "pec_mitigation": False,
            },
            "version": 2,
        }


#: Pauli terms wider than this get the symmetric (twirled) readout model only: the exact
#: untwirled one expands a term into all its sub-terms.
_MAX_EXPANDED_SUPPORT = 10


def _readout_errors(properties: Mapping[str, Any] | None) -> list[tuple[float, float]]:
    """Per qubit ``(P(0|1), P(1|0))`` from the device's calibration."""
    errors = []
    for records in (properties or {}).get("qubits") or []:
        values = {r.get("name"): r.get("value") for r in records if isinstance(r, Mapping)}
        p01 = float(values.get("prob_meas0_prep1") or values.get("readout_error") or 0.0)
        p10 = float(values.get("prob_meas1_prep0") or values.get("readout_error") or 0.0)
        errors.append((p01, p10))
    return errors


def _with_readout_error(
    observables: Any, num_qubits: int, errors: Sequence[tuple[float, float]], *, twirled: bool
) -> Any:
    """Observables whose values are what a device's readout makes of the exact ones.

    Aer's estimator measures nothing, so its values are free of readout error; a device's are
    not. Read out, a qubit's ±1 outcome ``s`` becomes ``f·s + d`` on average, with fidelity
    ``f = 1 - P(0|1) - P(1|0)`` and offset ``d = P(0|1) - P(1|0)`` (zero once measurements are
    twirled, which symmetrises the channel). Errors being independent per qubit, a Pauli term on
    support ``S`` reads as the sum over ``T ⊆ S`` of ``prod_T f · prod_{S∖T} d`` times the term
    restricted to ``T``: a linear map of the observable, so the exact answer is one Aer run.
    """
    from itertools import combinations

    from qiskit.primitives.containers import ObservablesArray

    def expand(label: str, coeff: float) -> Iterator[tuple[str, float]]:
        support = [p for p, char in enumerate(label) if char != "I"]
        fid = {p: _fidelity(errors, num_qubits - 1 - p) for p in support}
        off = {p: 0.0 if twirled else _offset(errors, num_qubits - 1 - p) for p in support}
        if not any(off.values()) or len(support) > _MAX_EXPANDED_SUPPORT:
            yield label, coeff * math.prod(fid.values())
            return
        for size in range(len(support) + 1):
            for kept in combinations(support, size):
                weight = math.prod(fid[p] if p in kept else off[p] for p in support)
                chars = [char if p in kept else "I" for p, char in enumerate(label)]
                yield "".join(chars), coeff * weight

    def rewrite(item: Any) -> Any:
        if isinstance(item, list):
            return [rewrite(x) for x in item]
        out: dict[str, float] = {}
        for label, coeff in item.items():
            for term, value in expand(label, coeff):
                out[term] = out.get(term, 0.0) + value
        return out

    return ObservablesArray(rewrite(observables.tolist()))


def _fidelity(errors: Sequence[tuple[float, float]], qubit: int) -> float:
    p01, p10 = errors[qubit] if qubit < len(errors) else (0.0, 0.0)
    return 1.0 - p01 - p10


def _offset(errors: Sequence[tuple[float, float]], qubit: int) -> float:
    p01, p10 = errors[qubit] if qubit < len(errors) else (0.0, 0.0)
    return p01 - p10


def _gate_twirl(
    circuit: Any, pub: Any, randomizations: int, plan: EstimatorPlan, rng: Any
) -> tuple[Any, Any] | None:
    from aioqruntime.server._program_executor import twirled_gate_bindings

    return twirled_gate_bindings(
        circuit,
        pub.parameter_values,
        num_randomizations=randomizations,
        strategy=plan.twirling.strategy,
        extra_axes=len(pub.shape) - len(pub.parameter_values.shape),
        rng=rng,
    )


def _average_randomizations(data: Any, shape: tuple[int, ...]) -> Any:
    """The estimates of a gate-twirled pub (randomizations on axis 0) averaged into the pub's."""
    import numpy as np
    from qiskit.primitives.containers import DataBin

    evs, stds = np.asarray(data.evs), np.asarray(data.stds)
    count = evs.shape[0]
    return DataBin(
        evs=evs.mean(axis=0).reshape(shape),
        stds=(np.sqrt((stds**2).sum(axis=0)) / count).reshape(shape),
        shape=shape,
    )


def _run_estimator(
    params: dict[str, Any], noise_model: Any, properties: Mapping[str, Any] | None = None
) -> tuple[str, int]:
    import numpy as np
    from qiskit.primitives import PrimitiveResult, PubResult
    from qiskit.primitives.containers.estimator_pub import EstimatorPub
    from qiskit_aer.primitives import EstimatorV2

    from aioqruntime.codec import decode_estimator_params, dumps

    options = _options(params)
    plan = EstimatorPlan(params)
    pubs = decode_estimator_params(params)
    seed = _seed(options, "seed_estimator")
    rng = np.random.default_rng(seed)
    readout = _readout_errors(properties)
    runnable, accounting = [], []
    for pub in pubs:
        circuit, observables = pub.circuit, pub.observables
        if noise_model is None:
            n = circuit.num_qubits
            active = active_qubits(circuit, sorted(_observable_qubits(observables, n)))
            compact = compact_circuit(circuit, active)
            if compact is not circuit:
                circuit, observables = compact, _compact_observables(observables, n, active)
        elif not plan.measure_mitigation:
            observables = _with_readout_error(
                observables, circuit.num_qubits, readout, twirled=plan.twirling.enable_measure
            )
        shots, randomizations, precision = plan.pub_shots(pub.precision)
        values, twirled = pub.parameter_values, False
        if noise_model is not None and plan.twirling.enable_gates:
            # Without noise a gate twirl leaves every value exactly as it is: only run it here.
            dressed = _gate_twirl(circuit, pub, randomizations, plan, rng)
            if dressed is not None:
                (circuit, values), twirled = dressed, True
                precision *= math.sqrt(randomizations)
            else:
                plan.gates_twirled = False
        accounting.append((shots, randomizations, twirled))
        runnable.append(EstimatorPub(circuit, observables, values, precision))
    run_options: dict[str, Any] = {} if seed is None else {"seed_simulator": seed}
    estimator = EstimatorV2(
        options={
            "default_precision": plan.default_precision,
            "backend_options": backend_options(noise_model),
            "run_options": run_options,
        }
    )
    result = estimator.run(runnable).result()
    pub_results = []
    executions = 0
    for pub_result, original, (shots, randomizations, twirled) in zip(
        result, pubs, accounting, strict=True
    ):
        executions += shots * max(1, original.size)
        data = _average_randomizations(pub_result.data, original.shape) if twirled else None
        target = original.precision if original.precision is not None else plan.default_precision
        pub_results.append(
            PubResult(
                data or pub_result.data,
                metadata={
                    "shots": shots,
                    "target_precision": target,
                    "circuit_metadata": dict(original.circuit.metadata),
                    "resilience": {},
                    "num_randomizations": randomizations,
                },
            )
        )
    return dumps(PrimitiveResult(pub_results, metadata=plan.metadata())), executions


def _random_result(program_id: str, params: dict[str, Any]) -> tuple[str, int]:
    """Random data of the shape the job asks for (mock devices: no simulation)."""
    import numpy as np
    from qiskit.primitives import PrimitiveResult, PubResult, SamplerPubResult
    from qiskit.primitives.containers import BitArray, DataBin

    from aioqruntime.codec import decode_estimator_params, decode_sampler_params, dumps

    options = _options(params)
    rng = np.random.default_rng(_seed(options))
    results: list[Any] = []
    if program_id == "sampler":
        default_shots = int(options.get("default_shots") or DEFAULT_SHOTS)
        for pub in decode_sampler_params(params):
            shots = pub.shots or default_shots
            registers = {
                creg.name: BitArray.from_bool_array(
                    rng.integers(0, 2, size=(*pub.shape, shots, creg.size)).astype(bool)
                )
                for creg in pub.circuit.cregs
            }
            data = DataBin(**registers, shape=pub.shape)
            results.append(SamplerPubResult(data, metadata={"shots": shots}))
    else:
        default_precision = estimator_default_precision(options)
        for pub in decode_estimator_params(params):
            precision = pub.precision if pub.precision is not None else default_precision
            evs = rng.uniform(-1.0, 1.0, size=pub.shape)
            data = DataBin(evs=evs, stds=np.full(pub.shape, precision), shape=pub.shape)
            results.append(PubResult(data, metadata={"target_precision": precision}))
    return dumps(PrimitiveResult(results, metadata={"version": 2})), 0


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
