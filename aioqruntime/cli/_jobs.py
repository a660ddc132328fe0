"""``aioqruntime jobs``: recent jobs, filtered; ``--resume JOURNAL`` re-attaches to a journal's
unfinished jobs and reports each outcome."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TextIO

from aioqruntime.cli._output import dump_json, echo, job_header, status_text, table, user_tags, when
from aioqruntime.cli._service import positive_int
from aioqruntime.cli._status import EXIT_JOB_FAILED, EXIT_OK

if TYPE_CHECKING:
    from aioqruntime.cli._service import ServiceCommands
    from aioqruntime.runtime import AsyncRuntimeService

__all__ = ["add_parser", "jobs"]


def add_parser(commands: ServiceCommands) -> None:
    parser = commands.add("jobs", "list recent jobs, newest first", jobs)
    add = parser.add_argument
    add("--limit", type=positive_int, default=10, help="at most this many jobs (default 10)")
    state = parser.add_mutually_exclusive_group()
    state.add_argument(
        "--pending", action="store_true", help="only jobs not finished (queued or running)"
    )
    state.add_argument("--done", action="store_true", help="only finished jobs (any outcome)")
    add("--backend", default=None, help="only jobs on this backend")
    add("--session", default=None, help="only jobs of this session id")
    add("--tag", action="append", default=None, help="only jobs with this tag (repeatable)")
    add("--program", default=None, help="only this program: sampler or estimator")
    add(
        "--resume",
        metavar="JOURNAL",
        default=None,
        help="re-attach to every unfinished job recorded in this journal file (written by "
        "AsyncRuntimeService(journal=...)), wait for them and show their outcomes",
    )


async def jobs(service: AsyncRuntimeService, args: argparse.Namespace, out: TextIO) -> int:
    if args.resume is not None:
        return await _resume(service, args, out)
    pending = True if args.pending else (False if args.done else None)
    found = await service.jobs(
        limit=args.limit,
        backend_name=args.backend,
        pending=pending,
        program_id=args.program,
        session_id=args.session,
        job_tags=args.tag,
    )
    if args.json:
        dump_json([job_header(job) for job in found], out)
        return EXIT_OK
    if not found:
        echo("no jobs", out)
        return EXIT_OK
    rows = [
        [
            job.job_id(),
            status_text(job.status()),
            job.program_id or "-",
            job.backend_name or "-",
            job.session_id or "-",
            when(job.creation_date),
            ",".join(user_tags(job.tags)) or "-",
        ]
        for job in found
    ]
    table(rows, ["JOB ID", "STATUS", "PROGRAM", "BACKEND", "SESSION", "CREATED", "TAGS"], out)
    return EXIT_OK


async def _resume(service: AsyncRuntimeService, args: argparse.Namespace, out: TextIO) -> int:
    """Re-attach to the journal's unfinished jobs and report each outcome as it arrives."""
    from aioqruntime import as_completed

    resumed = await service.resume()
    if not resumed:
        echo("nothing to resume: every journaled job has been delivered", out)
        return EXIT_OK
    echo(f"resuming {len(resumed)} job(s)", sys.stderr)
    failed = 0
    rows: list[list[str]] = []
    records: list[dict[str, Any]] = []
    async for job in as_completed(resumed):
        error = job.exception()
        failed += error is not None
        record = {**job_header(job), "label": job.label, "error": str(error) if error else None}
        records.append(record)
        rows.append(
            [job.job_id(), status_text(job.status()), job.label or "-", record["error"] or "-"]
        )
    if args.json:
        dump_json(records, out)
    else:
        table(rows, ["JOB ID", "STATUS", "LABEL", "ERROR"], out)
    return EXIT_JOB_FAILED if failed else EXIT_OK
