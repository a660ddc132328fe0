"""``aioqruntime sessions``: the sessions of recent jobs (the API has no session list)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from aioqruntime.cli._output import dump_json, echo, table, when
from aioqruntime.cli._service import positive_int
from aioqruntime.cli._status import EXIT_OK

if TYPE_CHECKING:
    from aioqruntime.cli._service import ServiceCommands
    from aioqruntime.runtime import AsyncRuntimeService

__all__ = ["add_parser", "sessions"]


def add_parser(commands: ServiceCommands) -> None:
    parser = commands.add(
        "sessions", "show the sessions of recent jobs (the API has no session list)", sessions
    )
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=100,
        help="how many recent jobs to scan for session ids (default 100)",
    )


@dataclass(frozen=True)
class _Seen:
    """A session as read now: ``details()`` of the official Session, and its status text."""

    details: dict[str, Any]
    status: str | None


async def sessions(service: AsyncRuntimeService, args: argparse.Namespace, out: TextIO) -> int:
    import anyio

    recent = await service.jobs(limit=args.limit)
    counts: dict[str, int] = {}
    for job in recent:  # newest first, so the sessions are too
        if job.session_id:
            counts[job.session_id] = counts.get(job.session_id, 0) + 1
    found: dict[str, _Seen | None] = {}

    async def read(session_id: str) -> None:
        found[session_id] = await _read_session(service, session_id)

    async with anyio.create_task_group() as tg:
        for session_id in counts:
            tg.start_soon(read, session_id)
    if args.json:
        dump_json([_session_json(sid, counts[sid], found[sid]) for sid in counts], out)
        return EXIT_OK
    echo(
        f"sessions of the {len(recent)} most recent jobs (the API cannot list sessions; "
        "--limit scans more)",
        sys.stderr,
    )
    if not counts:
        echo("no sessions", out)
        return EXIT_OK
    rows = [_session_row(sid, counts[sid], found[sid]) for sid in counts]
    table(rows, ["SESSION", "MODE", "STATUS", "BACKEND", "JOBS", "STARTED", "USAGE"], out)
    return EXIT_OK


async def _read_session(service: AsyncRuntimeService, session_id: str) -> _Seen | None:
    """The session through the public API; ``None`` when the service no longer has it."""
    from aioqruntime import AsyncBatch, AsyncSession, InvalidInputError

    # from_id refuses a session of the other mode (and one the service does not know) before
    # anything else is read: try a dedicated session, then a batch.
    for kind in (AsyncSession, AsyncBatch):
        try:
            session = await kind.from_id(session_id, service)
        except InvalidInputError:
            continue
        details = await session.details()
        if details is None:
            return None
        return _Seen(details=details, status=await session.status())
    return None


def _session_json(session_id: str, seen: int, read: _Seen | None) -> dict[str, Any]:
    details = None if read is None else {**read.details, "status": read.status}
    return {"id": session_id, "jobs_seen": seen, "details": details}


def _session_row(session_id: str, seen: int, read: _Seen | None) -> list[str]:
    if read is None:
        return [session_id, "-", "(gone)", "-", str(seen), "-", "-"]
    details = read.details
    usage = details.get("usage_time")
    return [
        session_id,
        details.get("mode") or "-",
        read.status or details.get("state") or "-",
        details.get("backend_name") or "-",
        str(seen),
        when(details.get("started_at")),
        "-" if usage is None else f"{usage:.1f}s",
    ]
