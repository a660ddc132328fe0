"""Options of the executor and of the executor-based primitives: small frozen-free dataclass trees.

They mirror the official ``ExecutorOptions``, ``SamplerOptions`` and ``EstimatorOptions`` of the
client-side primitives (same names, same defaults), so ``options={...}`` dicts written for the
official classes work unchanged. Every value is checked when the tree is built
(:func:`build_options`): an unknown name or a bad value is an :class:`InvalidInputError` before
anything is sent. ``dataclasses.asdict(options)`` is what goes into the result metadata.

Pure and sync: no I/O.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.primitives._option_classes import UnknownOptionError
from aioqruntime.runtime._options import LOG_LEVELS, RuntimeOptions

__all__ = [
    "DynamicalDecouplingOptions",
    "EnvironmentOptions",
    "EstimatorExecutionOptions",
    "ExecutionOptions",
    "ExecutorEstimatorOptions",
    "ExecutorOptions",
    "ExecutorSamplerOptions",
    "MeasureNoiseLearningOptions",
    "PecOptions",
    "ResilienceOptions",
    "SamplerExecutionOptions",
    "SimulatorOptions",
    "TwirlingOptions",
    "ZneOptions",
    "build_options",
]

_MEAS_TYPES: Final = ("classified", "kerneled", "avg_kerneled")
_TWIRLING_GROUPS: Final = ("pauli", "balanced_pauli", "local_c1", "local_pauli")
_TWIRLING_STRATEGIES: Final = ("active", "active-accum", "active-circuit", "all")


class _Strict:
    """Names are checked on assignment, as the official (pydantic, ``extra="forbid"``): a typo
    such as ``options.default_shot = 5`` would otherwise be a new attribute, silently ignored.
    Values are checked when a run builds the tree (:func:`build_options`)."""

    def __setattr__(self, name: str, value: Any) -> None:
        known = [f.name for f in dataclasses.fields(self)]  # type: ignore[arg-type]
        if name not in known:
            raise _unknown(type(self).__name__, name, known)
        object.__setattr__(self, name, value)

    def update(self, **kwargs: Any) -> None:
        """Set the options named, a nested group from a dict merged into the one there."""
        for name, value in kwargs.items():
            current = getattr(self, name, None)
            if isinstance(current, _Strict) and isinstance(value, Mapping):
                current.update(**value)
            else:
                setattr(self, name, value)


def _unknown(owner: str, name: str, known: list[str]) -> UnknownOptionError:
    close = difflib.get_close_matches(name, known, 1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return UnknownOptionError(f"{owner} has no option {name!r}{hint}; known: {known}")


def _fail(path: str, expected: str, value: object) -> InvalidInputError:
    return InvalidInputError(f"option {path} must be {expected}, got {value!r:.80}")


def _check_bool(path: str, value: object, *, optional: bool = False) -> None:
    if not (isinstance(value, bool) or (optional and value is None)):
        raise _fail(path, "True or False" + (" or None" if optional else ""), value)


def _check_choice(path: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _fail(path, f"one of {list(choices)}", value)


def _check_int(path: str, value: object, *, minimum: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(path, f"an int >= {minimum}" + (" or None" if optional else ""), value)


def _check_number(path: str, value: object, *, positive: bool, optional: bool = False) -> None:
    """A finite real number, > 0 (``positive``) or >= 0."""
    if optional and value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or (value <= 0 if positive else value < 0)
    ):
        bound = "> 0" if positive else ">= 0"
        raise _fail(path, f"a finite number {bound}" + (" or None" if optional else ""), value)


def _check_dict(path: str, value: object) -> None:
    if not isinstance(value, dict):
        raise _fail(path, "a dict", value)


def _check_auto_int(path: str, value: object) -> None:
    if value != "auto":
        _check_int(path, value, minimum=1)


@dataclass
class EnvironmentOptions(_Strict):
    """The job's environment: ``log_level``, ``job_tags``, ``private``, ``image``."""

    log_level: str = "WARNING"
    job_tags: list[str] = field(default_factory=list)
    private: bool = False
    max_execution_time: int | None = None
    image: str | None = None

    def check(self, path: str) -> None:
        level: object = self.log_level
        if not isinstance(level, str) or level.upper() not in LOG_LEVELS:
            raise _fail(f"{path}.log_level", f"one of {list(LOG_LEVELS)}", level)
        _check_int(f"{path}.max_execution_time", self.max_execution_time, minimum=1, optional=True)
        # RuntimeOptions owns the rules for the other top-level job fields (tags, image...).
        self.runtime_options(None)

    def runtime_options(self, max_execution_time: int | None) -> RuntimeOptions:
        """The job's top-level fields; the caller's ``max_execution_time`` wins over ours."""
        tags: Any = self.job_tags
        return RuntimeOptions(
            log_level=self.log_level,
            tags=tuple(tags) if isinstance(tags, list) else tags,
            max_execution_time=max_execution_time or self.max_execution_time,
            private=self.private,
            image=self.image,
        )


