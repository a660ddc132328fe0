"""Pubs on the wire: the ``params["pubs"]`` of sampler and estimator jobs (protocol.md §3.2).

Encoding produces exactly what the official client sends: per sampler pub
``[circuit, values, shots]`` and per estimator pub ``[circuit, observables, values, precision]``,
where ``values`` is a float64 array shaped ``(*bindings_shape, num_parameters)`` with columns in
``circuit.parameters`` order (shape ``(0,)`` for a circuit without parameters).

Decoding is for the local server: it validates a submitted ``params`` document and rebuilds
Qiskit pubs, raising :class:`CodecError` with the path of the first problem (``/pubs/0/1``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from qiskit.circuit import QuantumCircuit
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.primitives.containers.sampler_pub import SamplerPub

from aioqruntime._exceptions import CodecError
from aioqruntime.codec._binary import encode_ndarray
from aioqruntime.codec._decoder import decode_tree
from aioqruntime.codec._paths import ROOT, Path, child, fail
from aioqruntime.codec._qpy import encode_circuit_with_names

__all__ = [
    "decode_estimator_params",
    "decode_sampler_params",
    "encode_estimator_pubs",
    "encode_sampler_pubs",
]


def _circuit_and_values(
    circuit: QuantumCircuit, values: BindingsArray
) -> tuple[dict[str, str], dict[str, str]]:
    text, names = encode_circuit_with_names(circuit)
    array = _values_array(circuit, values, names)
    return (
        {"__type__": "QuantumCircuit", "__value__": text},
        {"__type__": "ndarray", "__value__": encode_ndarray(array)},
    )


def _values_array(
    circuit: QuantumCircuit, values: BindingsArray, names: tuple[str, ...] | None
) -> npt.NDArray[np.float64]:
    """``values.as_array(circuit.parameters)``, without its per-parameter lookups when possible.

    Pubs coerced from ``(circuit, array)`` hold one array keyed by the circuit's parameter names
    in circuit order; the cached names let that array be used as it is (as float64, exactly as
    ``as_array`` would copy it).
    """
    data = values.data
    if len(data) == 1:
        ((key, array),) = data.items()
        if names is None and len(key) == circuit.num_parameters:
            # Not cached (first sighting): the names are still far cheaper than as_array.
            names = tuple(p.name for p in circuit.parameters)
        if names is not None and key == names and array.shape == (*values.shape, len(names)):
            out = np.empty(array.shape)
            out[...] = array
            return out
    result: npt.NDArray[np.float64] = values.as_array(circuit.parameters)
    return result


def encode_sampler_pubs(pubs: Iterable[SamplerPub]) -> list[list[Any]]:
    """JSON-ready ``params["pubs"]`` for coerced :class:`SamplerPub` objects."""
    out: list[list[Any]] = []
    for pub in pubs:
        if not isinstance(pub, SamplerPub):
            raise CodecError(f"expected a SamplerPub, got {type(pub).__name__}")
        shots = None if pub.shots is None else int(pub.shots)
        circuit, values = _circuit_and_values(pub.circuit, pub.parameter_values)
        out.append([circuit, values, shots])
    return out


def encode_estimator_pubs(pubs: Iterable[EstimatorPub]) -> list[list[Any]]:
    """JSON-ready ``params["pubs"]`` for coerced :class:`EstimatorPub` objects."""
    out: list[list[Any]] = []
    for pub in pubs:
        if not isinstance(pub, EstimatorPub):
            raise CodecError(f"expected an EstimatorPub, got {type(pub).__name__}")
        precision = None if pub.precision is None else float(pub.precision)
        circuit, values = _circuit_and_values(pub.circuit, pub.parameter_values)
        out.append([circuit, pub.observables.tolist(), values, precision])
    return out


# --- decoding (server side) ------------------------------------------------------------------


def _pub_list(params: object) -> tuple[list[Any], Path]:
    if not isinstance(params, Mapping):
        raise fail(f"params must be an object, got {type(params).__name__}", ROOT)
    path = child(ROOT, "pubs")
    if "pubs" not in params:
        raise fail("params have no pubs", ROOT)
    pubs = decode_tree(params["pubs"], path)
    if not isinstance(pubs, (list, tuple)):
        raise fail("pubs must be a list", path)
    if not pubs:
        raise fail("pubs is empty", path)
    return list(pubs), path


def _circuit(value: object, path: Path) -> QuantumCircuit:
    if isinstance(value, str):
        raise fail("QASM 3 circuits are not supported; send a QuantumCircuit (QPY) tag", path)
    if not isinstance(value, QuantumCircuit):
        raise fail("expected a QuantumCircuit tag", path)
    return value


def _bindings(circuit: QuantumCircuit, value: object, path: Path) -> BindingsArray:
    n = circuit.num_parameters
    if value is None:
        if n:
            raise fail(f"the circuit has {n} parameters but no values were given", path)
        return BindingsArray()
    if isinstance(value, BindingsArray):
        return value
    if isinstance(value, (list, int, float)) and not isinstance(value, bool):
        try:
            value = np.asarray(value, dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise fail(f"parameter values are not numbers ({exc})", path) from exc
    if not isinstance(value, np.ndarray):
        raise fail("parameter values must be an ndarray tag", path)
    if value.dtype.kind not in "iuf":
        raise fail(f"parameter values must be real numbers, got dtype {value.dtype}", path)
    if value.ndim == 0:
        raise fail("parameter values need a last axis of one value per parameter", path)
    if value.shape[-1] != n:
        raise fail(
            f"parameter values have {value.shape[-1]} columns, the circuit has {n} parameters",
            path,
        )
    if not np.all(np.isfinite(value)):
        raise fail("parameter values must be finite", path)
    if n == 0:
        return BindingsArray(shape=value.shape[:-1])
    return BindingsArray({tuple(circuit.parameters): value.astype(np.float64, copy=False)})


def _shots(value: object, path: Path) -> int | None:
    if value is None:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise fail("shots must be a positive integer or null", path)
    if value <= 0:
        raise fail(f"shots must be positive, got {value}", path)
    return int(value)


def _precision(value: object, path: Path) -> float | None:
    if value is None:
        return None
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
        raise fail("precision must be a positive number or null", path)
    precision = float(value)
    if not math.isfinite(precision) or precision <= 0:
        raise fail(f"precision must be positive and finite, got {value}", path)
    return precision


def _observables(circuit: QuantumCircuit, value: object, path: Path) -> ObservablesArray:
    try:
        observables = ObservablesArray.coerce(value)
    except Exception as exc:  # qiskit raises ValueError, TypeError or QiskitError
        raise fail(f"invalid observables ({exc})", path) from exc
    if observables.size == 0:
        raise fail("observables are empty", path)
    num_qubits = observables.num_qubits
    if num_qubits != circuit.num_qubits:
        raise fail(
            f"observables act on {num_qubits} qubits, the circuit has {circuit.num_qubits}", path
        )
    return observables


def _items(pub: object, path: Path, what: str, sizes: range) -> list[Any]:
    if not isinstance(pub, (list, tuple)):
        raise fail(f"{what} pub must be a list", path)
    if len(pub) not in sizes:
        raise fail(
            f"{what} pub must have {sizes.start} to {sizes.stop - 1} items, got {len(pub)}", path
        )
    return list(pub)


def decode_sampler_params(params: Mapping[str, Any]) -> list[SamplerPub]:
    """Validate a sampler job's ``params`` and rebuild its :class:`SamplerPub` objects.

    ``params`` may be raw JSON (tags still dicts) or already decoded by :func:`loads`. A pub is
    ``[circuit, values, shots]``; ``[circuit]``, ``[circuit, values]`` and a bare circuit are
    accepted too (the server-side alternatives).

    Raises:
        CodecError: the first problem found, with its path (e.g. ``/pubs/0/1``).
    """
    pubs, path = _pub_list(params)
    out: list[SamplerPub] = []
    for i, raw in enumerate(pubs):
        ppath = child(path, i)
        if isinstance(raw, QuantumCircuit):
            items = [raw]  # a bare circuit: the server-side alternative
        else:
            items = _items(raw, ppath, "sampler", range(1, 4))
        circuit = _circuit(items[0], child(ppath, 0))
        bindings = _bindings(circuit, items[1] if len(items) > 1 else None, child(ppath, 1))
        shots = _shots(items[2] if len(items) > 2 else None, child(ppath, 2))
        try:
            out.append(SamplerPub(circuit, bindings, shots, validate=True))
        except Exception as exc:
            raise fail(f"invalid sampler pub ({exc})", ppath) from exc
    return out


def decode_estimator_params(params: Mapping[str, Any]) -> list[EstimatorPub]:
    """Validate an estimator job's ``params`` and rebuild its :class:`EstimatorPub` objects.

    A pub is ``[circuit, observables, values, precision]``; the last two may be left out.

    Raises:
        CodecError: the first problem found, with its path (e.g. ``/pubs/0/1``).
    """
    pubs, path = _pub_list(params)
    out: list[EstimatorPub] = []
    for i, raw in enumerate(pubs):
        ppath = child(path, i)
        items = _items(raw, ppath, "estimator", range(2, 5))
        circuit = _circuit(items[0], child(ppath, 0))
        observables = _observables(circuit, items[1], child(ppath, 1))
        bindings = _bindings(circuit, items[2] if len(items) > 2 else None, child(ppath, 2))
        precision = _precision(items[3] if len(items) > 3 else None, child(ppath, 3))
        try:
            out.append(EstimatorPub(circuit, observables, bindings, precision, validate=True))
        except Exception as exc:  # e.g. observables and values shapes do not broadcast
            raise fail(f"invalid estimator pub ({exc})", ppath) from exc
    return out
