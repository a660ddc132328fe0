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
from typing import Any

import numpy as np
import numpy.typing as npt

from aioqruntime.codec._paths import Path, fail

__all__ = ["b64_decode", "b64_encode", "decode_ndarray", "encode_ndarray", "inflate"]


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


def inflate(data: bytes, path: Path) -> bytes:
    """zlib-decompress ``data``; a truncated or corrupt stream is a :class:`CodecError`."""
    try:
        decomp = zlib.decompressobj()
        out = decomp.decompress(data)
        if not decomp.eof:
            raise zlib.error("incomplete or truncated stream")
    except zlib.error as exc:
        raise fail(f"invalid zlib data ({exc})", path) from exc
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
        # read_array (not np.load) insists on the NPY magic, so a zip (npz) or a pickle stream
        # can never be interpreted; allow_pickle=False refuses object dtypes.
        array = np.lib.format.read_array(buff, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, EOFError, SyntaxError, TypeError...
        raise fail(f"invalid NPY array ({type(exc).__name__}: {exc})", path) from exc
    if not isinstance(array, np.ndarray):  # pragma: no cover - read_array always returns arrays
        raise fail("invalid NPY array", path)
    return array