@dataclass
class ExecutionOptions(_Strict):
    """Low-level execution options (the executor program's ``options``)."""

    init_qubits: bool = True
    rep_delay: float | None = None
    scheduler_timing: bool = False
    stretch_values: bool = False

    def check(self, path: str) -> None:
        _check_bool(f"{path}.init_qubits", self.init_qubits)
        _check_bool(f"{path}.scheduler_timing", self.scheduler_timing)
        _check_bool(f"{path}.stretch_values", self.stretch_values)
        _check_number(f"{path}.rep_delay", self.rep_delay, positive=False, optional=True)


@dataclass
class SamplerExecutionOptions(ExecutionOptions):
    """Execution options of the sampler: also ``meas_type``."""

    meas_type: str = "classified"

    def check(self, path: str) -> None:
        super().check(path)
        _check_choice(f"{path}.meas_type", self.meas_type, _MEAS_TYPES)


EstimatorExecutionOptions = ExecutionOptions


@dataclass
class TwirlingOptions(_Strict):
    """Pauli twirling; ``None`` for ``enable_*`` means "the primitive's default"."""

    enable_gates: bool | None = None
    enable_measure: bool | None = None
    group: str = "pauli"
    num_randomizations: int | str = "auto"
    shots_per_randomization: int | str = "auto"
    strategy: str = "active-accum"

    def check(self, path: str) -> None:
        _check_bool(f"{path}.enable_gates", self.enable_gates, optional=True)
        _check_bool(f"{path}.enable_measure", self.enable_measure, optional=True)
        _check_choice(f"{path}.group", self.group, _TWIRLING_GROUPS)
        _check_choice(f"{path}.strategy", self.strategy, _TWIRLING_STRATEGIES)
        _check_auto_int(f"{path}.num_randomizations", self.num_randomizations)
        _check_auto_int(f"{path}.shots_per_randomization", self.shots_per_randomization)


@dataclass
class DynamicalDecouplingOptions(_Strict):
    """Dynamical decoupling (not applied by aioqruntime yet: ``enable=True`` is refused)."""

    enable: bool = False
    sequence_type: str = "XX"
    extra_slack_distribution: str = "middle"
    scheduling_method: str = "alap"
    skip_reset_qubits: bool = False

    def check(self, path: str) -> None:
        _check_bool(f"{path}.enable", self.enable)
        if self.enable:
            raise InvalidInputError(
                f"option {path}.enable=True is not supported by aioqruntime's executor-based "
                "primitives yet (apply dynamical decoupling to the circuits before run())"
            )
        _check_choice(f"{path}.sequence_type", self.sequence_type, ("XX", "XpXm", "XY4"))
        _check_choice(
            f"{path}.extra_slack_distribution", self.extra_slack_distribution, ("middle", "edges")
        )
        _check_choice(f"{path}.scheduling_method", self.scheduling_method, ("alap", "asap"))
        _check_bool(f"{path}.skip_reset_qubits", self.skip_reset_qubits)


@dataclass
class MeasureNoiseLearningOptions(_Strict):
    """TREX calibration: ``"auto"`` randomizations means as many as the twirling uses."""

    num_randomizations: int | str = "auto"

    def check(self, path: str) -> None:
        _check_auto_int(f"{path}.num_randomizations", self.num_randomizations)


