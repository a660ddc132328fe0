"""The ``aioqruntime`` command line: a thin shell over the package.

``demo`` and ``serve`` run the embedded local server; ``backends``, ``jobs``, ``job``, ``sessions``
and ``cancel`` talk to a server given by ``--url``/``--token``/``--instance`` or the
``QISKIT_IBM_*`` variables (see :mod:`aioqruntime._cli_commands`). Subcommands import what they
need lazily so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _build_parser() -> argparse.ArgumentParser:
    from aioqruntime._cli_commands import EXIT_STATUS_HELP, add_service_commands

    parser = argparse.ArgumentParser(
        prog="aioqruntime",
        description="asyncio client for IBM Qiskit Runtime, with a local runtime server.",
        epilog="Run 'aioqruntime COMMAND --help' for a command's options. " + EXIT_STATUS_HELP,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the demo against the embedded local server")
    demo.set_defaults(handler=_run_demo)

    serve = sub.add_parser("serve", help="run the local runtime server")
    from aioqruntime.server._cli import add_serve_arguments

    add_serve_arguments(serve)
    serve.set_defaults(handler=_run_serve)

    add_service_commands(sub)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from aioqruntime._demo import main as demo_main

    return demo_main()


def _run_serve(args: argparse.Namespace) -> int:
    from aioqruntime.server._cli import serve

    return serve(args)


def _run_service_command(args: argparse.Namespace) -> int:
    from aioqruntime._cli_commands import run_service_command

    return run_service_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "service_command", None) is not None:
        return _run_service_command(args)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    result: int = handler(args)
    return result
