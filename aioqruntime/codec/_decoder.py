"""``loads``: Runtime JSON text to Python objects, safely and with error paths.

The text is parsed by :func:`json.loads` and then walked once, bottom-up (children first, as the
official decoder's ``object_hook`` does), turning every ``{"__type__": ..., "__value__": ...}``
node into its object. Walking a plain tree rather than hooking the parser lets every error name
its place in the document.

Safety: tags map to a fixed table of decoders; nothing named by the payload is imported, and the
only classes constructed from a ``settings`` payload are an allow-list of
``qiskit.quantum_info`` operators matched by exact module and class name. Arrays are read with
``allow_pickle=False``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.quantum_info import (
    PTM,
    Chi,
    Choi,
    Kraus,
    Operator,
    Pauli,
    PauliLindbladMap,
    PauliList,
    SparsePauliOp,
    Stinespring,
    SuperOp,
)
from qiskit.result import Result

from aioqruntime._exceptions import CodecError
from aioqruntime.codec._binary import decode_ndarray
from aioqruntime.codec._parallel import split_payloads, take_payload
from aioqruntime.codec._paths import ROOT, Path, child, fail
from aioqruntime.codec._qpy import decode_circuit, decode_instruction, decode_parameter
from aioqruntime.codec._results import RESULT_DECODERS

__all__ = ["decode_tree", "loads"]

Decoder = Callable[[object, Path], object]

# Strings the ``ndarray`` tag may carry instead of an array: ZNE extrapolator names.
_EXTRAPOLATORS = frozenset(
    {"linear", "exponential", "double_exponential", "fallback"}
    | {f"polynomial_degree_{k}" for k in range(1, 8)}
)

# ``settings`` payloads we rebuild, by exact (module, class). Keys come from the classes we
# import here, never from the payload.
_SETTINGS_CLASSES: dict[tuple[str, str], type[Any]] = {
    (cls.__module__, cls.__name__): cls
    for cls in (
        SparsePauliOp,
        PauliList,
        Pauli,
        Operator,
        SuperOp,
        Choi,
        Kraus,
        Stinespring,
        Chi,
        PTM,
    )
}
# ``settings`` of other classes under this prefix (e.g. Statevector) are left as tagged dicts,
# as the official decoder leaves them; any other module is refused.
_SETTINGS_PASSTHROUGH_PREFIX = "qiskit.quantum_info."


def _real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_ISO = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?)?\Z"
)


def _parse_datetime(value: object, path: Path) -> datetime:
    if not isinstance(value, str):
        raise fail("datetime must be a string", path)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        pass
    # Python 3.10's fromisoformat misses "Z" and fractions other than 3 or 6 digits.
    match = _ISO.match(value.strip())
    if match is None:
        raise fail(f"invalid ISO 8601 datetime {value!r}", path)
    day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime.fromisoformat(day)
        if hour is not None:
            micro = int((fraction or "0")[:6].ljust(6, "0"))
            moment = moment.replace(
                hour=int(hour), minute=int(minute), second=int(second or 0), microsecond=micro
            )
        if offset:
            if offset == "Z":
                zone = timezone.utc
            else:
                digits = offset[1:].replace(":", "")
                delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
                zone = timezone(-delta if offset[0] == "-" else delta)
            moment = moment.replace(tzinfo=zone)
    except ValueError as exc:
        raise fail(f"invalid ISO 8601 datetime {value!r} ({exc})", path) from exc
    return moment


def _complex(value: object, path: Path) -> complex:
    if not isinstance(value, list) or len(value) != 2 or not all(_real(v) for v in value):
        raise fail("complex must be a list of two numbers", path)
    return complex(value[0], value[1])


def _ndarray(value: object, path: Path) -> object:
    if isinstance(value, str):
        if value in _EXTRAPOLATORS:
            return value
        ready = take_payload(value, path)
        return decode_ndarray(value, path) if ready is None else ready
    if isinstance(value, (int, float, list)) and not isinstance(value, bool):
        # Object-dtype arrays travel as plain JSON lists.
        try:
            return np.array(value)
        except (ValueError, TypeError) as exc:
            raise fail(f"invalid ndarray list ({exc})", path) from exc
    raise fail(f"ndarray value must be a string or a list, got {type(value).__name__}", path)


def _set(value: object, path: Path) -> set[Any]:
    if not isinstance(value, list):
        raise fail("set must be a list", path)
    try:
        return set(value)
    except TypeError as exc:
        raise fail(f"set holds an unhashable item ({exc})", path) from exc


def _observables(value: object, path: Path) -> ObservablesArray:
    try:
        return ObservablesArray(value)
    except Exception as exc:  # qiskit raises ValueError/TypeError/QiskitError
        raise fail(f"invalid observables ({exc})", path) from exc


def _bindings(value: object, path: Path) -> BindingsArray:
    if not isinstance(value, dict):
        raise fail("BindingsArray must be an object", path)
    raw_shape = value.get("shape")
    shape: tuple[int, ...] | None = None
    if raw_shape is not None:
        if not isinstance(raw_shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in raw_shape
        ):
            raise fail("shape must be a list of non-negative integers", child(path, "shape"))
        shape = tuple(raw_shape)
    data = value.get("data")
    dpath = child(path, "data")
    decoded: dict[tuple[str, ...], Any] = {}
    if isinstance(data, dict):
        for key, array in data.items():
            kpath = child(dpath, key)
            try:
                names = json.loads(key)
            except ValueError:
                names = None
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise fail("BindingsArray key must be a JSON list of parameter names", kpath)
            if not isinstance(array, np.ndarray):
                raise fail("BindingsArray values must be ndarray tags", kpath)
            decoded[tuple(names)] = array
    elif data is not None:
        raise fail("BindingsArray data must be an object", dpath)
    try:
        return BindingsArray(data=decoded or None, shape=shape)
    except Exception as exc:  # shape mismatches raise ValueError
        raise fail(f"invalid BindingsArray ({exc})", path) from exc


def _pauli_lindblad_map(value: object, path: Path) -> PauliLindbladMap:
    if not isinstance(value, dict) or not isinstance(value.get("paulis"), list):
        raise fail("PauliLindbladMap needs a list of paulis", path)
    num_qubits = value.get("num_qubits")
    if not isinstance(num_qubits, int) or isinstance(num_qubits, bool) or num_qubits < 0:
        raise fail("num_qubits must be a non-negative integer", child(path, "num_qubits"))
    try:
        terms = [tuple(term) for term in value["paulis"]]
        return PauliLindbladMap.from_sparse_list(terms, num_qubits=num_qubits)
    except Exception as exc:
        raise fail(f"invalid PauliLindbladMap ({exc})", path) from exc


def _result(value: object, path: Path) -> Result:
    if not isinstance(value, dict):
        raise fail("Result must be an object", path)
    try:
        return Result.from_dict(value)
    except Exception as exc:
        raise fail(f"invalid Result ({exc})", path) from exc


def _int_keys(obj: object) -> object:
    # Undo the encoder's "__int_keys__" marker: such dicts get their int keys back.
    if isinstance(obj, dict):
        flagged = obj.pop("__int_keys__", False) is True
        for key in list(obj):
            _int_keys(obj[key])
            if flagged and isinstance(key, str):
                try:
                    number = int(key)
                except ValueError:
                    continue
                obj[number] = obj.pop(key)
    elif isinstance(obj, list):
        for item in obj:
            _int_keys(item)
    return obj


def _settings(node: Mapping[str, Any], value: object, path: Path) -> object:
    module, name = node.get("__module__"), node.get("__class__")
    if not isinstance(module, str) or not isinstance(name, str):
        raise fail("settings tag needs string __module__ and __class__", path)
    cls = _SETTINGS_CLASSES.get((module, name))
    if cls is None:
        if module.startswith(_SETTINGS_PASSTHROUGH_PREFIX):
            return {**node, "__value__": value}
        raise fail(f"settings of {module}.{name} are not in the allow-list", path)
    vpath = child(path, "__value__")
    if not isinstance(value, dict):
        raise fail("settings value must be an object", vpath)
    try:
        return cls(**_int_keys(value))  # type: ignore[arg-type]
    except Exception as exc:
        raise fail(f"invalid {name} settings ({exc})", vpath) from exc


def _passthrough(node: Mapping[str, Any], value: object, path: Path) -> object:
    # Tags whose classes live in the official client or in optional packages: kept as dicts.
    return {**node, "__value__": value}


_VALUE_DECODERS: dict[str, Decoder] = {
    "datetime": _parse_datetime,
    "complex": _complex,
    "ndarray": _ndarray,
    "set": _set,
    "QuantumCircuit": decode_circuit,
    "Parameter": decode_parameter,
    "Instruction": decode_instruction,
    "ObservablesArray": _observables,
    "BindingsArray": _bindings,
    "PauliLindbladMap": _pauli_lindblad_map,
    "Result": _result,
    "to_json": lambda value, path: value,
    **RESULT_DECODERS,
}

_NODE_DECODERS: dict[str, Callable[[Mapping[str, Any], object, Path], object]] = {
    "settings": _settings,
    "_json": _passthrough,
    "NoiseLearnerResult": _passthrough,
    "NoiseModel": _passthrough,
}


def _decode_tag(node: dict[str, Any], path: Path) -> object:
    kind = node["__type__"]
    if not isinstance(kind, str):
        raise fail("__type__ must be a string", child(path, "__type__"))
    if "__value__" not in node:
        raise fail(f"{kind} tag has no __value__", path)
    vpath = child(path, "__value__")
    value = node["__value__"]
    if type(value) is dict or type(value) is list:
        value = decode_tree(value, vpath)
    decoder = _VALUE_DECODERS.get(kind)
    if decoder is not None:
        return decoder(value, vpath)
    node_decoder = _NODE_DECODERS.get(kind)
    if node_decoder is not None:
        return node_decoder(node, value, path)
    raise fail(f"unknown __type__ {kind!r}", child(path, "__type__"))


def decode_tree(node: object, path: Path = ROOT) -> object:
    """Decode every tag in an already parsed JSON tree (new containers; the input is unchanged).

    Values that are not dicts or lists (including already decoded objects) pass through.
    """
    kind = type(node)
    if kind is dict:
        assert isinstance(node, dict)
        if "__type__" in node:
            return _decode_tag(node, path)
        return {
            key: decode_tree(value, (path, key))
            if type(value) is dict or type(value) is list
            else value
            for key, value in node.items()
        }
    if kind is list:
        assert isinstance(node, list)
        return [
            decode_tree(value, (path, i)) if type(value) is dict or type(value) is list else value
            for i, value in enumerate(node)
        ]
    return node


def _parse(text: str | bytes) -> object:
    try:
        return json.loads(text)
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CodecError(f"invalid JSON ({exc})") from exc
    except RecursionError as exc:
        raise CodecError("document nested too deeply") from exc


def loads(text: str | bytes) -> object:
    """Parse Runtime JSON text into Python objects (circuits, arrays, Qiskit result classes...).

    Large array payloads are decoded ahead of the rest, on several cores (``_parallel``).

    Raises:
        CodecError: the text is not JSON, or a tag is unknown or malformed; ``.path`` says where.
    """
    try:
        with split_payloads(text, _parse) as tree:
            return decode_tree(tree)
    except RecursionError as exc:
        raise CodecError("document nested too deeply") from exc
