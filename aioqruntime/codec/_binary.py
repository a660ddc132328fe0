"""Binary payloads: standard base64, zlib and the NPY format.

The Runtime wraps every binary payload the same way: serialize to bytes, optionally
``zlib.compress`` at the default level, then standard base64 (``+/`` with ``=`` padding).
Arrays are NPY files as ``numpy.save(..., allow_pickle=False)`` writes them.
"""

from __future__ import annotations

import base64
import binascii
import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

import numpy as np
import numpy.typing as npt

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
]


def b64_encode(data: bytes, *, compress: bool) -> str:
    """Optionally deflate (default level, as the official client) and base64-encode ``data``."""
    if compress:
        data = zlib.compress(data)
    return base64.standard_b64encode(data).decode("ascii")


def b64_decode(text: object, path: Path) -> bytes:
    """Strict standard base64 decoding; anything else is a :class:`CodecError` at ``path``."""
    if not isinstance(text, str):
        raise fail(f"expected a base64 string, got {type(text).__name__}", path)
    try:
        # validate=True refuses characters outside the alphabet instead of skipping them.
        return base64.b64decode(text, validate=True)
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
        decomp = zlib.decompressobj()
        out = decomp.decompress(data, limit + 1)
        if len(out) > limit or decomp.unconsumed_tail:
            which = "" if limit == budget.per_payload else " (for the whole document)"
            raise fail(
                f"compressed payload inflates past the limit of {limit} bytes{which}; refused",
                path,
            )
        if not decomp.eof:
            raise zlib.error("incomplete or truncated stream")
    except zlib.error as exc:
        raise fail(f"invalid zlib data ({exc})", path) from exc
    if budget.remaining is not None:
        budget.remaining -= len(out)
    return out


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
    buff = io.BytesIO(raw)
    try:
        _check_npy_size(buff, len(raw))
        # read_array (not np.load) insists on the NPY magic, so a zip (npz) or a pickle stream
        # can never be interpreted; allow_pickle=False refuses object dtypes.
        array = np.lib.format.read_array(buff, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, EOFError, SyntaxError, TypeError...
        raise fail(f"invalid NPY array ({type(exc).__name__}: {exc})", path) from exc
    if not isinstance(array, np.ndarray):  # pragma: no cover - read_array always returns arrays
        raise fail("invalid NPY array", path)
    return array


def _check_npy_size(buff: io.BytesIO, total: int) -> None:
    """Refuse a header whose shape needs more data than the payload holds, before numpy allocates
    an array that size (a 100-byte payload may claim a terabyte). Rewinds ``buff``."""
    fmt = np.lib.format
    version = fmt.read_magic(buff)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(buff)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(buff)
    else:
        # Version 3 (utf-8 header) or unknown: numpy's own reader checks it; shape unknown here.
        buff.seek(0)
        return
    count = 1
    for dim in shape:
        count *= int(dim)
    needed = count * dtype.itemsize
    available = total - buff.tell()
    if needed > available:
        raise ValueError(
            f"the NPY header declares shape {tuple(shape)} ({needed} bytes) but only "
            f"{available} bytes of data follow"
        )
    buff.seek(0)
