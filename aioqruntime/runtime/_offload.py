"""CPU work off the event loop: encoding (QPY, numpy, JSON) and result decoding.

One capacity limiter per open service bounds the worker threads all of it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

__all__ = ["Offload"]


class Offload:
    """Runs CPU-heavy functions in worker threads, at most ``threads`` at a time."""

    def __init__(self, threads: int) -> None:
        self.limiter = anyio.CapacityLimiter(threads)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker thread (encoders, ``Target`` building, serialization)."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)

    async def decode_result(self, text: str, decoder: Callable[[str], Any] | None) -> Any:
        """Decode a results document (``codec.loads`` unless ``decoder``) in a worker thread."""
        if decoder is None:
            from aioqruntime.codec import loads  # the codec (qiskit) loads on first use

            decoder = loads
        return await anyio.to_thread.run_sync(decoder, text, limiter=self.limiter)
