"""What every command that talks to a runtime service shares: the server options, opening the
service, running the command in its own event loop, and turning its errors into exit statuses.

Which server: ``--url``/``--token``/``--instance`` when given; the service resolves the rest as
every ``AsyncRuntimeService`` does (``QISKIT_IBM_*``, then a saved account). With a token and no
URL, IBM Quantum. With nothing configured anywhere the command stops with an explanation: the
embedded server the service would fall back to is empty (no jobs, no sessions), so instead run
``aioqruntime serve`` and pass the URL and API key it prints. A URL without a path (as ``serve``
prints it) means its ``/api/v1``.

Exit statuses: 0 success; 1 the service refused or could not be reached (or the job is unknown);
2 bad usage or configuration; 3 the job ended in ERROR or CANCELLED (``job``); 130 interrupted.
Errors go to stderr as one line, without a traceback. Tokens are never printed or logged.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TextIO

from aioqruntime.cli._output import echo
from aioqruntime.cli._status import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_STATUS_HELP,
    EXIT_USAGE,
    CliError,
    describe_error,
    single_leaf,
)

if TYPE_CHECKING:
    from aioqruntime.runtime import AsyncRuntimeService

__all__ = ["Command", "ServiceCommands", "positive_int", "run_service_command"]

logger = logging.getLogger("aioqruntime.cli")

#: The CLI is interactive: give up on an unreachable server after ~1.5 s, not the SDK's ~15 s.
_CLI_RETRY_ATTEMPTS: Final = 3

_SERVER_HELP: Final = (
    "server: --url/--token/--instance, or QISKIT_IBM_URL/QISKIT_IBM_TOKEN/QISKIT_IBM_INSTANCE; "
    "a token without URL means IBM Quantum. For a local server, run 'aioqruntime serve' and pass "
    "the url and api_key it prints."
)

#: A service command: ``await command(service, args, stdout)`` -> the exit status.
Command = Callable[["AsyncRuntimeService", argparse.Namespace, TextIO], Awaitable[int]]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _connection_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("server")
    group.add_argument(
        "--url",
        default=None,
        help="runtime URL, e.g. http://127.0.0.1:8765 as printed by 'aioqruntime serve' "
        "(default: $QISKIT_IBM_URL, else IBM Quantum when a token is given)",
    )
    group.add_argument(
        "--token",
        default=None,
        help="API key (default: $QISKIT_IBM_TOKEN); for a local server, the api_key it printed",
    )
    group.add_argument(
        "--instance", default=None, help="instance CRN (default: $QISKIT_IBM_INSTANCE)"
    )
    parent.add_argument(
        "--json", action="store_true", help="print machine-readable JSON instead of text"
    )
    parent.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log to stderr (-v: INFO, -vv: DEBUG)",
    )
    return parent


class ServiceCommands:
    """Adds service commands, with the server options and help, to an ``add_subparsers()``."""

    def __init__(self, sub: Any) -> None:
        self._sub = sub
        self._parent = _connection_parent()

    def add(self, name: str, help_text: str, command: Command) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self._sub.add_parser(
            name,
            help=help_text,
            description=f"{help_text[0].upper()}{help_text[1:]}.",
            parents=[self._parent],
            epilog=f"{_SERVER_HELP}\n{EXIT_STATUS_HELP}",
        )
        parser.set_defaults(service_command=command)
        return parser


def run_service_command(args: argparse.Namespace) -> int:
    """Run the command of ``args`` in its own event loop; the exit status."""
    import anyio

    _configure_logging(args.verbose)
    outcomes = logging.getLogger("aioqruntime.runtime")
    quiet = _JobOutcomeFilter()
    if args.verbose <= 0:
        outcomes.addFilter(quiet)
    try:
        journal = getattr(args, "resume", None)
        # The journal is opened (and would be created) by the service: refuse a mistyped path.
        if journal is not None and not os.path.isfile(journal):
            raise CliError(f"no journal file at {journal!r}", EXIT_USAGE)
        result: int = anyio.run(_run, args)
    except KeyboardInterrupt:
        echo("\ninterrupted", sys.stderr)
        return EXIT_INTERRUPTED
    except CliError as exc:
        echo(f"aioqruntime {args.command}: {exc.message}", sys.stderr)
        return exc.exit_code
    except Exception as exc:
        if isinstance(single_leaf(exc), BrokenPipeError):
            return _stdout_reader_gone()
        message, code = describe_error(exc, args=args)
        echo(f"aioqruntime {args.command}: {message}", sys.stderr)
        logger.debug("%s failed", args.command, exc_info=True)
        return code
    finally:
        outcomes.removeFilter(quiet)
    return result


class _JobOutcomeFilter(logging.Filter):
    """Drops the library's warning that a job ended badly: a command reports every outcome
    itself (``job``'s error line and exit status 3, ``jobs``' status column), so without ``-v``
    it would be said twice."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        return not (isinstance(message, str) and message.startswith(_OUTCOME_MESSAGE))


#: How the runtime words a job's end (aioqruntime/runtime/_job.py, ``settle``).
_OUTCOME_MESSAGE = "job %s (session %s, backend %s) ended"


def _stdout_reader_gone() -> int:
    # `aioqruntime jobs | head`: the reader has what it wanted. No message; stdout is pointed at
    # devnull so that the interpreter's final flush does not fail again (Python's advice).
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_ERROR


def _configure_logging(verbosity: int) -> None:
    if verbosity <= 0:
        return
    level = logging.DEBUG if verbosity > 1 else logging.INFO
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


async def _run(args: argparse.Namespace) -> int:
    command: Command = args.service_command
    async with open_service(args) as service:
        return await command(service, args, sys.stdout)


def open_service(args: argparse.Namespace) -> AsyncRuntimeService:
    """The service of the account the options (or the service's own resolution) name."""
    from aioqruntime import AsyncRuntimeService
    from aioqruntime.protocol import RetryPolicy

    with _without_local_fallback_warning():
        service = AsyncRuntimeService(
            # Only what was given here: the service reads QISKIT_IBM_* and saved accounts.
            token=args.token or None,
            url=args.url or None,
            instance=args.instance or None,
            journal=getattr(args, "resume", None),
            retry=RetryPolicy(max_attempts=_CLI_RETRY_ATTEMPTS, max_delay=1.0),
            # Nothing is submitted from here: no client-side pacing.
            submissions_per_minute=None,
        )
    if service.is_local:  # nothing configured: not entered, so nothing was started
        raise CliError(_no_server_message(args.command), EXIT_USAGE)
    return service


@contextmanager
def _without_local_fallback_warning() -> Iterator[None]:
    # With no account the service warns that it falls back to the embedded server; the CLI
    # refuses that case instead, with its own message, so the warning would only mislead.
    runtime_logger = logging.getLogger("aioqruntime.runtime")
    drop_warnings = _BelowWarning()
    runtime_logger.addFilter(drop_warnings)
    try:
        yield
    finally:
        runtime_logger.removeFilter(drop_warnings)


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


def _no_server_message(command: str) -> str:
    return (
        "no server given. Start a local one in another terminal with\n"
        "    aioqruntime serve\n"
        "which prints a line like\n"
        "    aioqruntime local server: url=http://127.0.0.1:8765 api_key=KEY instance=crn:...\n"
        f"then run: aioqruntime {command} --url http://127.0.0.1:8765 --token KEY\n"
        "(or set QISKIT_IBM_URL and QISKIT_IBM_TOKEN; for IBM Quantum, QISKIT_IBM_TOKEN and "
        "QISKIT_IBM_INSTANCE are enough)"
    )