#: Extrapolators of zero-noise extrapolation, with the noise factors each one needs at least.
EXTRAPOLATOR_POINTS: Final = {
    "linear": 2,
    "exponential": 2,
    "double_exponential": 4,
    "fallback": 1,
    **{f"polynomial_degree_{degree}": degree + 1 for degree in range(1, 8)},
}
#: What ``noise_factors="auto"`` means.
DEFAULT_NOISE_FACTORS: Final = (1.0, 3.0, 5.0)
_AMPLIFIERS: Final = ("gate_folding", "gate_folding_front", "gate_folding_back", "pea")


@dataclass
class ZneOptions(_Strict):
    """Zero-noise extrapolation: noise amplified by gate folding or (``"pea"``) injected noise."""

    amplifier: str = "gate_folding"
    noise_factors: Any = "auto"
    extrapolator: Any = ("exponential", "linear")
    extrapolated_noise_factors: Any = "auto"

    def check(self, path: str) -> None:
        _check_choice(f"{path}.amplifier", self.amplifier, _AMPLIFIERS)
        factors = self.resolved_noise_factors(path)
        if len(factors) < 2:
            raise _fail(f"{path}.noise_factors", "at least two numbers >= 1 or 'auto'", factors)
        for name in self.extrapolators(path):
            needed = EXTRAPOLATOR_POINTS[name]
            if len(factors) < needed:
                raise InvalidInputError(
                    f"option {path}.extrapolator {name!r} needs at least {needed} noise factors, "
                    f"got {len(factors)}"
                )
        self.resolved_extrapolated_factors(path)

    def resolved_noise_factors(self, path: str = "resilience.zne") -> list[float]:
        if self.noise_factors == "auto":
            return list(DEFAULT_NOISE_FACTORS)
        return _numbers(f"{path}.noise_factors", self.noise_factors, minimum=1.0)

    def resolved_extrapolated_factors(self, path: str = "resilience.zne") -> list[float]:
        if self.extrapolated_noise_factors == "auto":
            return [0.0, *self.resolved_noise_factors(path)]
        return _numbers(
            f"{path}.extrapolated_noise_factors", self.extrapolated_noise_factors, minimum=0.0
        )

    def extrapolators(self, path: str = "resilience.zne") -> list[str]:
        names = [self.extrapolator] if isinstance(self.extrapolator, str) else self.extrapolator
        if not isinstance(names, (list, tuple)) or not names:
            raise _fail(f"{path}.extrapolator", "an extrapolator name or a list of them", names)
        for name in names:
            _check_choice(f"{path}.extrapolator", name, tuple(EXTRAPOLATOR_POINTS))
        return list(names)


def _numbers(path: str, values: object, *, minimum: float) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise _fail(path, f"a list of numbers >= {minimum:g} or 'auto'", values)
    for value in values:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < minimum
        ):
            raise _fail(path, f"a list of numbers >= {minimum:g} or 'auto'", values)
    return [float(value) for value in values]


def _check_layer_noise_model(path: str, model: object) -> None:
    from qiskit.circuit import CircuitInstruction
    from qiskit.quantum_info import PauliLindbladMap

    pairs = list(model) if isinstance(model, (list, tuple)) else None
    if not pairs or not all(
        isinstance(pair, (list, tuple))
        and len(pair) == 2
        and isinstance(pair[0], CircuitInstruction)
        and isinstance(pair[1], PauliLindbladMap)
        for pair in pairs
    ):
        raise _fail(path, "a list of (layer CircuitInstruction, PauliLindbladMap) pairs", model)


@dataclass
class PecOptions(_Strict):
    """Probabilistic error cancellation: ``max_overhead`` bounds the sampling overhead."""

    max_overhead: float | None = 100
    noise_gain: float | str = "auto"

    def check(self, path: str) -> None:
        _check_number(f"{path}.max_overhead", self.max_overhead, positive=True, optional=True)
        if self.noise_gain != "auto":
            _check_number(f"{path}.noise_gain", self.noise_gain, positive=False)


