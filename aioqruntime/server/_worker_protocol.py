"""The framing between a simulation pool and its workers (:mod:`._worker_main`).

A message is two length-prefixed blobs: a small JSON header and a raw UTF-8 body (the params or
result text, sent as is rather than escaped inside JSON). Kept apart from the worker's entry
point, which must not be imported before ``python -m`` runs it.
"""

from __future__ import annotations

import json
import struct
from typing import IO, Any

__all__ = ["encode_header", "read_message", "write_message"]

_LENGTH = struct.Struct(">Q")


def encode_header(header: dict[str, Any]) -> bytes:
    return json.dumps(header, separators=(",", ":")).encode()


def write_message(stream: IO[bytes], header: dict[str, Any] | bytes, body: bytes = b"") -> None:
    """Write one message (the header as JSON, or already encoded; then the body) and flush."""
    encoded = header if isinstance(header, bytes) else encode_header(header)
    stream.write(_LENGTH.pack(len(encoded)) + encoded + _LENGTH.pack(len(body)))
    stream.write(body)
    stream.flush()


def read_message(stream: IO[bytes]) -> tuple[dict[str, Any], bytes] | None:
    """The next message, or ``None`` at a clean end of file (``EOFError`` if cut short)."""
    header = _read_blob(stream, allow_eof=True)
    if header is None:
        return None
    body = _read_blob(stream, allow_eof=False)
    assert body is not None
    decoded = json.loads(header)
    if not isinstance(decoded, dict):
        raise ValueError("a message header must be a JSON object")
    return decoded, body


def _read_blob(stream: IO[bytes], *, allow_eof: bool) -> bytes | None:
    prefix = _read_exactly(stream, _LENGTH.size)
    if not prefix and allow_eof:
        return None
    if len(prefix) < _LENGTH.size:
        raise EOFError("the stream ended inside a message")
    (length,) = _LENGTH.unpack(prefix)
    data = _read_exactly(stream, length)
    if len(data) < length:
        raise EOFError("the stream ended inside a message")
    return data


def _read_exactly(stream: IO[bytes], count: int) -> bytes:
    chunks: list[bytes] = []
    remaining = count
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
