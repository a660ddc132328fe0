"""The Runtime's JSON wire format: circuits, arrays, pubs and results.

Sans-I/O and CPU-bound (qiskit, numpy): callers on an event loop run these functions in a worker
thread. ``import aioqruntime`` does not import this package.

* :func:`dumps` / :func:`loads`: Runtime JSON with ``{"__type__", "__value__"}`` tags, read and
  written as the official ``RuntimeEncoder``/``RuntimeDecoder`` do (binary payloads deflated at a
  faster level: the bytes inside are identical).
* :func:`encode_sampler_pubs` / :func:`encode_estimator_pubs`: ``params["pubs"]`` for a job.
* :func:`decode_sampler_params` / :func:`decode_estimator_params`: a job's params back into
  Qiskit pubs, validated (for the local server).

Every decoding failure is a :class:`aioqruntime.CodecError` whose ``path`` names the place.
"""

from __future__ import annotations

from aioqruntime.codec._decoder import decode_tree, loads
from aioqruntime.codec._encoder import WireEncoder, dumps
from aioqruntime.codec._pubs import (
    decode_estimator_params,
    decode_sampler_params,
    encode_estimator_pubs,
    encode_sampler_pubs,
)
from aioqruntime.codec._qpy import QPY_ENCODE_VERSION, QPY_LOCK, clear_qpy_cache, qpy_cache_info
from aioqruntime.codec._results import EstimatorPubResult
from aioqruntime.codec._spans import (
    DoubleSliceSpan,
    ExecutionSpan,
    ExecutionSpans,
    SliceSpan,
    TwirledSliceSpan,
    TwirledSliceSpanV2,
)

__all__ = [
    "QPY_ENCODE_VERSION",
    "QPY_LOCK",
    "DoubleSliceSpan",
    "EstimatorPubResult",
    "ExecutionSpan",
    "ExecutionSpans",
    "SliceSpan",
    "TwirledSliceSpan",
    "TwirledSliceSpanV2",
    "WireEncoder",
    "clear_qpy_cache",
    "decode_estimator_params",
    "decode_sampler_params",
    "decode_tree",
    "dumps",
    "encode_estimator_pubs",
    "encode_sampler_pubs",
    "loads",
    "qpy_cache_info",
]
