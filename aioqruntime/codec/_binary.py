"""Binary payloads: standard base64, zlib and the NPY format.

The Runtime wraps every binary payload the same way: serialize to bytes, optionally deflate as a
zlib stream, then standard base64 (``+/`` with ``=`` padding). Arrays are NPY files as
``numpy.save(..., allow_pickle=False)`` writes them.

Speed: base64 is ``pybase64`` (SIMD) and deflate/inflate is ``zlib-ng``, both byte-compatible
with the standard library. We deflate at level 1 where the official client uses zlib's default
(6): the stream is a valid zlib stream any inflater reads to the same bytes, five to ten times
cheaper to produce and about 25 % larger for QPY. NPY headers are parsed once per distinct
header (arrays of one shape and dtype repeat).
"""

from __future__ import annotations

import binascii
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pybase64
from zlib_ng import zlib_ng

from aioqruntime.codec._paths import Path, fail

__all__ = [
    "DEFAULT_MAX_INFLATED_BYTES",
    "b64_decode",
    "b64_encode",
    "decode_ndarray",
    "encode_ndarray",
    "inflate",
    "inflate_limit",
    "max_inflated_bytes",
    "whole_document_limit_set",
]


# The stub declares ``error`` as an instance; it is the module's exception class.
_ZlibError: Final[type[Exception]] = zlib_ng.error  # type: ignore[assignment]

#: Deflate level: 1 is several times faster than the default 6 on QPY and arrays, still a
#: standard zlib stream (decoded content identical; tests/codec/test_compat.py proves it).
DEFLATE_LEVEL: Final = 1


def b64_encode(data: bytes, *, compress: bool) -> str:
    """Optionally deflate (as a zlib stream) and base64-encode ``data``."""
    if compress:
        data = zlib_ng.compress(data, DEFLATE_LEVEL)
    return pybase64.b64encode_as_string(data)


def b64_decode(text: object, path: Path) -> bytes:
    """Strict standard base64 decoding; anything else is a :class:`CodecError` at ``path``."""
    if not isinstance(text, str):
        raise fail(f"expected a base64 string, got {type(text).__name__}", path)
    try:
        # validate=True refuses characters outside the alphabet instead of skipping them.
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise fail(f"invalid base64 ({exc})", path) from exc


#: Default cap on the output of one zlib payload (256 MiB): far above any real circuit or array
#: the service accepts (job inputs are at most 50 MB), far below what a "zlib bomb" expands to.
DEFAULT_MAX_INFLATED_BYTES: Final = 256 * 1024 * 1024


class _Budget:
    """The caps in force: per payload, and (optionally) for all payloads of a block together."""

    __slots__ = ("per_payload", "remaining")

    def __init__(self, per_payload: int, total: int | None) -> None:
        self.per_payload = per_payload
        self.remaining = total


_budget: ContextVar[_Budget | None] = ContextVar("aioqruntime_codec_inflate_budget", default=None)


def whole_document_limit_set() -> bool:
    """Whether an :func:`inflate_limit` with a ``total`` is counting in the current context."""
    budget = _budget.get()
    return budget is not None and budget.remaining is not None


def max_inflated_bytes() -> int:
    """The cap on one decompressed payload in the current context."""
    budget = _budget.get()
    return DEFAULT_MAX_INFLATED_BYTES if budget is None else budget.per_payload


@contextmanager
def inflate_limit(max_bytes: int, *, total: int | None = None) -> Iterator[None]:
    """Within the block (this thread/context only), refuse any payload that inflates past
    ``max_bytes``, and, with ``total``, payloads that together inflate past ``total``.

    The local server decodes every job's params inside one (so that a 50 MB body of many small
    bombs cannot add up to gigabytes either).
    """
    for name, value in (("max_bytes", max_bytes), ("total", total)):
        if value is None and name == "total":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    token = _budget.set(_Budget(max_bytes, total))
    try:
        yield
    finally:
        _budget.reset(token)


def inflate(data: bytes, path: Path) -> bytes:
    """zlib-decompress ``data``; a truncated or corrupt stream is a :class:`CodecError`.

    So is a stream that would inflate past the current limits (:func:`inflate_limit`):
    decompression stops at the cap, so a small "zlib bomb" cannot exhaust memory.
    """
    budget = _budget.get() or _Budget(DEFAULT_MAX_INFLATED_BYTES, None)
    limit = budget.per_payload
    if budget.remaining is not None:
        limit = min(limit, budget.remaining)
    try:
        out = _inflate_at_most(data, limit + 1)
    except _ZlibError as exc:
        raise fail(f"invalid zlib data ({exc})", path) from exc
    if len(out) > limit:
        which = "" if limit == budget.per_payload else " (for the whole document)"
        raise fail(
            f"compressed payload inflates past the limit of {limit} bytes{which}; refused", path
        )
    if budget.remaining is not None:
        budget.remaining -= len(out)
    return out


