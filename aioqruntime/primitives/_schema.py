"""The option catalogue of protocol.md §3.4 as a small schema: names and types, checked locally.

Every option the user sets is checked here before anything is sent: an unknown name at any depth
(``{"twirling": {"enable_gate": True}}``), or a value of the wrong type or range, is an
:class:`InvalidInputError` naming its path (``options['twirling']['enable_gates']``). ``None``
means "unset" everywhere (it is not sent). Free-form groups (``experimental``, a
``layer_noise_model``) are passed through.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

from aioqruntime._exceptions import InvalidInputError

__all__ = [
    "DD_SCHEMA",
    "ESTIMATOR_EXECUTION_SCHEMA",
    "ESTIMATOR_SCHEMA",
    "LAYER_NOISE_LEARNING_SCHEMA",
    "MEASURE_NOISE_LEARNING_SCHEMA",
    "PEC_SCHEMA",
    "RESILIENCE_SCHEMA",
    "SAMPLER_EXECUTION_SCHEMA",
    "SAMPLER_SCHEMA",
    "SIMULATOR_SCHEMA",
    "TWIRLING_SCHEMA",
    "ZNE_SCHEMA",
    "check_options",
]

#: A leaf check returns an error text (what the value must be) or ``None`` when it is fine.
Check: TypeAlias = Callable[[Any], "str | None"]
Schema: TypeAlias = Mapping[str, "Check | Schema"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int_at_least(low: int, *, auto: bool = False) -> Check:
    def check(value: Any) -> str | None:
        if auto and value == "auto":
            return None
        if _is_int(value) and value >= low:
            return None
        return f"an int >= {low}" + (" or 'auto'" if auto else "")

    return check


def _real(*, low: float, strict: bool, auto: bool = False) -> Check:
    def check(value: Any) -> str | None:
        if auto and value == "auto":
            return None
        if _is_real(value) and (value > low if strict else value >= low):
            return None
        return f"a finite number {'>' if strict else '>='} {low:g}" + (" or 'auto'" if auto else "")

    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "True or False"


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if isinstance(value, str) and value in choices else f"one of {list(choices)}"

    return check


def _list_of(item: Check, what: str) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, (list, tuple)) and all(item(v) is None for v in value):
            return None
        return f"a list of {what}"

    return check


def _anything(value: Any) -> str | None:
    return None


def _mapping(value: Any) -> str | None:
    return None if isinstance(value, Mapping) else "a dict"


_EXTRAPOLATORS: Final = (
    "linear",
    "exponential",
    "double_exponential",
    *(f"polynomial_degree_{k}" for k in range(1, 8)),
    "fallback",
)


def _extrapolator(value: Any) -> str | None:
    choice = _one_of(*_EXTRAPOLATORS)
    if choice(value) is None or _list_of(choice, "extrapolator names")(value) is None:
        return None
    return f"one of {list(_EXTRAPOLATORS)} or a list of them"


def _coupling_map(value: Any) -> str | None:
    if callable(getattr(value, "get_edges", None)):
        return None
    pair: Check = _list_of(_int_at_least(0), "ints")
    if isinstance(value, (list, tuple)) and all(
        pair(edge) is None and len(edge) == 2 for edge in value
    ):
        return None
    return "a CouplingMap or a list of [int, int] pairs"


DD_SCHEMA: Final[Schema] = {
    "enable": _boolean,
    "sequence_type": _one_of("XX", "XpXm", "XY4"),
    "extra_slack_distribution": _one_of("middle", "edges"),
    "scheduling_method": _one_of("alap", "asap"),
    "skip_reset_qubits": _boolean,
}
TWIRLING_SCHEMA: Final[Schema] = {
    "enable_gates": _boolean,
    "enable_measure": _boolean,
    "num_randomizations": _int_at_least(1, auto=True),
    "shots_per_randomization": _int_at_least(1, auto=True),
    "strategy": _one_of("active", "active-accum", "active-circuit", "all"),
}


def _noise_model(value: Any) -> str | None:
    if isinstance(value, Mapping) or callable(getattr(value, "to_dict", None)):
        return None
    return "a dict or a qiskit-aer NoiseModel"


SIMULATOR_SCHEMA: Final[Schema] = {
    "noise_model": _noise_model,
    "seed_simulator": _int_at_least(0),
    "coupling_map": _coupling_map,
    "basis_gates": _list_of(lambda v: None if isinstance(v, str) else "str", "gate names"),
}
MEASURE_NOISE_LEARNING_SCHEMA: Final[Schema] = {
    "num_randomizations": _int_at_least(1),
    "shots_per_randomization": _int_at_least(1, auto=True),
}
ZNE_SCHEMA: Final[Schema] = {
    "amplifier": _one_of("gate_folding", "gate_folding_front", "gate_folding_back", "pea"),
    "noise_factors": _list_of(_real(low=1, strict=False), "numbers >= 1"),
    "extrapolator": _extrapolator,
    "extrapolated_noise_factors": _list_of(_real(low=0, strict=False), "numbers >= 0"),
}
PEC_SCHEMA: Final[Schema] = {
    "max_overhead": _real(low=0, strict=True),
    "noise_gain": _real(low=0, strict=False, auto=True),
}
LAYER_NOISE_LEARNING_SCHEMA: Final[Schema] = {
    "max_layers_to_learn": _int_at_least(0),
    "shots_per_randomization": _int_at_least(1),
    "num_randomizations": _int_at_least(1),
    "layer_pair_depths": _list_of(_int_at_least(0), "ints >= 0"),
}
RESILIENCE_SCHEMA: Final[Schema] = {
    "measure_mitigation": _boolean,
    "measure_noise_learning": MEASURE_NOISE_LEARNING_SCHEMA,
    "zne_mitigation": _boolean,
    "zne": ZNE_SCHEMA,
    "pec_mitigation": _boolean,
    "pec": PEC_SCHEMA,
    "layer_noise_learning": LAYER_NOISE_LEARNING_SCHEMA,
    "layer_noise_model": _anything,
}
# The runtime options are checked by RuntimeOptions (aioqruntime/runtime/_options.py), the one
# check shared with session.run(options=...); the schema only knows their names.
_ENVIRONMENT: Final[Schema] = {
    "job_tags": _anything,
    "log_level": _anything,
    "private": _anything,
}
ESTIMATOR_EXECUTION_SCHEMA: Final[Schema] = {
    "init_qubits": _boolean,
    "rep_delay": _real(low=0, strict=False),
}
SAMPLER_EXECUTION_SCHEMA: Final[Schema] = {
    **ESTIMATOR_EXECUTION_SCHEMA,
    "meas_type": _one_of("classified", "kerneled", "avg_kerneled"),
}
_COMMON: Final[dict[str, Check | Schema]] = {
    "dynamical_decoupling": DD_SCHEMA,
    "twirling": TWIRLING_SCHEMA,
    "simulator": SIMULATOR_SCHEMA,
    "experimental": _mapping,
    "environment": _ENVIRONMENT,
    "max_execution_time": _anything,  # RuntimeOptions
}
SAMPLER_SCHEMA: Final[Schema] = {
    **_COMMON,
    "default_shots": _int_at_least(1),
    "execution": SAMPLER_EXECUTION_SCHEMA,
}
ESTIMATOR_SCHEMA: Final[Schema] = {
    **_COMMON,
    "default_shots": _int_at_least(1),
    "default_precision": _real(low=0, strict=True),
    "seed_estimator": _int_at_least(0),
    "resilience_level": lambda v: None if _is_int(v) and 0 <= v <= 2 else "0, 1 or 2",
    "resilience": RESILIENCE_SCHEMA,
    "execution": ESTIMATOR_EXECUTION_SCHEMA,
}


def check_options(options: Mapping[str, Any], schema: Schema, *, primitive: str) -> None:
    """Raise :class:`InvalidInputError` for the first unknown name or bad value in ``options``."""
    _check(options, schema, primitive, "options")


def _check(options: Any, schema: Schema, primitive: str, where: str) -> None:
    if not isinstance(options, Mapping):
        raise InvalidInputError(f"{where} must be a dict, got {type(options).__name__}")
    for key, value in options.items():
        path = f"{where}[{key!r}]"
        rule = schema.get(key) if isinstance(key, str) else None
        if rule is None:
            known = sorted(schema)
            raise InvalidInputError(f"unknown {primitive} option {path}; known here: {known}")
        if value is None:
            continue
        if isinstance(rule, Mapping):
            _check(value, rule, primitive, path)
            continue
        expected = rule(value)
        if expected is not None:
            raise InvalidInputError(f"{path} must be {expected}, got {value!r:.80}")
