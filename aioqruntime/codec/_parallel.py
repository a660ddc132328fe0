"""Large array payloads of one document: cut out before parsing, decoded on several cores.

A big sampler result is mostly ``ndarray`` payloads (base64 of deflated NPY). Parsing those
strings as JSON costs about half as much as inflating them, and inflating them one after the
other leaves the other cores idle. So before :func:`json.loads`, :func:`split_payloads` finds
each ``"__type__": "ndarray", "__value__": "<payload>"`` whose payload is long, puts a short
unique placeholder in its place, and decodes the payloads in a thread pool while the much
shorter rest of the text is parsed. Inflating (``zlib-ng``) and copying into the arrays run
without the GIL, slicing and base64 with it: on 2 cores the pool decodes about 1.4 times as
fast as one thread, and the cut alone saves most of the JSON parse.

Safety of the cut: a base64 payload holds neither ``"`` nor ``\\``, so it ends at the next
quote; one holding a backslash (an escaped ``\\/``, say) is left in place. After parsing, every
placeholder must sit exactly where it was put, as the value of an ``ndarray`` tag; otherwise
(a key that merely looks like a tag, say) the whole text is parsed again the ordinary way.
A payload that fails to decode in a worker is decoded again in place by the caller, which
raises the error with its path in the document. Each call waits for all of its work, so no
thread outlives it; the pool is module-level and idle between calls.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

import numpy.typing as npt

from aioqruntime._exceptions import CodecError
from aioqruntime.codec._binary import (
    decode_ndarray,
    inflate_limit,
    max_inflated_bytes,
    whole_document_limit_set,
)
from aioqruntime.codec._paths import ROOT, Path

__all__ = ["MIN_PAYLOAD_CHARS", "MIN_TOTAL_CHARS", "split_payloads", "take_payload"]

#: Payloads shorter than this stay in the text (a few kB parse and inflate in microseconds).
MIN_PAYLOAD_CHARS: Final = 16 * 1024
#: Documents with fewer characters of such payloads than this are parsed as they are.
MIN_TOTAL_CHARS: Final = 512 * 1024
#: Threads at most: the codec's callers already run in worker threads of their own.
MAX_WORKERS: Final = 4

# The tag as json.dumps writes it (any whitespace); the payload starts after the last quote.
_TAG = re.compile(r'"__type__"\s*:\s*"ndarray"\s*,\s*"__value__"\s*:\s*"')

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _forget_pool_after_fork() -> None:
    # A forked child has none of the parent's threads: a pool inherited from the parent would
    # queue work that nothing runs. The child makes its own on first use.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)


class _Cut:
    """One payload cut out of the text: where it was and, once decoded, its array."""

    __slots__ = ("array", "end", "source", "start")

    def __init__(self, source: str, start: int, end: int) -> None:
        self.source, self.start, self.end = source, start, end
        self.array: npt.NDArray[Any] | None = None

    @property
    def text(self) -> str:
        # Sliced where it is decoded: in a worker, the copy overlaps other workers' inflating.
        return self.source[self.start : self.end]

    def take(self, path: Path) -> npt.NDArray[Any]:
        if self.array is None:  # failed in the worker: decode here, raising with the path
            return decode_ndarray(self.text, path)
        array, self.array = self.array, None
        return array


# Placeholders of the document being decoded in this context -> their payloads.
_cuts: ContextVar[dict[str, _Cut] | None] = ContextVar("aioqruntime_codec_cuts", default=None)


def _executor() -> ThreadPoolExecutor | None:
    global _pool
    workers = min(MAX_WORKERS, os.cpu_count() or 1)
    if workers < 2:
        return None
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="aioqruntime-codec")
        return _pool


def _find_payloads(text: str) -> list[tuple[int, int]]:
    """(start, end) of each long, backslash-free ``ndarray`` payload in ``text``."""
    spans: list[tuple[int, int]] = []
    position = 0
    while (match := _TAG.search(text, position)) is not None:
        start = match.end()
        end = text.find('"', start)
        if end < 0:
            break  # unterminated: the parser will say so
        if end - start >= MIN_PAYLOAD_CHARS and text.find("\\", start, end) < 0:
            spans.append((start, end))
        position = end + 1
    return spans


def _decode(cut: _Cut, max_bytes: int) -> None:
    try:
        with inflate_limit(max_bytes):  # the caller's per-payload limit, in this worker
            cut.array = decode_ndarray(cut.text, ROOT)
    except CodecError:
        pass  # _Cut.take decodes it again and raises with the payload's path


def _placeholders_in_place(tree: object, cuts: dict[str, _Cut]) -> bool:
    """Whether every placeholder is the value of an ``ndarray`` tag (and nothing else is)."""
    seen = 0
    stack = [tree]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            if node.get("__type__") == "ndarray" and node.get("__value__") in cuts:
                seen += 1
            stack.extend(v for v in node.values() if type(v) is dict or type(v) is list)
        elif type(node) is list:
            stack.extend(v for v in node if type(v) is dict or type(v) is list)
    return seen == len(cuts)


def _cut(text: str, spans: list[tuple[int, int]]) -> tuple[str, dict[str, _Cut]]:
    # "\u0000" cannot stand unescaped in a JSON string, so no payload text is mistaken for a
    # placeholder; the random part keeps a document that spells one out from matching.
    tag = "\\u0000aioqruntime:" + secrets.token_hex(8) + ":"
    pieces: list[str] = []
    cuts: dict[str, _Cut] = {}
    previous = 0
    for index, (start, end) in enumerate(spans):
        placeholder = f"{tag}{index}"
        pieces += (text[previous:start], placeholder)
        cuts[placeholder.replace("\\u0000", "\0")] = _Cut(text, start, end)
        previous = end
    pieces.append(text[previous:])
    return "".join(pieces), cuts


def _settle(
    work: list[_Cut], pending: list[Future[None] | None], limit: int, *, decode_the_rest: bool
) -> None:
    """Every cut decoded (or, if not ``decode_the_rest``, given up) before this returns.

    This thread decodes too, from the end, whatever no worker has started (all of it without a
    pool): it would otherwise only wait, and a worker slow to be scheduled costs nothing then.
    """
    for cut, future in zip(reversed(work), reversed(pending), strict=True):
        if (future is None or future.cancel()) and decode_the_rest:
            _decode(cut, limit)
    for future in pending:
        if future is not None and not future.cancelled():
            future.result()  # never raises: _decode keeps its errors


@contextmanager
def split_payloads(text: str | bytes, parse: Callable[[str | bytes], object]) -> Iterator[object]:
    """``parse(text)``, with the large array payloads decoded ahead, in parallel where there
    are cores to spare; within the block, :func:`take_payload` hands them out.

    Texts with few large payloads, and any text while a whole-document inflate limit is
    counting (its running total is not shared across threads), are parsed as they are.
    """
    spans = _find_payloads(text) if isinstance(text, str) else []
    if (
        len(spans) < 2
        or sum(end - start for start, end in spans) < MIN_TOTAL_CHARS
        or whole_document_limit_set()
    ):
        yield parse(text)
        return
    assert isinstance(text, str)
    reduced, cuts = _cut(text, spans)
    limit = max_inflated_bytes()
    pool = _executor()
    work = list(cuts.values())
    pending = [None if pool is None else pool.submit(_decode, cut, limit) for cut in work]
    tree: object = None
    valid = False
    try:
        tree = parse(reduced)
        valid = _placeholders_in_place(tree, cuts)
    except CodecError:
        pass
    finally:
        _settle(work, pending, limit, decode_the_rest=valid)
    if not valid:
        yield parse(text)
        return
    token = _cuts.set(cuts)
    try:
        yield tree
    finally:
        _cuts.reset(token)


def take_payload(value: str, path: Path) -> npt.NDArray[Any] | None:
    """The array of the placeholder ``value`` (its payload decoded ahead); ``None`` if
    ``value`` is no placeholder of the document being decoded."""
    cuts = _cuts.get()
    if cuts is None:
        return None
    cut = cuts.get(value)
    return None if cut is None else cut.take(path)