@dataclass
class ResilienceOptions(_Strict):
    """Error mitigation of the estimator: readout mitigation (TREX), ZNE (by gate folding, or
    by PEA), and PEC. PEC and PEA need ``layer_noise_model``: pairs of a layer (from
    ``find_unique_layers``) and its ``PauliLindbladMap``; without one they are refused.
    """

    measure_mitigation: bool | None = None
    measure_noise_learning: MeasureNoiseLearningOptions = field(
        default_factory=MeasureNoiseLearningOptions
    )
    pec_mitigation: bool = False
    pec: PecOptions = field(default_factory=PecOptions)
    zne_mitigation: bool | None = None
    zne: ZneOptions = field(default_factory=ZneOptions)
    layer_noise_model: Any = None

    def check(self, path: str) -> None:
        _check_bool(f"{path}.measure_mitigation", self.measure_mitigation, optional=True)
        _check_bool(f"{path}.zne_mitigation", self.zne_mitigation, optional=True)
        _check_bool(f"{path}.pec_mitigation", self.pec_mitigation)
        self.measure_noise_learning.check(f"{path}.measure_noise_learning")
        self.pec.check(f"{path}.pec")
        self.zne.check(f"{path}.zne")
        if self.pec_mitigation and self.zne_mitigation:
            raise InvalidInputError(
                f"options {path}.pec_mitigation and zne_mitigation exclude each other"
            )
        if self.pec_mitigation and self.layer_noise_model is None:
            raise InvalidInputError(
                f"option {path}.pec_mitigation=True needs {path}.layer_noise_model: pairs of a "
                "layer (from estimator.find_unique_layers) and its PauliLindbladMap"
            )
        if self.layer_noise_model is not None:
            _check_layer_noise_model(f"{path}.layer_noise_model", self.layer_noise_model)
        if self.zne_mitigation and self.zne.amplifier == "pea" and self.layer_noise_model is None:
            raise InvalidInputError(
                f"option {path}.zne.amplifier='pea' needs {path}.layer_noise_model: pairs of a "
                "layer (from estimator.find_unique_layers) and its PauliLindbladMap"
            )


@dataclass
class SimulatorOptions(_Strict):
    """The official client's local testing mode options. Accepted so that option dicts written
    for it load; like the official client with a service backend, a job does not use them."""

    angle_decimals: int = 5
    layer_noise_model: Any = None
    seed_simulator: int | None = None
    warn_absent: bool = True

    def check(self, path: str) -> None:
        _check_int(f"{path}.angle_decimals", self.angle_decimals, minimum=0)
        _check_int(f"{path}.seed_simulator", self.seed_simulator, minimum=0, optional=True)
        _check_bool(f"{path}.warn_absent", self.warn_absent)


@dataclass
class ExecutorOptions(_Strict):
    """Options of :class:`AsyncExecutor`, as the official ``ExecutorOptions``."""

    environment: EnvironmentOptions = field(default_factory=EnvironmentOptions)
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)
    experimental: dict[str, Any] = field(default_factory=dict)
    max_execution_time: int | None = None
    simulator: SimulatorOptions = field(default_factory=SimulatorOptions)

    def check(self) -> None:
        _check_int("max_execution_time", self.max_execution_time, minimum=1, optional=True)
        _check_dict("experimental", self.experimental)
        self.environment.check("environment")
        self.execution.check("execution")
        self.simulator.check("simulator")

    def runtime_options(self) -> RuntimeOptions:
        """The job's top-level fields (``max_execution_time`` here wins over the environment's)."""
        return self.environment.runtime_options(self.max_execution_time)

    def program_options(self) -> dict[str, Any]:
        """The executor program's ``params.options``."""
        execution = self.execution
        return {
            "init_qubits": execution.init_qubits,
            "rep_delay": execution.rep_delay,
            "scheduler_timing": execution.scheduler_timing,
            "stretch_values": execution.stretch_values,
            "experimental": dict(self.experimental),
        }


