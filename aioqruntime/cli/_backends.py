"""``aioqruntime backends``: the devices of the instance, as a table or JSON."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from aioqruntime.cli._output import dump_json, table
from aioqruntime.cli._status import EXIT_OK

if TYPE_CHECKING:
    from aioqruntime.cli._service import ServiceCommands
    from aioqruntime.runtime import AsyncRuntimeService

__all__ = ["add_parser", "backends"]


def add_parser(commands: ServiceCommands) -> None:
    commands.add("backends", "list the backends of the instance", backends)


async def backends(service: AsyncRuntimeService, args: argparse.Namespace, out: TextIO) -> int:
    from aioqruntime.protocol import BackendListEntry

    # Each backend keeps the list entry it was listed with: the status and queue length shown.
    found = await service.backends()
    if args.json:
        dump_json([dict(backend.list_entry) for backend in found], out)
        return EXIT_OK
    devices = [BackendListEntry.from_json(backend.list_entry) for backend in found]
    rows = [
        [
            d.name,
            str(d.qubits if d.qubits is not None else "-"),
            d.status_name + (f" ({d.status_reason})" if d.status_reason else ""),
            str(d.queue_length),
            "simulator" if d.is_simulator else (d.processor_family or "device"),
        ]
        for d in devices
    ]
    table(rows, ["NAME", "QUBITS", "STATUS", "QUEUE", "TYPE"], out)
    return EXIT_OK
