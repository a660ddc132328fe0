"""``aioqruntime cancel ID``: cancel a queued or running job."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from aioqruntime.cli._output import dump_json, echo, status_text
from aioqruntime.cli._status import EXIT_OK, CliError

if TYPE_CHECKING:
    from aioqruntime.cli._service import ServiceCommands
    from aioqruntime.runtime import AsyncRuntimeService

__all__ = ["add_parser", "cancel"]


def add_parser(commands: ServiceCommands) -> None:
    parser = commands.add("cancel", "cancel a queued or running job", cancel)
    parser.add_argument("job_id", metavar="ID", help="the job id")


async def cancel(service: AsyncRuntimeService, args: argparse.Namespace, out: TextIO) -> int:
    from aioqruntime import ConflictError
    from aioqruntime.protocol import is_final

    job = await service.job(args.job_id)
    before = status_text(job.status())
    if is_final(job.status()):
        raise CliError(f"job {args.job_id} is already {before}: nothing to cancel")
    try:
        await job.cancel()
    except ConflictError as exc:  # it finished between our read and the cancel
        raise CliError(f"job {args.job_id} finished before it could be cancelled") from exc
    if args.json:
        dump_json({"job_id": args.job_id, "cancel_requested": True, "status_before": before}, out)
    else:
        echo(f"cancel requested for job {args.job_id} (was {before})", out)
    return EXIT_OK
