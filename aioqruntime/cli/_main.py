"""The parser of every command, and the dispatch to the command's module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from aioqruntime.cli import _backends, _cancel, _demo, _job, _jobs, _serve, _sessions
from aioqruntime.cli._service import ServiceCommands, run_service_command
from aioqruntime.cli._status import EXIT_STATUS_HELP, EXIT_USAGE

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aioqruntime",
        description="asyncio client for IBM Qiskit Runtime, with a local runtime server.",
        epilog="Run 'aioqruntime COMMAND --help' for a command's options. " + EXIT_STATUS_HELP,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _demo.add_parser(sub)
    _serve.add_parser(sub)
    commands = ServiceCommands(sub)
    for module in (_backends, _jobs, _job, _sessions, _cancel):
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command of ``argv`` (default ``sys.argv[1:]``); the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "service_command", None) is not None:
        return run_service_command(args)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    result: int = handler(args)
    return result