@dataclass
class _PrimitiveOptions(_Strict):
    """What the executor-based sampler and estimator share."""

    dynamical_decoupling: DynamicalDecouplingOptions = field(
        default_factory=DynamicalDecouplingOptions
    )
    twirling: TwirlingOptions = field(default_factory=TwirlingOptions)
    max_execution_time: int | None = None
    experimental: dict[str, Any] = field(default_factory=dict)
    environment: EnvironmentOptions = field(default_factory=EnvironmentOptions)
    simulator: SimulatorOptions = field(default_factory=SimulatorOptions)

    def check(self) -> None:
        _check_int("max_execution_time", self.max_execution_time, minimum=1, optional=True)
        _check_dict("experimental", self.experimental)
        self.environment.check("environment")
        self.dynamical_decoupling.check("dynamical_decoupling")
        self.twirling.check("twirling")
        self.simulator.check("simulator")

    def executor_options(self, execution: ExecutionOptions) -> ExecutorOptions:
        """The executor's options for a job of this primitive."""
        experimental = dict(self.experimental)
        flags = experimental.get("execution") or {}
        low = ExecutionOptions(
            init_qubits=execution.init_qubits,
            rep_delay=execution.rep_delay,
            scheduler_timing=execution.scheduler_timing or bool(flags.get("scheduler_timing")),
            stretch_values=execution.stretch_values or bool(flags.get("stretch_values")),
        )
        return ExecutorOptions(
            environment=dataclasses.replace(self.environment),
            execution=low,
            experimental=experimental,
            max_execution_time=self.max_execution_time,
            simulator=dataclasses.replace(self.simulator),
        )


@dataclass
class ExecutorSamplerOptions(_PrimitiveOptions):
    """Options of the executor-based sampler (the official client-side ``SamplerOptions``)."""

    default_shots: int | None = 4096
    execution: SamplerExecutionOptions = field(default_factory=SamplerExecutionOptions)

    def check(self) -> None:
        super().check()
        _check_int("default_shots", self.default_shots, minimum=1, optional=True)
        self.execution.check("execution")
        if self.twirling.enable_measure and self.execution.meas_type != "classified":
            raise InvalidInputError(
                "measurement twirling (twirling.enable_measure) needs "
                f"execution.meas_type='classified', got {self.execution.meas_type!r}"
            )


@dataclass
class ExecutorEstimatorOptions(_PrimitiveOptions):
    """Options of the executor-based estimator (the official client-side ``EstimatorOptions``)."""

    default_precision: float = 0.015625
    default_shots: int | None = None
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)
    resilience: ResilienceOptions = field(default_factory=ResilienceOptions)
    resilience_level: int = 1

    def check(self) -> None:
        super().check()
        _check_number("default_precision", self.default_precision, positive=True)
        _check_int("default_shots", self.default_shots, minimum=1, optional=True)
        level: object = self.resilience_level
        if isinstance(level, bool) or level not in (0, 1, 2):
            raise _fail("resilience_level", "0, 1 or 2", level)
        self.execution.check("execution")
        self.resilience.check("resilience")


OptionsT = TypeVar("OptionsT")


def build_options(cls: type[OptionsT], options: object) -> OptionsT:
    """An options tree of ``cls`` from ``None``, an instance or a nested dict, checked.

    A dict may be partial (the rest keeps its defaults); an unknown name anywhere is an error.
    An instance is deep-copied, so later changes by the caller do not leak into a job.
    """
    if options is None:
        built: Any = cls()
    elif isinstance(options, cls):
        built = _copy(options)
    elif isinstance(options, Mapping):
        built = _from_mapping(cls, options, "")
    else:
        raise InvalidInputError(
            f"options must be a {cls.__name__} or a dict, got {type(options).__name__}"
        )
    built.check()
    result: OptionsT = built
    return result


def _copy(options: Any) -> Any:
    import copy

    return copy.deepcopy(options)


def _from_mapping(cls: type[Any], values: Mapping[Any, Any], path: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted((str(k) for k in values if k not in fields), key=str)
    if unknown:
        where = f" in {path.rstrip('.')}" if path else ""
        raise InvalidInputError(f"unknown options{where}: {unknown}; known: {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        # A nested tree is a field whose default factory is a dataclass.
        factory: object = fields[name].default_factory
        nested = (
            factory if isinstance(factory, type) and dataclasses.is_dataclass(factory) else None
        )
        if nested is not None and isinstance(value, Mapping):
            kwargs[name] = _from_mapping(nested, value, f"{path}{name}.")
        elif nested is not None and not isinstance(value, nested):
            raise _fail(f"{path}{name}", f"a dict or {nested.__name__}", value)
        else:
            kwargs[name] = _copy(value)
    return cls(**kwargs)
