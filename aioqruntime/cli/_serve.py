"""``aioqruntime serve``: the local runtime server as a process (options and the run live with
the server, in :mod:`aioqruntime.server._cli`)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    from aioqruntime.server._cli import add_serve_arguments

    parser: argparse.ArgumentParser = sub.add_parser("serve", help="run the local runtime server")
    add_serve_arguments(parser)
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from aioqruntime.server._cli import serve

    return serve(args)
