"""Pub lists and their coercion, shared by the V2 and the executor-based primitives.

qiskit's ``SamplerPub.coerce`` / ``EstimatorPub.coerce`` raise many types for input of the wrong
shape or type; here each is an :class:`InvalidInputError` naming the pub, raised before anything
is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aioqruntime._exceptions import InvalidInputError

__all__ = ["as_pub_list", "coerce_estimator_pubs", "coerce_sampler_pubs"]

#: What qiskit's pub coercion raises for input of the wrong shape or type.
_COERCE_ERRORS = (ValueError, TypeError, AttributeError, IndexError, KeyError)


def as_pub_list(pubs: Iterable[Any]) -> list[Any]:
    """``run()``'s pubs as a non-empty list (a lone circuit is the common slip)."""
    from qiskit.circuit import QuantumCircuit

    if isinstance(pubs, QuantumCircuit):
        raise InvalidInputError("run() takes a list of pubs: pass [circuit], not circuit")
    try:
        items = list(pubs)
    except TypeError as exc:
        raise InvalidInputError(f"run() takes a list of pubs, got {type(pubs).__name__}") from exc
    if not items:
        raise InvalidInputError("run() needs at least one pub")
    return items


def coerce_sampler_pubs(items: list[Any], shots: int | None) -> list[Any]:
    """Each item as a ``SamplerPub`` (``shots`` where the pub has none)."""
    from qiskit.primitives.containers.sampler_pub import SamplerPub

    coerced = []
    for index, pub in enumerate(items):
        try:
            coerced.append(SamplerPub.coerce(pub, shots))
        except _COERCE_ERRORS as exc:
            raise InvalidInputError(f"invalid sampler pub {index}: {exc}") from exc
    return coerced


def coerce_estimator_pubs(items: list[Any], precision: float | None) -> list[Any]:
    """Each item as an ``EstimatorPub`` (``precision`` where the pub has none)."""
    from qiskit.primitives.containers.estimator_pub import EstimatorPub

    coerced = []
    for index, pub in enumerate(items):
        try:
            coerced.append(EstimatorPub.coerce(pub, precision))
        except _COERCE_ERRORS as exc:
            raise InvalidInputError(f"invalid estimator pub {index}: {exc}") from exc
    return coerced
