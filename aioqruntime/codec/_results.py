"""Decoders for the result tags: ``BitArray``, ``DataBin``, pub results, ``PrimitiveResult`` and
execution spans. They receive the tag's ``__value__`` with its children already decoded and build
Qiskit's own container classes (or ours, for spans), validating shapes on the way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np
from qiskit.primitives.containers import (
    BitArray,
    DataBin,
    PrimitiveResult,
    PubResult,
    SamplerPubResult,
)

from aioqruntime.codec._paths import Path, child, fail
from aioqruntime.codec._spans import (
    DoubleSliceSpan,
    ExecutionSpan,
    ExecutionSpans,
    SliceSpan,
    TwirledSliceSpan,
    TwirledSliceSpanV2,
)

__all__ = ["RESULT_DECODERS", "EstimatorPubResult"]


class EstimatorPubResult(PubResult):  # type: ignore[misc]
    """An estimator pub result as the Runtime tags it (``EstimatorPubResult``).

    A plain :class:`qiskit.primitives.containers.PubResult` otherwise; the subclass only keeps
    the tag so that re-encoding writes what was read.
    """


def _mapping(value: object, path: Path, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise fail(f"{what} must be an object, got {type(value).__name__}", path)
    return value


def _field(value: Mapping[str, Any], key: str, path: Path, what: str) -> Any:
    if key not in value:
        raise fail(f"{what} lacks {key!r}", path)
    return value[key]


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _shape(value: object, path: Path) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not all(_is_int(d) and d >= 0 for d in value):
        raise fail("shape must be a list of non-negative integers", path)
    return tuple(int(d) for d in value)


def decode_bitarray(value: object, path: Path) -> BitArray:
    obj = _mapping(value, path, "BitArray")
    array = _field(obj, "array", path, "BitArray")
    num_bits = _field(obj, "num_bits", path, "BitArray")
    apath = child(path, "array")
    if not _is_int(num_bits) or num_bits < 0:
        raise fail("num_bits must be a non-negative integer", child(path, "num_bits"))
    if not isinstance(array, np.ndarray):
        raise fail("BitArray array must be an ndarray", apath)
    if array.dtype != np.uint8:
        raise fail(f"BitArray array must be uint8, got {array.dtype}", apath)
    if array.ndim < 2:
        raise fail("BitArray array needs a shots axis and a bytes axis", apath)
    if array.shape[-1] != math.ceil(int(num_bits) / 8):
        raise fail(
            f"BitArray array has {array.shape[-1]} bytes per shot, {num_bits} bits need "
            f"{math.ceil(int(num_bits) / 8)}",
            apath,
        )
    # The packed bytes are used as they are: no per-shot work.
    return BitArray(array, int(num_bits))


def decode_databin(value: object, path: Path) -> DataBin:
    obj = _mapping(value, path, "DataBin")
    fields = _mapping(_field(obj, "fields", path, "DataBin"), child(path, "fields"), "fields")
    raw_shape = obj.get("shape")
    shape = None if raw_shape is None else _shape(raw_shape, child(path, "shape"))
    for name in fields:
        if not name.isidentifier() or name.startswith("__"):
            raise fail(f"invalid DataBin field name {name!r}", child(child(path, "fields"), name))
    try:
        return DataBin(shape=shape, **fields)
    except Exception as exc:  # DataBin raises ValueError/TypeError for bad shapes or names
        raise fail(f"invalid DataBin ({exc})", path) from exc


def _pub_result(cls: type[PubResult]) -> Callable[[object, Path], PubResult]:
    def decode(value: object, path: Path) -> PubResult:
        obj = _mapping(value, path, cls.__name__)
        data = _field(obj, "data", path, cls.__name__)
        metadata = obj.get("metadata")
        if not isinstance(data, DataBin):
            raise fail(f"{cls.__name__} data must be a DataBin", child(path, "data"))
        if metadata is not None and not isinstance(metadata, dict):
            raise fail("metadata must be an object", child(path, "metadata"))
        return cls(data, metadata)

    return decode


def decode_primitive_result(value: object, path: Path) -> PrimitiveResult[Any]:
    obj = _mapping(value, path, "PrimitiveResult")
    pub_results = _field(obj, "pub_results", path, "PrimitiveResult")
    metadata = obj.get("metadata")
    ppath = child(path, "pub_results")
    if not isinstance(pub_results, list):
        raise fail("pub_results must be a list", ppath)
    for i, item in enumerate(pub_results):
        if not isinstance(item, PubResult):
            raise fail("pub result must be a PubResult tag", child(ppath, i))
    if metadata is not None and not isinstance(metadata, dict):
        raise fail("metadata must be an object", child(path, "metadata"))
    return PrimitiveResult(pub_results, metadata)


def _opt_int(value: object, path: Path) -> int | None:
    if value is None:
        return None
    if not _is_int(value):
        raise fail("slice bound must be an integer or null", path)
    assert isinstance(value, (int, np.integer))
    return int(value)


def _slice(start: object, stop: object, path: Path) -> slice:
    return slice(_opt_int(start, path), _opt_int(stop, path))


def _bool(value: object, path: Path) -> bool:
    if not isinstance(value, bool):
        raise fail("expected a boolean", path)
    return value


def _span_row(kind: str, row: object, path: Path) -> tuple[Any, ...]:
    sizes = {"ExecutionSpan": 3, "DoubleSliceSpan": 5, "TwirledSliceSpan": 6}
    size = sizes.get(kind, 7)
    if not isinstance(row, list) or len(row) != size:
        raise fail(f"{kind} slice must be a list of {size} items", path)
    shape = _shape(row[0], child(path, 0))
    if kind == "ExecutionSpan":
        return (shape, _slice(row[1], row[2], path))
    if kind == "DoubleSliceSpan":
        if not shape:
            raise fail("DoubleSliceSpan shape needs a shots axis", child(path, 0))
        return (shape, _slice(row[1], row[2], path), _slice(row[3], row[4], path))
    if len(shape) < 2:
        raise fail(f"{kind} shape needs a twirling axis and a shots axis", child(path, 0))
    out: tuple[Any, ...] = (
        shape,
        _bool(row[1], child(path, 1)),
        _slice(row[2], row[3], path),
        _slice(row[4], row[5], path),
    )
    if kind == "TwirledSliceSpanV2":
        shots = row[6]
        if not _is_int(shots) or shots < 0:
            raise fail("pub shots must be a non-negative integer", child(path, 6))
        out += (int(shots),)
    return out


_SPAN_CLASSES: dict[str, type[ExecutionSpan]] = {
    "ExecutionSpan": SliceSpan,
    "DoubleSliceSpan": DoubleSliceSpan,
    "TwirledSliceSpan": TwirledSliceSpan,
    "TwirledSliceSpanV2": TwirledSliceSpanV2,
}


def _span(kind: str) -> Callable[[object, Path], ExecutionSpan]:
    def decode(value: object, path: Path) -> ExecutionSpan:
        obj = _mapping(value, path, kind)
        times = []
        for key in ("start", "stop"):
            moment = _field(obj, key, path, kind)
            if not isinstance(moment, datetime):
                raise fail(f"{key} must be a datetime tag", child(path, key))
            times.append(moment)
        spath = child(path, "data_slices")
        slices = _mapping(_field(obj, "data_slices", path, kind), spath, "data_slices")
        rows: dict[int, tuple[Any, ...]] = {}
        for key, row in slices.items():
            try:
                idx = int(key)
            except ValueError:
                raise fail(f"pub index {key!r} is not an integer", child(spath, key)) from None
            rows[idx] = _span_row(kind, row, child(spath, key))
        return _SPAN_CLASSES[kind](times[0], times[1], rows)

    return decode


def decode_spans(value: object, path: Path) -> ExecutionSpans:
    obj = _mapping(value, path, "ExecutionSpans")
    spans = _field(obj, "spans", path, "ExecutionSpans")
    if not isinstance(spans, list):
        raise fail("spans must be a list", child(path, "spans"))
    for i, span in enumerate(spans):
        if not isinstance(span, ExecutionSpan):
            raise fail("span must be an execution span tag", child(child(path, "spans"), i))
    return ExecutionSpans(spans)


RESULT_DECODERS: dict[str, Callable[[object, Path], object]] = {
    "BitArray": decode_bitarray,
    "DataBin": decode_databin,
    "SamplerPubResult": _pub_result(SamplerPubResult),
    "EstimatorPubResult": _pub_result(EstimatorPubResult),
    "PubResult": _pub_result(PubResult),
    "PrimitiveResult": decode_primitive_result,
    "ExecutionSpans": decode_spans,
    # The name before qiskit-ibm-runtime 0.30; same shape.
    "ExecutionSpanCollection": decode_spans,
    **{kind: _span(kind) for kind in _SPAN_CLASSES},
}