def _inflate_at_most(data: bytes, cap: int) -> bytes:
    """The whole stream, or its first ``cap`` bytes when it inflates to ``cap`` or more.

    Output is asked for in growing steps rather than with ``max_length=cap`` at once: a large
    ``max_length`` makes each call about twice as slow, and the cap is far above most payloads.
    """
    decomp = zlib_ng.decompressobj()
    chunks: list[bytes] = []
    total = 0
    pending = data
    step = max(64 * 1024, 4 * len(data))
    while True:
        out = decomp.decompress(pending, min(step, cap - total))
        chunks.append(out)
        total += len(out)
        pending = decomp.unconsumed_tail
        if decomp.eof or total >= cap:
            break
        if not out and not pending:
            raise _ZlibError("incomplete or truncated stream")
        step *= 2
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# NPY headers by (dtype, shape) for C-contiguous arrays: np.save formats the header in Python
# on every call, which costs more than the rest of a small parameter array's encoding.
_HEADERS: dict[tuple[np.dtype[Any], tuple[int, ...]], bytes] = {}
_MAX_HEADERS = 256


def _npy_bytes(array: npt.NDArray[Any]) -> bytes:
    if type(array) is np.ndarray and array.flags.c_contiguous and not array.dtype.hasobject:
        key = (array.dtype, array.shape)
        header = _HEADERS.get(key)
        if header is None:
            buff = io.BytesIO()
            np.save(buff, array, allow_pickle=False)
            full = buff.getvalue()
            header = full[: len(full) - array.nbytes]
            if len(_HEADERS) >= _MAX_HEADERS:
                _HEADERS.clear()
            _HEADERS[key] = header
            return full
        # What np.save writes for a C-contiguous array: the header, then the raw C-order data.
        return header + array.tobytes()
    buff = io.BytesIO()
    np.save(buff, array, allow_pickle=False)
    return buff.getvalue()


def encode_ndarray(array: npt.NDArray[Any]) -> str:
    """NPY bytes of a non-object array, deflated and base64-encoded (the ``ndarray`` tag value)."""
    return b64_encode(_npy_bytes(array), compress=True)


def decode_ndarray(text: object, path: Path) -> npt.NDArray[Any]:
    """Inverse of :func:`encode_ndarray`. Never unpickles: object arrays are refused."""
    raw = inflate(b64_decode(text, path), path)
    try:
        layout = _npy_layout(raw)
        if layout is None:
            # Version 3 (utf-8 header) or a zero-size dtype: numpy's own reader, after the magic.
            array = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
        else:
            array = _array_from(raw, layout)
    except Exception as exc:  # numpy raises ValueError, EOFError, SyntaxError, TypeError...
        raise fail(f"invalid NPY array ({type(exc).__name__}: {exc})", path) from exc
    if not isinstance(array, np.ndarray):  # pragma: no cover - both readers return arrays
        raise fail("invalid NPY array", path)
    return array


class _Layout:
    """What an NPY header says: where the data starts, its dtype, shape, order, item count."""

    __slots__ = ("count", "dtype", "fortran", "offset", "shape")

    def __init__(
        self, offset: int, dtype: np.dtype[Any], shape: tuple[int, ...], fortran: bool
    ) -> None:
        self.offset = offset
        self.dtype = dtype
        self.shape = shape
        self.fortran = fortran
        self.count = math.prod(shape)


# Parsed NPY headers by their exact bytes: numpy parses the header text with ``ast`` (tens of
# microseconds), more than the rest of decoding a small array; results repeat a few layouts.
_LAYOUTS: dict[bytes, _Layout] = {}


def _npy_layout(raw: bytes) -> _Layout | None:
    """The layout of an NPY file (``None``: leave it to numpy). Raises ``ValueError`` for a
    malformed header, an object dtype, or a shape needing more data than the payload holds
    (checked before anything is allocated: a 100-byte payload may claim a terabyte)."""
    if raw[:6] != b"\x93NUMPY" or len(raw) < 10:
        raise ValueError("not an NPY file (bad magic)")
    major = raw[6]
    if major == 1:
        end = 10 + int.from_bytes(raw[8:10], "little")
    elif major == 2 and len(raw) >= 12:
        end = 12 + int.from_bytes(raw[8:12], "little")
    else:
        return None
    header = raw[:end]
    layout = _LAYOUTS.get(header)
    if layout is None:
        layout = _parse_header(header, major)
        if layout is None:
            return None
        if len(_LAYOUTS) >= _MAX_HEADERS:
            _LAYOUTS.clear()
        _LAYOUTS[header] = layout
    needed = layout.count * layout.dtype.itemsize
    available = len(raw) - layout.offset
    if needed > available:
        raise ValueError(
            f"the NPY header declares shape {layout.shape} ({needed} bytes) but only "
            f"{available} bytes of data follow"
        )
    return layout


def _parse_header(header: bytes, major: int) -> _Layout | None:
    fmt = np.lib.format
    buff = io.BytesIO(header)
    fmt.read_magic(buff)
    read = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
    shape, fortran, dtype = read(buff)
    if buff.tell() != len(header):  # pragma: no cover - numpy reads exactly the header
        raise ValueError("inconsistent NPY header length")
    if dtype.hasobject:
        raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
    if dtype.itemsize == 0:
        return None
    return _Layout(len(header), dtype, tuple(int(d) for d in shape), bool(fortran))


def _array_from(raw: bytes, layout: _Layout) -> npt.NDArray[Any]:
    flat = np.frombuffer(raw, dtype=layout.dtype, count=layout.count, offset=layout.offset)
    if layout.fortran:
        shaped = flat.reshape(layout.shape[::-1]).transpose()
    else:
        shaped = flat.reshape(layout.shape)
    # A copy, as np.load returns: writable and not pinning the decompressed payload.
    array: npt.NDArray[Any] = shaped.copy(order="K")
    return array
