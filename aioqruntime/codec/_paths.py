"""Cheap document paths for error messages.

A path is built as a linked chain of ``(parent, key)`` tuples while walking a document, and only
rendered to a JSON-pointer-like string when an error is raised. Building a tuple per level costs
far less than formatting a string for every node of a large result.
"""

from __future__ import annotations

from typing import TypeAlias

from aioqruntime._exceptions import CodecError

# ``None`` is the document root; otherwise (parent, key).
Path: TypeAlias = "tuple[Path, str | int] | None"

ROOT: Path = None


def child(parent: Path, key: str | int) -> Path:
    """The path of ``key`` under ``parent``."""
    return (parent, key)


def render(path: Path) -> str:
    """Render ``path`` as ``/a/0/b`` (JSON pointer escaping of ``~`` and ``/``)."""
    parts: list[str] = []
    while path is not None:
        path, key = path
        parts.append(str(key).replace("~", "~0").replace("/", "~1"))
    return "/" + "/".join(reversed(parts)) if parts else ""


def fail(message: str, path: Path) -> CodecError:
    """A :class:`CodecError` for ``path`` (returned, so callers write ``raise fail(...)``)."""
    return CodecError(message, path=render(path))
