"""The primitives' options as objects: the official ``SamplerOptions``/``EstimatorOptions`` tree.

``sampler.options.default_shots = 1000``, ``sampler.options.twirling.enable_gates = True`` and
``sampler.options.update(default_shots=1000, twirling={"strategy": "all"})`` work as with
``qiskit-ibm-runtime`` 0.51.0. Every assignment is checked at once: an unknown name (a typo) is an
:class:`UnknownOptionError` (an :class:`InvalidInputError`, so a ``ValueError`` as the official
raises, and an ``AttributeError``), a value of the wrong type or range an
:class:`InvalidInputError`. The names, checks and ranges are the option catalogue of
:mod:`._schema` (one source for the object and the dict forms).

A field nobody set holds :data:`Unset` and is never sent: the service applies its own default.
Assigning ``None`` means "unset" too, except for the fields whose official type admits ``None``
(they keep it); of those, ``pec.max_overhead`` (no maximum) and
``layer_noise_learning.max_layers_to_learn`` (no limit) are sent as ``null``, as the official
client sends them, since the service's default differs.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal

from typing_extensions import Self

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.primitives import _schema as schema
from aioqruntime.runtime._options import RuntimeOptions, check_tags

__all__ = [
    "DynamicalDecouplingOptions",
    "EnvironmentOptions",
    "EstimatorOptions",
    "ExecutionOptionsV2",
    "LayerNoiseLearningOptions",
    "MeasureNoiseLearningOptions",
    "PecOptions",
    "PrimitiveOptions",
    "ResilienceOptionsV2",
    "SamplerExecutionOptionsV2",
    "SamplerOptions",
    "SimulatorOptions",
    "TwirlingOptions",
    "UnknownOptionError",
    "Unset",
    "UnsetType",
    "ZneOptions",
]


class UnsetType:
    """The type of :data:`Unset`: a field the user did not set (the server's default applies)."""

    _instance: ClassVar[UnsetType | None] = None

    def __new__(cls) -> UnsetType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Unset"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "Unset"


#: A field the user did not set; it is not sent.
Unset: Final = UnsetType()


class UnknownOptionError(InvalidInputError, AttributeError):
    """An option name that does not exist (usually a typo); nothing was sent."""


_KINDS: dict[type[Any], dict[str, type[_Options] | None]] = {}


def _groups_of(cls: type[_Options]) -> dict[str, type[_Options] | None]:
    """Field name -> its options class for a nested group, ``None`` for a plain value."""
    kinds = _KINDS.get(cls)
    if kinds is None:
        kinds = {}
        for item in dataclasses.fields(cls):  # type: ignore[arg-type]
            factory: object = item.default_factory
            is_group = isinstance(factory, type) and issubclass(factory, _Options)
            kinds[item.name] = factory if is_group else None  # type: ignore[assignment]
        _KINDS[cls] = kinds
    return kinds


class _Options:
    """Base of every options class: names and values are checked on every assignment."""

    #: Field name -> check (from :mod:`._schema`); group entries are ignored here.
    _checks: ClassVar[Mapping[str, Any]] = {}
    #: Fields for which ``None`` is a value of its own (kept, sent as ``null``).
    _nullable: ClassVar[frozenset[str]] = frozenset()
    #: How the class is named in messages about unknown names.
    _label: ClassVar[str] = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        # Before the dataclass __init__ turns a typo into a bare TypeError.
        unknown = [name for name in kwargs if name not in _groups_of(cls)]
        if unknown:
            raise UnknownOptionError(cls._unknown_message(unknown))
        return super().__new__(cls)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ready", True)
        self._check_fields()

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        checked = self._checked(name, value)
        if not self.__dict__.get("_ready", False):
            object.__setattr__(self, name, checked)
            return
        previous = self.__dict__[name]
        object.__setattr__(self, name, checked)
        try:
            self._check_fields()
        except InvalidInputError:
            object.__setattr__(self, name, previous)
            raise

    @classmethod
    def _unknown_message(cls, names: Sequence[object]) -> str:
        known = list(_groups_of(cls))
        hints = [
            close[0]
            for name in names
            if isinstance(name, str) and (close := difflib.get_close_matches(name, known, 1))
        ]
        label = cls._label or f"{cls.__name__} options"
        hint = f" (did you mean {', '.join(map(repr, hints))}?)" if hints else ""
        return f"unknown {label}: {list(names)!r}{hint}; known: {known}"

    def _checked(self, name: str, value: Any) -> Any:
        """``value`` as stored in field ``name``, or an error saying what it must be."""
        groups = _groups_of(type(self))
        if name not in groups:
            raise UnknownOptionError(self._unknown_message([name]))
        group = groups[name]
        if group is not None:
            if isinstance(value, group):
                return value
            if value is None or value is Unset:
                return group()
            if isinstance(value, Mapping):
                return group._from_mapping(value)
            raise InvalidInputError(
                f"{type(self).__name__}.{name} must be a {group.__name__} or a dict, "
                f"got {type(value).__name__}"
            )
        if value is Unset:
            return Unset
        if value is None:
            return None if name in self._nullable else Unset
        return self._check_leaf(name, value)

    def _check_leaf(self, name: str, value: Any) -> Any:
        """``value`` checked for field ``name`` (the catalogue's rule); returns what to store."""
        expected = self._checks[name](value)
        if expected is not None:
            raise InvalidInputError(
                f"{type(self).__name__}.{name} must be {expected}, got {value!r:.80}"
            )
        return value

    def _check_fields(self) -> None:
        """Rules across fields of this group (none by default)."""

    @classmethod
    def _from_mapping(cls, values: Mapping[Any, Any]) -> Self:
        names = list(values)
        unknown = [
            name for name in names if not isinstance(name, str) or name not in _groups_of(cls)
        ]
        if unknown:
            raise UnknownOptionError(cls._unknown_message(unknown))
        return cls(**values)

    def _apply(self, changes: Mapping[Any, Any]) -> None:
        """Merge ``changes`` in (nested dicts into nested groups); cross-field rules deferred."""
        if not isinstance(changes, Mapping):
            raise InvalidInputError(f"options must be a dict, got {type(changes).__name__}")
        groups = _groups_of(type(self))
        unknown = [name for name in changes if not isinstance(name, str) or name not in groups]
        if unknown:
            raise UnknownOptionError(self._unknown_message(unknown))
        object.__setattr__(self, "_ready", False)
        try:
            for name, value in changes.items():
                current = getattr(self, name)
                if groups[name] is not None and isinstance(value, Mapping):
                    current._apply(value)
                else:
                    setattr(self, name, value)
        finally:
            object.__setattr__(self, "_ready", True)

    def _validate_tree(self) -> None:
        """Check the rules across fields of this group and of every nested group."""
        for name, group in _groups_of(type(self)).items():
            if group is not None:
                getattr(self, name)._validate_tree()
        self._check_fields()

    def _set_values(self) -> dict[str, Any]:
        """The values the user set, as a nested dict (nothing for an untouched group).

        The values are shared, not copied: ``split_options`` copies what it sends.
        """
        out: dict[str, Any] = {}
        for name in _groups_of(type(self)):
            value = getattr(self, name)
            if isinstance(value, _Options):
                nested = value._set_values()
                if nested:
                    out[name] = nested
            elif value is not Unset:
                out[name] = value
        return out


# --- leaf groups -----------------------------------------------------------------------------


@dataclass
class DynamicalDecouplingOptions(_Options):
    """Dynamical decoupling: ``enable``, ``sequence_type``, ``extra_slack_distribution``,
    ``scheduling_method``, ``skip_reset_qubits``."""

    _checks: ClassVar[Mapping[str, Any]] = schema.DD_SCHEMA

    enable: bool | UnsetType = Unset
    sequence_type: Literal["XX", "XpXm", "XY4"] | UnsetType = Unset
    extra_slack_distribution: Literal["middle", "edges"] | UnsetType = Unset
    scheduling_method: Literal["alap", "asap"] | UnsetType = Unset
    skip_reset_qubits: bool | UnsetType = Unset


@dataclass
class EnvironmentOptions(_Options):
    """The execution environment: ``log_level``, ``job_tags``, ``private`` (runtime options)."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING"
    job_tags: list[str] | None = None
    private: bool | None = False

    _nullable: ClassVar[frozenset[str]] = frozenset({"job_tags", "private"})
    #: The official defaults, which are also the service's: not sent when left as they are.
    _defaults: ClassVar[Mapping[str, Any]] = {
        "log_level": "WARNING",
        "job_tags": None,
        "private": False,
    }

    def _check_leaf(self, name: str, value: Any) -> Any:
        # The one check of runtime options, shared with session.run(options=...).
        if name == "job_tags":
            return list(check_tags(value))
        if name == "log_level":
            return RuntimeOptions(log_level=value).log_level  # any case, stored upper-cased
        RuntimeOptions(private=value)
        return value

    def _set_values(self) -> dict[str, Any]:
        # None (job_tags, private) means the default too.
        return {
            name: value
            for name, value in super()._set_values().items()
            if value is not None and value != self._defaults[name]
        }


@dataclass
class ExecutionOptionsV2(_Options):
    """Execution: ``init_qubits``, ``rep_delay``."""

    _checks: ClassVar[Mapping[str, Any]] = schema.ESTIMATOR_EXECUTION_SCHEMA

    init_qubits: bool | UnsetType = Unset
    rep_delay: float | UnsetType = Unset


@dataclass
class SamplerExecutionOptionsV2(ExecutionOptionsV2):
    """The sampler's execution options: also ``meas_type``."""

    _checks: ClassVar[Mapping[str, Any]] = schema.SAMPLER_EXECUTION_SCHEMA

    meas_type: Literal["classified", "kerneled", "avg_kerneled"] | UnsetType = Unset


@dataclass
class TwirlingOptions(_Options):
    """Pauli twirling: ``enable_gates``, ``enable_measure``, ``num_randomizations``,
    ``shots_per_randomization``, ``strategy``."""

    _checks: ClassVar[Mapping[str, Any]] = schema.TWIRLING_SCHEMA

    enable_gates: bool | UnsetType = Unset
    enable_measure: bool | UnsetType = Unset
    num_randomizations: int | Literal["auto"] | UnsetType = Unset
    shots_per_randomization: int | Literal["auto"] | UnsetType = Unset
    strategy: Literal["active", "active-accum", "active-circuit", "all"] | UnsetType = Unset


@dataclass
class SimulatorOptions(_Options):
    """Simulator: ``noise_model``, ``seed_simulator``, ``coupling_map``, ``basis_gates``."""

    _checks: ClassVar[Mapping[str, Any]] = schema.SIMULATOR_SCHEMA
    _nullable: ClassVar[frozenset[str]] = frozenset({"noise_model"})

    noise_model: Any = Unset
    seed_simulator: int | UnsetType = Unset
    coupling_map: Any = Unset
    basis_gates: list[str] | UnsetType = Unset

    def set_backend(self, backend: Any) -> None:
        """Simulate ``backend``: its noise model (qiskit-aer), coupling map and operations."""
        from qiskit_aer.noise import NoiseModel

        self.noise_model = NoiseModel.from_backend(backend)
        self.coupling_map = backend.coupling_map
        self.basis_gates = list(backend.operation_names)


@dataclass
class MeasureNoiseLearningOptions(_Options):
    """Measurement noise learning: ``num_randomizations``, ``shots_per_randomization``."""

    _checks: ClassVar[Mapping[str, Any]] = schema.MEASURE_NOISE_LEARNING_SCHEMA

    num_randomizations: int | UnsetType = Unset
    shots_per_randomization: int | Literal["auto"] | UnsetType = Unset


@dataclass
class LayerNoiseLearningOptions(_Options):
    """Layer noise learning: ``max_layers_to_learn`` (``None``: no limit),
    ``shots_per_randomization``, ``num_randomizations``, ``layer_pair_depths``."""

    _checks: ClassVar[Mapping[str, Any]] = schema.LAYER_NOISE_LEARNING_SCHEMA
    _nullable: ClassVar[frozenset[str]] = frozenset({"max_layers_to_learn"})

    max_layers_to_learn: int | UnsetType | None = Unset
    shots_per_randomization: int | UnsetType = Unset
    num_randomizations: int | UnsetType = Unset
    layer_pair_depths: list[int] | UnsetType = Unset


@dataclass
class PecOptions(_Options):
    """Probabilistic error cancellation: ``max_overhead`` (``None``: no maximum),
    ``noise_gain``."""

    _checks: ClassVar[Mapping[str, Any]] = schema.PEC_SCHEMA
    _nullable: ClassVar[frozenset[str]] = frozenset({"max_overhead"})

    max_overhead: float | UnsetType | None = Unset
    noise_gain: float | Literal["auto"] | UnsetType = Unset


#: How many noise factors each extrapolator needs (the service's rule, checked locally).
_FACTORS_NEEDED: Final = {
    "linear": 2,
    "exponential": 2,
    "double_exponential": 4,
    "fallback": 2,
    **{f"polynomial_degree_{k}": k + 1 for k in range(1, 8)},
}


@dataclass
class ZneOptions(_Options):
    """Zero-noise extrapolation: ``amplifier``, ``noise_factors``, ``extrapolator``,
    ``extrapolated_noise_factors``."""

    _checks: ClassVar[Mapping[str, Any]] = schema.ZNE_SCHEMA

    amplifier: (
        Literal["gate_folding", "gate_folding_front", "gate_folding_back", "pea"] | UnsetType
    ) = Unset
    noise_factors: Sequence[float] | UnsetType = Unset
    extrapolator: str | Sequence[str] | UnsetType = Unset
    extrapolated_noise_factors: Sequence[float] | UnsetType = Unset

    def _check_fields(self) -> None:
        # The service's defaults when unset: noise factors (1, 3, 5), ("exponential", "linear").
        factors = self.noise_factors if self.noise_factors is not Unset else (1, 3, 5)
        extrapolator = self.extrapolator
        if extrapolator is Unset:
            extrapolator = ("exponential", "linear")
        names = [extrapolator] if isinstance(extrapolator, str) else list(extrapolator)  # type: ignore[arg-type]
        for name in names:
            needed = _FACTORS_NEEDED[name]
            if len(factors) < needed:  # type: ignore[arg-type]
                raise InvalidInputError(
                    f"ZneOptions.extrapolator {name!r} needs at least {needed} noise_factors, "
                    f"got {list(factors)}"  # type: ignore[arg-type]
                )


@dataclass
class ResilienceOptionsV2(_Options):
    """The estimator's error mitigation: ``measure_mitigation``, ``measure_noise_learning``,
    ``zne_mitigation``, ``zne``, ``pec_mitigation``, ``pec``, ``layer_noise_learning``,
    ``layer_noise_model``."""

    _checks: ClassVar[Mapping[str, Any]] = schema.RESILIENCE_SCHEMA
    _nullable: ClassVar[frozenset[str]] = frozenset({"layer_noise_model"})

    measure_mitigation: bool | UnsetType = Unset
    measure_noise_learning: MeasureNoiseLearningOptions = field(
        default_factory=MeasureNoiseLearningOptions
    )
    zne_mitigation: bool | UnsetType = Unset
    zne: ZneOptions = field(default_factory=ZneOptions)
    pec_mitigation: bool | UnsetType = Unset
    pec: PecOptions = field(default_factory=PecOptions)
    layer_noise_learning: LayerNoiseLearningOptions = field(
        default_factory=LayerNoiseLearningOptions
    )
    layer_noise_model: Any = Unset

    def _check_fields(self) -> None:
        if self.measure_mitigation is not True and self.measure_noise_learning._set_values():
            raise InvalidInputError(
                "ResilienceOptionsV2.measure_noise_learning options are set, but "
                "measure_mitigation is not True"
            )
        if self.pec_mitigation is True and self.zne_mitigation is True:
            raise InvalidInputError(
                "ResilienceOptionsV2: pec_mitigation and zne_mitigation cannot both be True; "
                "set one of them to False"
            )


# --- the primitives' options -----------------------------------------------------------------


@dataclass
class PrimitiveOptions(_Options):
    """What both primitives take: ``max_execution_time``, ``environment``, ``simulator``."""

    max_execution_time: int | UnsetType = Unset
    environment: EnvironmentOptions = field(default_factory=EnvironmentOptions)
    simulator: SimulatorOptions = field(default_factory=SimulatorOptions)

    def update(self, options: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        """Set several options at once; nested dicts are merged into the nested groups.

        ``options.update(default_shots=100, twirling={"enable_gates": True})`` (a dict as the
        one positional argument works too). All or nothing: on an error nothing changed.
        """
        if options is not None and not isinstance(options, Mapping):
            raise InvalidInputError(f"options must be a dict, got {type(options).__name__}")
        trial = copy.deepcopy(self)
        trial._apply({**(options or {}), **kwargs})
        trial._validate_tree()
        for name in _groups_of(type(self)):
            object.__setattr__(self, name, getattr(trial, name))

    def _check_leaf(self, name: str, value: Any) -> Any:
        if name == "max_execution_time":
            RuntimeOptions(max_execution_time=value)
            return value
        return super()._check_leaf(name, value)

    @classmethod
    def _coerce(cls, options: object) -> Self:
        """``options=`` of a primitive: ``None``, a dict or an instance (copied)."""
        if options is None:
            return cls()
        if isinstance(options, cls):
            return copy.deepcopy(options)
        if isinstance(options, Mapping):
            return cls._from_mapping(options)
        raise InvalidInputError(
            f"options must be a dict or a {cls.__name__}, got {type(options).__name__}"
        )


@dataclass
class SamplerOptions(PrimitiveOptions):
    """The options of :class:`~aioqruntime.AsyncSampler` (the official ``SamplerOptions``)."""

    _checks: ClassVar[Mapping[str, Any]] = schema.SAMPLER_SCHEMA
    _label: ClassVar[str] = "sampler options"

    default_shots: int | UnsetType = Unset
    dynamical_decoupling: DynamicalDecouplingOptions = field(
        default_factory=DynamicalDecouplingOptions
    )
    execution: SamplerExecutionOptionsV2 = field(default_factory=SamplerExecutionOptionsV2)
    twirling: TwirlingOptions = field(default_factory=TwirlingOptions)
    experimental: dict[str, Any] | UnsetType = Unset


@dataclass
class EstimatorOptions(PrimitiveOptions):
    """The options of :class:`~aioqruntime.AsyncEstimator` (the official ``EstimatorOptions``)."""

    _checks: ClassVar[Mapping[str, Any]] = schema.ESTIMATOR_SCHEMA
    _label: ClassVar[str] = "estimator options"
    _nullable: ClassVar[frozenset[str]] = frozenset({"default_shots"})

    default_precision: float | UnsetType = Unset
    default_shots: int | UnsetType | None = Unset
    resilience_level: int | UnsetType = Unset
    seed_estimator: int | UnsetType = Unset
    dynamical_decoupling: DynamicalDecouplingOptions = field(
        default_factory=DynamicalDecouplingOptions
    )
    resilience: ResilienceOptionsV2 = field(default_factory=ResilienceOptionsV2)
    execution: ExecutionOptionsV2 = field(default_factory=ExecutionOptionsV2)
    twirling: TwirlingOptions = field(default_factory=TwirlingOptions)
    experimental: dict[str, Any] | UnsetType = Unset


def _expose_groups(cls: type[_Options]) -> None:
    # A dataclass field with a default factory is no class attribute; name its class there, so
    # that the class lists every option (``hasattr(SamplerOptions, "twirling")``, dir(), docs).
    for name, group in _groups_of(cls).items():
        if group is not None and not hasattr(cls, name):
            setattr(cls, name, group)


for _cls in (ResilienceOptionsV2, PrimitiveOptions, SamplerOptions, EstimatorOptions):
    _expose_groups(_cls)
