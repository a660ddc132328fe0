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
from aioqruntime.codec._qpy import encode_circuit, encode_instruction, encode_parameter
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


class WireEncoder(json.JSONEncoder):
    """JSON encoder for the Runtime wire format; also used as QPY's metadata serializer."""

    def default(self, o: Any) -> Any:
        rows: dict[int, tuple[Any, ...]]
        if isinstance(o, CouplingMap):
            return list(o)
        if isinstance(o, date):
            return tag("datetime", o.isoformat())
        if isinstance(o, complex):
            return tag("complex", [o.real, o.imag])
        if isinstance(o, np.ndarray):
            if o.dtype == object:
                return tag("ndarray", o.tolist())
            return tag("ndarray", encode_ndarray(o))
        if isinstance(o, np.generic):
            # The official encoder handles only np.int64 (np.float64 is already a float);
            # other numpy scalars are a superset we also accept, as their Python value.
            return o.item()
        if isinstance(o, set):
            return tag("set", list(o))
        if isinstance(o, Result):
            return tag("Result", o.to_dict())
        if hasattr(o, "to_json"):
            return tag("to_json", o.to_json())
        if isinstance(o, QuantumCircuit):
            return tag("QuantumCircuit", encode_circuit(o))
        if isinstance(o, Parameter):
            return tag("Parameter", encode_parameter(o))
        if isinstance(o, ParameterView):
            return o.data
        if isinstance(o, Instruction):
            return tag("Instruction", encode_instruction(o))
        if isinstance(o, ObservablesArray):
            return tag("ObservablesArray", o.tolist())
        if isinstance(o, BindingsArray):
            data = {json.dumps(key, cls=WireEncoder): val for key, val in o.data.items()}
            return tag("BindingsArray", {"shape": o.shape, "data": data})
        if isinstance(o, BitArray):
            return tag("BitArray", {"array": o.array, "num_bits": o.num_bits})
        if isinstance(o, DataBin):
            return tag(
                "DataBin", {"field_names": list(o), "shape": o.shape, "fields": dict(o.items())}
            )
        if isinstance(o, EstimatorPub):
            return (
                o.circuit,
                o.observables.tolist(),
                o.parameter_values.as_array(o.circuit.parameters),
                o.precision,
            )
        if isinstance(o, SamplerPub):
            return (o.circuit, o.parameter_values.as_array(o.circuit.parameters), o.shots)
        if isinstance(o, EstimatorPubResult):
            return tag("EstimatorPubResult", {"data": o.data, "metadata": o.metadata})
        if isinstance(o, SamplerPubResult):
            return tag("SamplerPubResult", {"data": o.data, "metadata": o.metadata})
        if isinstance(o, PubResult):
            return tag("PubResult", {"data": o.data, "metadata": o.metadata})
        if isinstance(o, PrimitiveResult):
            return tag("PrimitiveResult", {"pub_results": list(o), "metadata": o.metadata})
        if isinstance(o, DoubleSliceSpan):
            rows = {
                idx: (shape, args.start, args.stop, shots.start, shots.stop)
                for idx, (shape, args, shots) in o.data_slices.items()
            }
            return tag("DoubleSliceSpan", _spans_value(o, rows))
        if isinstance(o, TwirledSliceSpanV2):
            rows = {
                idx: (s[0], s[1], s[2].start, s[2].stop, s[3].start, s[3].stop, s[4])
                for idx, s in o.data_slices.items()
            }
            return tag("TwirledSliceSpanV2", _spans_value(o, rows))
        if isinstance(o, TwirledSliceSpan):
            rows = {
                idx: (s[0], s[1], s[2].start, s[2].stop, s[3].start, s[3].stop)
                for idx, s in o.data_slices.items()
            }
            return tag("TwirledSliceSpan", _spans_value(o, rows))
        if isinstance(o, SliceSpan):
            rows = {
                idx: (shape, flat.start, flat.stop) for idx, (shape, flat) in o.data_slices.items()
            }
            return tag("ExecutionSpan", _spans_value(o, rows))
        if isinstance(o, ExecutionSpans):
            return tag("ExecutionSpans", {"spans": list(o)})
        if isinstance(o, PauliLindbladMap):
            return tag(
                "PauliLindbladMap", {"paulis": o.to_sparse_list(), "num_qubits": o.num_qubits}
            )
        if hasattr(o, "settings"):
            return {
                "__type__": "settings",
                "__module__": type(o).__module__,
                "__class__": type(o).__name__,
                "__value__": _flag_int_keys(copy.deepcopy(o.settings)),
            }
        if hasattr(o, "_json"):
            return {
                "__type__": "_json",
                "__module__": type(o).__module__,
                "__class__": type(o).__name__,
                "__value__": _flag_int_keys(copy.deepcopy(o._json())),
            }
        if callable(o):
            # Same as the official client: callables become null, with a warning.
            warnings.warn(f"{o!r} is not JSON serializable; it is sent as null", stacklevel=2)
            return None
        return super().default(o)


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
