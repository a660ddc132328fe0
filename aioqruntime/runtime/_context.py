"""The execution mode in effect for the current task: the ``async with`` session or batch.

The official ``SamplerV2(mode=None)`` inside ``with Session(...)`` runs in that session. Our
``AsyncSession``/``AsyncBatch`` set this context variable while their block runs, and the
primitives read it when they are built without a mode. A context variable (not a global) because
concurrent tasks may each be inside a different session.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["current_mode", "mode_scope"]

_CURRENT_MODE: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "aioqruntime_current_mode", default=None
)


def current_mode() -> Any:
    """The session or batch whose ``async with`` block the current task is in, else ``None``."""
    return _CURRENT_MODE.get()


@contextmanager
def mode_scope(mode: Any) -> Iterator[None]:
    """Make ``mode`` the current mode for the duration of the ``with`` block."""
    token = _CURRENT_MODE.set(mode)
    try:
        yield
    finally:
        _CURRENT_MODE.reset(token)
