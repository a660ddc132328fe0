"""Exit statuses, and the one-line message and status of a command's error."""

from __future__ import annotations

import argparse
from typing import Final

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_JOB_FAILED",
    "EXIT_OK",
    "EXIT_STATUS_HELP",
    "EXIT_USAGE",
    "CliError",
    "describe_error",
    "single_leaf",
]

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_JOB_FAILED: Final = 3
EXIT_INTERRUPTED: Final = 130

EXIT_STATUS_HELP: Final = (
    "exit status: 0 ok, 1 service error or unknown job, 2 bad usage or no server given, "
    "3 the job failed or was cancelled, 130 interrupted"
)


class CliError(Exception):
    """A failure to report as one line on stderr, with an exit status."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def describe_error(exc: BaseException, *, args: argparse.Namespace) -> tuple[str, int]:
    """One line for the user, and the exit status, for an error of a command."""
    import aioqruntime as errors

    exc = single_leaf(exc)
    job_id = getattr(args, "job_id", None)
    if isinstance(exc, errors.InvalidInputError):
        return str(exc), EXIT_USAGE
    if isinstance(exc, errors.NotFoundError):
        if job_id is not None:
            return f"no job {job_id!r} on this server/instance", EXIT_ERROR
        return f"not found: {exc.server_message or exc}", EXIT_ERROR
    if isinstance(exc, errors.AuthenticationError):
        return (
            "authentication failed: check --token / QISKIT_IBM_TOKEN (for a local server, the "
            f"api_key 'aioqruntime serve' printed) [{exc.server_message or exc.status}]",
            EXIT_ERROR,
        )
    if isinstance(exc, errors.PermissionDeniedError):
        return f"permission denied: {exc.server_message or exc}", EXIT_ERROR
    if isinstance(exc, errors.APIConnectionError):
        return (
            f"cannot reach the server ({exc}); is it running? ('aioqruntime serve' starts a "
            "local one)",
            EXIT_ERROR,
        )
    if isinstance(exc, errors.APIStatusError):
        return f"the server answered {exc.status}: {exc.server_message or exc}", EXIT_ERROR
    if isinstance(exc, errors.QRuntimeError):
        return str(exc), EXIT_ERROR
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc}", EXIT_ERROR
    raise exc  # a bug: let the traceback show


def single_leaf(exc: BaseException) -> BaseException:
    # Task groups wrap errors in (Base)ExceptionGroup (duck-typed: no backport on 3.10 needed);
    # report the first leaf rather than the group.
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and inner and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc
