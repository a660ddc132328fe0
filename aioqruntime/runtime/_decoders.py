"""Result decoders by program id, for jobs whose submitter is not known here.

A job submitted through a primitive carries that primitive's decoder. A job found again by id
(``service.job``, ``service.jobs``, ``resume()``) carries none, so its results document is decoded
by the decoder registered for its program (the official client also picks the decoder by program
id). The primitives register theirs when imported: the runtime cannot import them (layers point
one way); :mod:`aioqruntime` imports them with the runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["register_result_decoder", "result_decoder_for"]

_BY_PROGRAM: dict[str, Callable[[str], Any]] = {}


def register_result_decoder(program_id: str, decoder: Callable[[str], Any]) -> None:
    """Decode results of ``program_id`` jobs found by id with ``decoder(text)`` (worker thread)."""
    _BY_PROGRAM[program_id] = decoder


def result_decoder_for(program_id: str | None) -> Callable[[str], Any] | None:
    """The decoder registered for ``program_id`` (``None``: the runtime's own decoder)."""
    return _BY_PROGRAM.get(program_id) if program_id is not None else None
