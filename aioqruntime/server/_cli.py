"""``aioqruntime serve``: the local runtime server as a standalone process.

Prints exactly one line when ready (then flushes), e.g.::

    aioqruntime local server: url=http://127.0.0.1:8765 api_key=... instance=crn:v1:...

and runs until Ctrl-C or SIGTERM, then shuts down cleanly (exit status 0).
"""

from __future__ import annotations

import argparse
import re
import signal
import sys

import anyio

from aioqruntime.server._config import DEFAULT_MAX_BODY_BYTES, ServerConfig
from aioqruntime.server._faults import parse_fault_spec
from aioqruntime.server._server import DEFAULT_INSTANCE, LocalRuntimeServer

__all__ = ["add_serve_arguments", "serve"]


def _rate(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*(?:/\s*min(?:ute)?)?\s*", text)
    if match is None or int(match.group(1)) < 1:
        raise argparse.ArgumentTypeError(f"expected N or N/min with N >= 1, got {text!r}")
    return int(match.group(1))


def _size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)[bB]?\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a size like 50MB, got {text!r}")
    factor = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3}[match.group(2).lower()]
    size = int(match.group(1)) * factor
    if size < 1:
        raise argparse.ArgumentTypeError(f"a size must be at least 1 byte, got {text!r}")
    return size


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535 (0 picks a free one), got {port}")
    return port


def _faults(text: str) -> object:
    try:
        return parse_fault_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` options to ``parser``."""
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    add("--port", type=_port, default=8765, help="port to bind; 0 picks a free one (default 8765)")
    add("--token", default=None, help="API key clients exchange for tokens (default: random)")
    add("--instance", default=DEFAULT_INSTANCE, help="the server's own instance CRN")
    add("--db", default=None, help="SQLite file that keeps jobs and sessions across restarts")
    add("--devices", default=None, help="comma-separated device names to serve (default: all)")
    add(
        "--faults",
        type=_faults,
        default=(),
        help=(
            "fault rules '[METHOD ]PATH_GLOB:ACTION=VALUE,...' separated by ';'. Actions: "
            "latency=S (seconds before answering; the body is read first), "
            "<4xx|5xx>=P (answer that status with probability P), "
            "drop=P (close the connection, the handler does not run), "
            "drop_after=P (run the handler, e.g. create the job, then close the connection "
            "without answering: a lost answer), "
            "retry_after=S (Retry-After of injected 429/503, sent rounded up to whole seconds, "
            "at least 1). E.g. 'POST /jobs:500=0.1,drop_after=0.05;GET /jobs/*:latency=0.02'"
        ),
    )
    add("--fault-seed", type=int, default=0, help="seed of the fault injection RNG")
    add("--execution-delay", type=float, default=0.0, help="extra seconds each job runs")
    add("--lanes", type=int, default=1, help="jobs running at once per backend (default 1)")
    add("--workers", type=int, default=1, help="simulation worker processes (default 1)")
    add("--noise", action="store_true", help="simulate with each device's noise model")
    add(
        "--rate-limit",
        type=_rate,
        default=None,
        help="job submissions per minute per instance, e.g. 5/min",
    )
    add(
        "--max-body",
        type=_size,
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest request body (default 50MB)",
    )
    add("--max-execution-time", type=float, default=None, help="server cap on job seconds")
    add("--max-executions", type=int, default=None, help="shots x circuits per job, e.g. 5000000")
    add("--interactive-ttl", type=float, default=60.0, help="session interactive TTL seconds")
    add("--max-ttl", type=int, default=28800, help="default session max TTL seconds")
    add("--token-ttl", type=int, default=3600, help="IAM token lifetime seconds")
    add(
        "--session-idle-timeout",
        type=float,
        default=1800.0,
        help="seconds without a submitted job before a session closes (default 1800)",
    )


def _config(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        interactive_ttl=args.interactive_ttl,
        default_max_ttl=args.max_ttl,
        execution_delay=args.execution_delay,
        lanes=args.lanes,
        workers=args.workers,
        noise=args.noise,
        token_ttl=args.token_ttl,
        session_idle_timeout=args.session_idle_timeout if args.session_idle_timeout > 0 else None,
        rate_limit_per_minute=args.rate_limit,
        max_body_bytes=args.max_body,
        max_execution_time=args.max_execution_time,
        max_executions=args.max_executions,
        faults=tuple(args.faults),
        fault_seed=args.fault_seed,
        device_names=(
            tuple(n.strip() for n in args.devices.split(",") if n.strip()) if args.devices else None
        ),
    )


async def _serve(args: argparse.Namespace) -> None:
    server = LocalRuntimeServer(
        host=args.host,
        port=args.port,
        token=args.token,
        db_path=args.db,
        config=_config(args),
        instance=args.instance,
    )
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with server:
            # The API key is printed on purpose: it is the local server's own, for its user.
            print(
                f"aioqruntime local server: url={server.url} api_key={server.token} "
                f"instance={server.instance}",
                flush=True,
            )
            async for _ in signals:
                break


def serve(args: argparse.Namespace) -> int:
    """Run the server until Ctrl-C/SIGTERM; the exit status."""
    try:
        anyio.run(_serve, args)
    except KeyboardInterrupt:
        return 0
    except (OSError, ValueError) as exc:
        print(f"aioqruntime serve: {exc}", file=sys.stderr)
        return 1
    return 0
