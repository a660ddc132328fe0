"""``dumps``: Python objects to the Runtime's ``{"__type__", "__value__"}`` JSON.

:class:`WireEncoder` is a :class:`json.JSONEncoder` whose ``default`` tries the same types in the
same order as the official client's encoder (protocol.md §6.1-6.2), with the standard library's
default separators, so the text is what the official client writes except inside deflated
payloads: those are deflated at a faster level and inflate to byte-identical QPY/NPY.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
from qiskit.circuit import Instruction, Parameter, QuantumCircuit
from qiskit.circuit.parametertable import ParameterView
from qiskit.primitives.containers import (
    BitArray,
    DataBin,
    PrimitiveResult,
    PubResult,
    SamplerPubResult,
)
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import PauliLindbladMap
from qiskit.result import Result
from qiskit.transpiler import CouplingMap

from aioqruntime._exceptions import CodecError
from aioqruntime.codec._binary import encode_ndarray
from aioqruntime.codec._qpy import (
    encode_circuit,
    encode_instruction,
    encode_parameter,
    use_metadata_serializer,
)
from aioqruntime.codec._results import EstimatorPubResult
from aioqruntime.codec._spans import (
    DoubleSliceSpan,
    ExecutionSpans,
    SliceSpan,
    TwirledSliceSpan,
    TwirledSliceSpanV2,
)

__all__ = ["WireEncoder", "dumps", "tag"]


def tag(name: str, value: object) -> dict[str, object]:
    """A ``{"__type__": name, "__value__": value}`` node."""
    return {"__type__": name, "__value__": value}


def _flag_int_keys(obj: object) -> object:
    # Dicts with int keys get "__int_keys__": true so the decoder can restore the int keys.
    if isinstance(obj, dict):
        for key, value in list(obj.items()):
            if isinstance(key, int):
                obj["__int_keys__"] = True
            _flag_int_keys(value)
    return obj


def _spans_value(span: Any, rows: dict[int, tuple[Any, ...]]) -> dict[str, object]:
    return {"start": span.start, "stop": span.stop, "data_slices": rows}


def _ndarray(o: np.ndarray[Any, Any]) -> object:
    if o.dtype == object:
        return tag("ndarray", o.tolist())
    return tag("ndarray", encode_ndarray(o))


def _bindings_array(o: BindingsArray) -> object:
    data = {json.dumps(key, cls=WireEncoder): val for key, val in o.data.items()}
    return tag("BindingsArray", {"shape": o.shape, "data": data})


def _data_bin(o: DataBin) -> object:
    return tag("DataBin", {"field_names": list(o), "shape": o.shape, "fields": dict(o.items())})


def _estimator_pub(o: EstimatorPub) -> object:
    return (
        o.circuit,
        o.observables.tolist(),
        o.parameter_values.as_array(o.circuit.parameters),
        o.precision,
    )


def _sampler_pub(o: SamplerPub) -> object:
    return (o.circuit, o.parameter_values.as_array(o.circuit.parameters), o.shots)


def _pub_result(name: str) -> Callable[[Any], object]:
    return lambda o: tag(name, {"data": o.data, "metadata": o.metadata})


def _double_slice_span(o: DoubleSliceSpan) -> object:
    rows = {
        idx: (shape, args.start, args.stop, shots.start, shots.stop)
        for idx, (shape, args, shots) in o.data_slices.items()
    }
    return tag("DoubleSliceSpan", _spans_value(o, rows))


def _twirled_slice_span_v2(o: TwirledSliceSpanV2) -> object:
    rows = {
        idx: (s[0], s[1], s[2].start, s[2].stop, s[3].start, s[3].stop, s[4])
        for idx, s in o.data_slices.items()
    }
    return tag("TwirledSliceSpanV2", _spans_value(o, rows))


def _twirled_slice_span(o: TwirledSliceSpan) -> object:
    rows = {
        idx: (s[0], s[1], s[2].start, s[2].stop, s[3].start, s[3].stop)
        for idx, s in o.data_slices.items()
    }
    return tag("TwirledSliceSpan", _spans_value(o, rows))


def _slice_span(o: SliceSpan) -> object:
    rows = {idx: (shape, flat.start, flat.stop) for idx, (shape, flat) in o.data_slices.items()}
    return tag("ExecutionSpan", _spans_value(o, rows))


def _pauli_lindblad_map(o: PauliLindbladMap) -> object:
    return tag("PauliLindbladMap", {"paulis": o.to_sparse_list(), "num_qubits": o.num_qubits})


def _class_tagged(name: str, value: Callable[[Any], object]) -> Callable[[Any], object]:
    # "settings" / "_json" nodes name the class so the decoder can rebuild it.
    def encode(o: Any) -> object:
        return {
            "__type__": name,
            "__module__": type(o).__module__,
            "__class__": type(o).__name__,
            "__value__": _flag_int_keys(copy.deepcopy(value(o))),
        }

    return encode


#: What an object matches (a type: ``isinstance``; a string: ``hasattr``) and how it is written.
#: Tried in order, the official encoder's order (subclasses before their bases, e.g. the spans).
_ENCODERS: tuple[tuple[type | str, Callable[[Any], object]], ...] = (
    (CouplingMap, list),
    (date, lambda o: tag("datetime", o.isoformat())),
    (complex, lambda o: tag("complex", [o.real, o.imag])),
    (np.ndarray, _ndarray),
    # The official encoder handles only np.int64 (np.float64 is already a float); other numpy
    # scalars are a superset we also accept, as their Python value.
    (np.generic, lambda o: o.item()),
    (set, lambda o: tag("set", list(o))),
    (Result, lambda o: tag("Result", o.to_dict())),
    ("to_json", lambda o: tag("to_json", o.to_json())),
    (QuantumCircuit, lambda o: tag("QuantumCircuit", encode_circuit(o))),
    (Parameter, lambda o: tag("Parameter", encode_parameter(o))),
    (ParameterView, lambda o: o.data),
    (Instruction, lambda o: tag("Instruction", encode_instruction(o))),
    (ObservablesArray, lambda o: tag("ObservablesArray", o.tolist())),
    (BindingsArray, _bindings_array),
    (BitArray, lambda o: tag("BitArray", {"array": o.array, "num_bits": o.num_bits})),
    (DataBin, _data_bin),
    (EstimatorPub, _estimator_pub),
    (SamplerPub, _sampler_pub),
    (EstimatorPubResult, _pub_result("EstimatorPubResult")),
    (SamplerPubResult, _pub_result("SamplerPubResult")),
    (PubResult, _pub_result("PubResult")),
    (
        PrimitiveResult,
        lambda o: tag("PrimitiveResult", {"pub_results": list(o), "metadata": o.metadata}),
    ),
    (DoubleSliceSpan, _double_slice_span),
    (TwirledSliceSpanV2, _twirled_slice_span_v2),
    (TwirledSliceSpan, _twirled_slice_span),
    (SliceSpan, _slice_span),
    (ExecutionSpans, lambda o: tag("ExecutionSpans", {"spans": list(o)})),
    (PauliLindbladMap, _pauli_lindblad_map),
    ("settings", _class_tagged("settings", lambda o: o.settings)),
    ("_json", _class_tagged("_json", lambda o: o._json())),
)


_Encode = Callable[[Any], object]
#: Per class: the attribute entries tried before its first matching type entry, then that entry's
#: encoder (``None``: no type entry matches). Type checks depend on the class only, so they run
#: once per class; the attribute checks still run on every object, in the registry's order.
_PLANS: dict[type, tuple[tuple[tuple[str, _Encode], ...], _Encode | None]] = {}
_MAX_PLANS = 1024  # classes made on the fly must not grow it without bound


def _plan(cls: type) -> tuple[tuple[tuple[str, _Encode], ...], _Encode | None]:
    attributes: list[tuple[str, _Encode]] = []
    for kind, encode in _ENCODERS:
        if isinstance(kind, str):
            attributes.append((kind, encode))
        elif issubclass(cls, kind):
            return tuple(attributes), encode
    return tuple(attributes), None


class WireEncoder(json.JSONEncoder):
    """JSON encoder for the Runtime wire format; also used as QPY's metadata serializer."""

    def default(self, o: Any) -> Any:
        cls = type(o)
        plan = _PLANS.get(cls)
        if plan is None:
            if len(_PLANS) >= _MAX_PLANS:
                _PLANS.clear()
            plan = _PLANS[cls] = _plan(cls)
        attributes, by_type = plan
        for name, encode in attributes:
            if hasattr(o, name):
                return encode(o)
        if by_type is not None:
            return by_type(o)
        if callable(o):
            # Same as the official client: callables become null, with a warning.
            warnings.warn(f"{o!r} is not JSON serializable; it is sent as null", stacklevel=2)
            return None
        return super().default(o)


# QPY writes circuit metadata with this encoder (set here: the QPY module must not import us).
use_metadata_serializer(WireEncoder)

_ENCODER = WireEncoder()


def dumps(obj: object) -> str:
    """Serialize ``obj`` to Runtime JSON text, content-identical to the official ``RuntimeEncoder``.

    Raises:
        CodecError: ``obj`` holds something the wire format cannot carry.
    """
    try:
        return _ENCODER.encode(obj)
    except CodecError:
        raise
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise CodecError(f"cannot encode: {exc}") from exc
