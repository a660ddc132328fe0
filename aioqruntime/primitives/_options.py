"""Primitive options as a plain nested dict, mapped onto the job body (protocol.md §3.3).

Only what the user set is sent (the server applies its defaults). Every name and value is checked
against the option catalogue (:mod:`._schema`), nested groups included, so a typo or a value of
the wrong type fails before anything is sent. The runtime options among them
(``environment.job_tags/log_level/private``, ``max_execution_time``) are checked by
:class:`~aioqruntime.runtime._options.RuntimeOptions`, the same check as ``session.run``'s.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from aioqruntime._exceptions import InvalidInputError
from aioqruntime.primitives._schema import ESTIMATOR_SCHEMA, SAMPLER_SCHEMA, check_options
from aioqruntime.runtime._options import RuntimeOptions, check_tags

__all__ = ["ESTIMATOR_KEYS", "SAMPLER_KEYS", "check_tags", "split_options"]

#: Groups copied into ``params.options`` (the official ``_get_program_inputs`` list).
_PROGRAM_GROUPS: Final = (
    "default_precision",
    "default_shots",
    "seed_estimator",
    "dynamical_decoupling",
    "resilience",
    "twirling",
    "simulator",
    "execution",
)
_COMMON: Final = frozenset(
    {
        "default_shots",
        "dynamical_decoupling",
        "twirling",
        "simulator",
        "execution",
        "experimental",
        "environment",
        "max_execution_time",
    }
)
SAMPLER_KEYS: Final = _COMMON
ESTIMATOR_KEYS: Final = _COMMON | {
    "default_precision",
    "seed_estimator",
    "resilience",
    "resilience_level",
}
_ENVIRONMENT_KEYS: Final = frozenset({"job_tags", "log_level", "private"})


def split_options(
    options: Mapping[str, Any] | None, *, allowed: frozenset[str], primitive: str
) -> tuple[dict[str, Any], dict[str, Any], RuntimeOptions]:
    """``(params.options, extra params, runtime options)`` from the user's options dict.

    Extra params holds ``resilience_level`` (lifted to ``params``, estimator only).
    """
    if options is not None and not isinstance(options, Mapping):
        raise InvalidInputError(f"options must be a dict, got {type(options).__name__}")
    given = copy.deepcopy(dict(options or {}))
    unknown = sorted(set(given) - allowed, key=str)
    if unknown:
        raise InvalidInputError(f"unknown {primitive} options: {unknown}; known: {sorted(allowed)}")
    check_options(
        given, ESTIMATOR_SCHEMA if primitive == "estimator" else SAMPLER_SCHEMA, primitive=primitive
    )
    program: dict[str, Any] = {}
    for key in _PROGRAM_GROUPS:
        if key in given and given[key] is not None:
            program[key] = given[key]
    simulator = program.get("simulator")
    if isinstance(simulator, dict) and simulator.get("coupling_map") is not None:
        simulator["coupling_map"] = _edges(simulator["coupling_map"])
    if isinstance(simulator, dict) and _is_noise_model_object(simulator.get("noise_model")):
        # A qiskit-aer NoiseModel, tagged as the official encoder tags it.
        noise_model = simulator["noise_model"]
        simulator["noise_model"] = {"__type__": "NoiseModel", "__value__": noise_model.to_dict()}
    image = None
    experimental = given.get("experimental")
    if experimental is not None:
        if not isinstance(experimental, Mapping):
            raise InvalidInputError("options['experimental'] must be a dict")
        rest: dict[str, Any] = {}
        for key, value in experimental.items():
            if key == "image":
                image = value
            elif key in _PROGRAM_GROUPS and isinstance(value, Mapping):
                base = program.get(key)
                program[key] = _merge(base if isinstance(base, Mapping) else {}, value)
            else:
                rest[key] = value
        if rest:
            program["experimental"] = rest
    extra: dict[str, Any] = {}
    level = given.get("resilience_level")
    if level is not None:
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 2:
            raise InvalidInputError(f"resilience_level must be 0, 1 or 2, got {level!r}")
        extra["resilience_level"] = level
    environment = given.get("environment") or {}
    if not isinstance(environment, Mapping):
        raise InvalidInputError("options['environment'] must be a dict")
    unknown_env = sorted(set(environment) - _ENVIRONMENT_KEYS)
    if unknown_env:
        raise InvalidInputError(f"unknown environment options: {unknown_env}")
    # The one check of runtime options, shared with session.run(options=...).
    runtime = RuntimeOptions(
        log_level=environment.get("log_level"),
        tags=environment.get("job_tags", ()),
        max_execution_time=given.get("max_execution_time"),
        private=environment.get("private", False),
        image=image,
    )
    return _drop_empty(program), extra, runtime


def _merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(old, value)
        else:
            merged[key] = value
    return merged


#: Options whose ``None`` means something (no maximum, no limit): sent as ``null``, as the
#: official client does; every other ``None`` means "unset" and is not sent.
_MEANINGFUL_NULLS: Final = frozenset(
    {
        ("resilience", "pec", "max_overhead"),
        ("resilience", "layer_noise_learning", "max_layers_to_learn"),
    }
)


def _drop_empty(options: dict[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Remove unset (``None``) values and empty groups, recursively: unset options are not sent."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        where = (*path, key)
        if isinstance(value, Mapping):
            value = _drop_empty(dict(value), where)
            if not value:
                continue
        if value is None and where not in _MEANINGFUL_NULLS:
            continue
        out[key] = value
    return out


def _is_noise_model_object(value: object) -> bool:
    return value is not None and not isinstance(value, Mapping)


def _edges(coupling_map: Any) -> list[list[int]]:
    get_edges = getattr(coupling_map, "get_edges", None)
    edges = get_edges() if callable(get_edges) else coupling_map
    return [[int(a), int(b)] for a, b in edges]
