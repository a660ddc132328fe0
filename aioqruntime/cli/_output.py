"""Text and JSON output: the CLI's only way to write (no bare print in the package)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TextIO

if TYPE_CHECKING:
    from aioqruntime.runtime import AsyncRuntimeJob

__all__ = [
    "dump_json",
    "echo",
    "iso",
    "job_header",
    "status_text",
    "table",
    "user_tags",
    "when",
]

#: The tag every submission of this SDK carries; not the user's, so not shown.
_CLIENT_TAG_PREFIX: Final = "aioqruntime:"


def echo(text: str, stream: TextIO) -> None:
    stream.write(f"{text}\n")


def dump_json(data: object, out: TextIO) -> None:
    echo(json.dumps(data, indent=2, default=_json_default), out)


def _json_default(value: object) -> str:
    # Datetimes (of session details) as ISO 8601, which JSON readers parse; anything else as text.
    return value.isoformat() if isinstance(value, datetime) else str(value)


def table(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=False)]
    for row in [headers, *rows]:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        echo(line.rstrip(), out)


def when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def status_text(status: object) -> str:
    value = getattr(status, "value", status)
    return str(value)


def user_tags(tags: Sequence[str]) -> list[str]:
    return [t for t in tags if not t.startswith(_CLIENT_TAG_PREFIX)]


def job_header(job: AsyncRuntimeJob) -> dict[str, Any]:
    """The fields of a job that ``jobs`` and ``job`` show (and put in ``--json``)."""
    return {
        "job_id": job.job_id(),
        "status": status_text(job.status()),
        "program": job.program_id,
        "backend": job.backend_name,
        "session_id": job.session_id,
        "created": iso(job.creation_date),
        "tags": job.tags,
    }
