"""The CLI commands that talk to a runtime service: ``backends``, ``jobs``, ``job``, ``sessions``,
``cancel``.

Which server: ``--url``/``--token``/``--instance``, else ``QISKIT_IBM_URL``/``QISKIT_IBM_TOKEN``/
``QISKIT_IBM_INSTANCE``. With a token and no URL, IBM Quantum. With neither, the command stops
with an explanation: an embedded server would be empty (no jobs, no sessions), so instead run
``aioqruntime serve`` and pass the URL and API key it prints. A URL without a path (as ``serve``
prints it) means its ``/api/v1``.

Exit statuses: 0 success; 1 the service refused or could not be reached (or the job is unknown);
2 bad usage or configuration; 3 the job ended in ERROR or CANCELLED (``job``); 130 interrupted.
Errors go to stderr as one line, without a traceback. Tokens are never printed or logged.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TextIO
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from aioqruntime.runtime import AsyncRuntimeJob, AsyncRuntimeService

__all__ = ["EXIT_INTERRUPTED", "add_service_commands", "run_service_command"]

logger = logging.getLogger("aioqruntime.cli")

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_JOB_FAILED: Final = 3
EXIT_INTERRUPTED: Final = 130

_CLIENT_TAG_PREFIX: Final = "aioqruntime:"
#: The CLI is interactive: give up on an unreachable server after ~1.5 s, not the SDK's ~15 s.
_CLI_RETRY_ATTEMPTS: Final = 3

EXIT_STATUS_HELP: Final = (
    "exit status: 0 ok, 1 service error or unknown job, 2 bad usage or no server given, "
    "3 the job failed or was cancelled, 130 interrupted"
)

_SERVER_HELP: Final = (
    "server: --url/--token/--instance, or QISKIT_IBM_URL/QISKIT_IBM_TOKEN/QISKIT_IBM_INSTANCE; "
    "a token without URL means IBM Quantum. For a local server, run 'aioqruntime serve' and pass "
    "the url and api_key it prints."
)


class CliError(Exception):
    """A failure to report as one line on stderr, with an exit status."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


# --- arguments -----------------------------------------------------------------------------------


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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_service_commands(sub: Any) -> None:
    """Add the service commands to the ``add_subparsers()`` object ``sub``."""
    parent = _connection_parent()

    def add(name: str, help_text: str, command: _Command) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(
            name,
            help=help_text,
            description=f"{help_text[0].upper()}{help_text[1:]}.",
            parents=[parent],
            epilog=f"{_SERVER_HELP}\n{EXIT_STATUS_HELP}",
        )
        parser.set_defaults(service_command=command)
        return parser

    add("backends", "list the backends of the instance", _backends)

    jobs = add("jobs", "list recent jobs, newest first", _jobs)
    jobs.add_argument(
        "--limit", type=_positive_int, default=10, help="at most this many jobs (default 10)"
    )
    state = jobs.add_mutually_exclusive_group()
    state.add_argument(
        "--pending", action="store_true", help="only jobs not finished (queued or running)"
    )
    state.add_argument("--done", action="store_true", help="only finished jobs (any outcome)")
    jobs.add_argument("--backend", default=None, help="only jobs on this backend")
    jobs.add_argument("--session", default=None, help="only jobs of this session id")
    jobs.add_argument(
        "--tag", action="append", default=None, help="only jobs with this tag (repeatable)"
    )
    jobs.add_argument("--program", default=None, help="only this program: sampler or estimator")
    jobs.add_argument(
        "--resume",
        metavar="JOURNAL",
        default=None,
        help="re-attach to every unfinished job recorded in this journal file (written by "
        "AsyncRuntimeService(journal=...)), wait for them and show their outcomes",
    )

    job = add("job", "show one job: status and result summary", _job)
    job.add_argument("job_id", metavar="ID", help="the job id")
    job.add_argument(
        "--wait",
        action="store_true",
        help="wait until the job is finished (a progress line on a terminal)",
    )
    job.add_argument(
        "--top",
        type=_positive_int,
        default=8,
        help="outcomes shown per classical register (default 8)",
    )

    sessions = add(
        "sessions",
        "show the sessions of recent jobs (the API has no session list)",
        _sessions,
    )
    sessions.add_argument(
        "--limit",
        type=_positive_int,
        default=100,
        help="how many recent jobs to scan for session ids (default 100)",
    )

    cancel = add("cancel", "cancel a queued or running job", _cancel)
    cancel.add_argument("job_id", metavar="ID", help="the job id")


# --- the server ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    url: str | None
    token: str | None
    instance: str | None

    def describe(self) -> str:
        return self.url or "IBM Quantum"


def api_url(url: str) -> str:
    """``http://host:port`` (as ``serve`` prints it) means ``http://host:port/api/v1``."""
    parts = urlsplit(url)
    if parts.path.strip("/") or parts.hostname == "cloud.ibm.com":
        return url  # an explicit path, or the official client's alias resolved by the SDK
    return urlunsplit((parts.scheme, parts.netloc, "/api/v1", "", ""))


def resolve_connection(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> Connection:
    env = os.environ if environ is None else environ
    url = args.url or env.get("QISKIT_IBM_URL") or None
    token = args.token or env.get("QISKIT_IBM_TOKEN") or None
    instance = args.instance or env.get("QISKIT_IBM_INSTANCE") or None
    if url is None and token is None:
        raise CliError(
            "no server given. Start a local one in another terminal with\n"
            "    aioqruntime serve\n"
            "which prints a line like\n"
            "    aioqruntime local server: url=http://127.0.0.1:8765 api_key=KEY instance=crn:...\n"
            f"then run: aioqruntime {args.command} --url http://127.0.0.1:8765 --token KEY\n"
            "(or set QISKIT_IBM_URL and QISKIT_IBM_TOKEN; for IBM Quantum, QISKIT_IBM_TOKEN and "
            "QISKIT_IBM_INSTANCE are enough)",
            EXIT_USAGE,
        )
    return Connection(url=api_url(url) if url else None, token=token, instance=instance)


def _open_service(connection: Connection, journal: str | None = None) -> AsyncRuntimeService:
    from aioqruntime.protocol import RetryPolicy
    from aioqruntime.runtime import AsyncRuntimeService

    return AsyncRuntimeService(
        token=connection.token,
        instance=connection.instance,
        url=connection.url,
        journal=journal,
        retry=RetryPolicy(max_attempts=_CLI_RETRY_ATTEMPTS, max_delay=1.0),
        # Nothing is submitted from here: no client-side pacing.
        submissions_per_minute=None,
    )


# --- running a command ---------------------------------------------------------------------------

_Command = Callable[["AsyncRuntimeService", argparse.Namespace, TextIO], Awaitable[int]]


def run_service_command(args: argparse.Namespace) -> int:
    """Run the command of ``args`` in its own event loop; the exit status."""
    import anyio

    _configure_logging(args.verbose)
    try:
        connection = resolve_connection(args)
        journal = getattr(args, "resume", None)
        # The journal is opened (and would be created) by the service: refuse a mistyped path.
        if journal is not None and not os.path.isfile(journal):
            raise CliError(f"no journal file at {journal!r}", EXIT_USAGE)
        result: int = anyio.run(_run, args, connection)
    except KeyboardInterrupt:
        _echo("\ninterrupted", sys.stderr)
        return EXIT_INTERRUPTED
    except CliError as exc:
        _echo(f"aioqruntime {args.command}: {exc.message}", sys.stderr)
        return exc.exit_code
    except Exception as exc:
        message, code = describe_error(exc, args=args)
        _echo(f"aioqruntime {args.command}: {message}", sys.stderr)
        logger.debug("%s failed", args.command, exc_info=True)
        return code
    return result


def _configure_logging(verbosity: int) -> None:
    if verbosity <= 0:
        return
    level = logging.DEBUG if verbosity > 1 else logging.INFO
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


async def _run(args: argparse.Namespace, connection: Connection) -> int:
    command: _Command = args.service_command
    async with _open_service(connection, getattr(args, "resume", None)) as service:
        return await command(service, args, sys.stdout)


def describe_error(exc: BaseException, *, args: argparse.Namespace) -> tuple[str, int]:
    """One line for the user, and the exit status, for an error of a command."""
    from aioqruntime import _exceptions as errors

    exc = _single_leaf(exc)
    job_id = getattr(args, "job_id", None)
    if isinstance(exc, errors.InvalidInputError):
        return str(exc), EXIT_USAGE
    if isinstance(exc, errors.NotFoundError):
        if job_id is not None:
            return f"no job {job_id!r} on this server/instance", EXIT_ERROR
        return f"not found: {exc.server_message or exc}", EXIT_ERROR
    # IAM answers a bad API key with 400 (as IBM's does): an authentication failure too.
    refused_key = isinstance(exc, errors.APIStatusError) and exc.url.endswith("/identity/token")
    if isinstance(exc, errors.AuthenticationError) or refused_key:
        assert isinstance(exc, errors.APIStatusError)
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


def _single_leaf(exc: BaseException) -> BaseException:
    # Task groups wrap errors in (Base)ExceptionGroup (duck-typed: no backport on 3.10 needed);
    # report the first leaf rather than the group.
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and inner and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


# --- output helpers ------------------------------------------------------------------------------


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=False)]
    for row in [headers, *rows]:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        _echo(line.rstrip(), out)


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _status_text(status: object) -> str:
    value = getattr(status, "value", status)
    return str(value)


def _user_tags(tags: Sequence[str]) -> list[str]:
    return [t for t in tags if not t.startswith(_CLIENT_TAG_PREFIX)]


def _echo(text: str, stream: TextIO) -> None:
    # The CLI's only output primitive (no bare print: lint keeps stray prints out of the package).
    stream.write(f"{text}\n")


def _dump_json(data: object, out: TextIO) -> None:
    _echo(json.dumps(data, indent=2, default=str), out)


# --- commands ------------------------------------------------------------------------------------


async def _backends(service: AsyncRuntimeService, args: argparse.Namespace, out: TextIO) -> int:
    from aioqruntime.protocol import BackendList, list_backends

    # One list request: loading every backend's Target (service.backends()) is not needed here.
    response = await service.transport.send(list_backends())
    devices = [d for d in BackendList.from_json(response.json()).devices if not d.is_mock]
    if args.json:
        _dump_json([dict(d.raw) for d in devices], out)
        return EXIT_OK
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
    _table(rows, ["NAME", "QUBITS", "STATUS", "QUEUE", "TYPE"], out)
    return EXIT_OK


async def _jobs(service: AsyncRuntimeService, args: argparse.Namespace, out: TextIO) -> int:
    if args.resume is not None:
        return await _resume(service, args, out)
    pending = True if args.pending else (False if args.done else None)
    jobs = await service.jobs(
        limit=args.limit,
        backend_name=args.backend,
        pending=pending,
        program_id=args.program,
        session_id=args.session,
        job_tags=args.tag,
    )
    if args.json:
        _dump_json([_job_header(job) for job in jobs], out)
        return EXIT_OK
    if not jobs:
        _echo("no jobs", out)
        return EXIT_OK
    rows = [
        [
            job.job_id(),
            _status_text(job.status()),
            job.program_id or "-",
            job.backend_name or "-",
            job.session_id or "-",
            _when(job.creation_date),
            ",".join(_user_tags(job.tags)) or "-",
        ]
        for job in jobs
    ]
    _table(rows, ["JOB ID", "STATUS", "PROGRAM", "BACKEND", "SESSION", "CREATED", "TAGS"], out)
    return EXIT_OK


async def _resume(service: AsyncRuntimeService, args: argparse.Namespace, out: TextIO) -> int:
    """Re-attach to the journal's unfinished jobs and report each outcome as it arrives."""
    from aioqruntime.runtime import as_completed

    jobs = await service.resume()
    if not jobs:
        _echo("nothing to resume: every journaled job has been delivered", out)
        return EXIT_OK
    _echo(f"resuming {len(jobs)} job(s)", sys.stderr)
    failed = 0
    rows: list[list[str]] = []
    records: list[dict[str, Any]] = []
    async for job in as_completed(jobs):
        error = job.exception()
        failed += error is not None
        record = {**_job_header(job), "label": job.label, "error": str(error) if error else None}
        records.append(record)
        rows.append(
            [job.job_id(), _status_text(job.status()), job.label or "-", record["error"] or "-"]
        )
    if args.json:
        _dump_json(records, out)
    else:
        _table(rows, ["JOB ID", "STATUS", "LABEL", "ERROR"], out)
    return EXIT_JOB_FAILED if failed else EXIT_OK


def _job_header(job: AsyncRuntimeJob) -> dict[str, Any]:
    return {
        "job_id": job.job_id(),
        "status": _status_text(job.status()),
        "program": job.program_id,
        "backend": job.backend_name,
        "session_id": job.session_id,
        "created": _iso(job.creation_date),
        "tags": job.tags,
    }


async def _job(service: AsyncRuntimeService, args: argparse.Namespace, out: TextIO) -> int:
    job = await service.job(args.job_id)
    if args.wait and not job.done():
        logger.info("waiting for job %s (%s)", job.job_id(), _status_text(job.status()))
        await _wait_with_progress(job, sys.stderr)
    header = _job_header(job)
    if not job.done():
        if args.json:
            _dump_json(header, out)
        else:
            _print_fields(header, out)
            _echo("(not finished: add --wait to wait for it)", out)
        return EXIT_OK
    error = job.exception()
    summary = None if error is not None else await _summarize(job.result_nowait(), args.top)
    if args.json:
        _dump_json({**header, "error": None if error is None else str(error), "pubs": summary}, out)
    else:
        _print_fields(header, out)
        if error is not None:
            _echo(f"error       {error}", out)
        else:
            assert summary is not None
            _print_summary(summary, out)
    return EXIT_OK if error is None else EXIT_JOB_FAILED


def _print_fields(header: Mapping[str, Any], out: TextIO) -> None:
    created = header["created"]
    fields = {
        "job": header["job_id"],
        "status": header["status"],
        "program": header["program"] or "-",
        "backend": header["backend"] or "-",
        "session": header["session_id"] or "-",
        "created": _when(datetime.fromisoformat(created)) if created else "-",
        "tags": ", ".join(_user_tags(header["tags"])) or "-",
    }
    for name, value in fields.items():
        _echo(f"{name:<11} {value}", out)


async def _wait_with_progress(job: AsyncRuntimeJob, stream: TextIO) -> None:
    """``await job``, with a spinner line on ``stream`` only when it is a terminal."""
    import anyio

    from aioqruntime._exceptions import JobError

    async def spin() -> None:
        started = anyio.current_time()
        frames = "|/-\\"
        tick = 0
        while True:  # redraws a local line; the job itself is refreshed by the service's watcher
            elapsed = anyio.current_time() - started
            status = _status_text(job.status())
            stream.write(f"\r{frames[tick % 4]} job {job.job_id()} {status} {elapsed:5.1f}s ")
            stream.flush()
            tick += 1
            await anyio.sleep(0.1)

    async with anyio.create_task_group() as tg:
        if stream.isatty():
            tg.start_soon(spin)
        try:
            await job
        except JobError:
            pass  # reported from job.exception() by the caller
        finally:
            tg.cancel_scope.cancel()
    if stream.isatty():
        stream.write("\r\033[K")
        stream.flush()


async def _summarize(result: Any, top: int) -> list[dict[str, Any]]:
    import anyio

    # Counting shots of a large result is CPU work: off the event loop.
    summary: list[dict[str, Any]] = await anyio.to_thread.run_sync(_summarize_sync, result, top)
    return summary


def _summarize_sync(result: Any, top: int) -> list[dict[str, Any]]:
    pubs: list[dict[str, Any]] = []
    for pub in result:
        data = pub.data
        if hasattr(data, "evs"):
            pubs.append({"evs": _tolist(data.evs), "stds": _tolist(getattr(data, "stds", None))})
            continue
        registers: dict[str, Any] = {}
        for name, value in data.items():
            if not hasattr(value, "get_counts"):
                continue
            counts: dict[str, int] = value.get_counts()
            ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            registers[name] = {
                "shots": int(sum(counts.values())),
                "outcomes": len(counts),
                "top": dict(ordered[:top]),
            }
        pubs.append({"counts": registers})
    return pubs


def _tolist(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def _print_summary(pubs: list[dict[str, Any]], out: TextIO) -> None:
    for index, pub in enumerate(pubs):
        label = f"pub {index}"
        if "evs" in pub:
            _echo(f"{label:<11} evs  {_short(pub['evs'])}", out)
            _echo(f"{'':<11} stds {_short(pub['stds'])}", out)
            continue
        for name, register in pub["counts"].items():
            shown = register["top"]
            more = register["outcomes"] - len(shown)
            extra = f" (+{more} more outcomes)" if more > 0 else ""
            _echo(
                f"{label:<11} {name}: {shown}{extra}, {register['shots']} shots",
                out,
            )


def _short(values: Any, limit: int = 8) -> str:
    if isinstance(values, list) and len(values) > limit:
        return "[" + ", ".join(_number(v) for v in values[:limit]) + f", ...] ({len(values)})"
    if isinstance(values, list):
        return "[" + ", ".join(_number(v) for v in values) + "]"
    return _number(values)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return _short(value)
    return str(value)


async def _sessions(service: AsyncRuntimeService, args: argparse.Namespace, out: TextIO) -> int:
    import anyio

    from aioqruntime._exceptions import NotFoundError
    from aioqruntime.protocol import Session, get_session

    jobs = await service.jobs(limit=args.limit)
    counts: dict[str, int] = {}
    for job in jobs:  # newest first, so the sessions are too
        if job.session_id:
            counts[job.session_id] = counts.get(job.session_id, 0) + 1
    found: dict[str, Session | None] = {}

    async def read(session_id: str) -> None:
        try:
            response = await service.transport.send(get_session(session_id))
        except NotFoundError:
            found[session_id] = None
            return
        found[session_id] = Session.from_json(response.json(), session_id=session_id)

    async with anyio.create_task_group() as tg:
        for session_id in counts:
            tg.start_soon(read, session_id)
    if args.json:
        _dump_json(
            [
                {
                    "id": session_id,
                    "jobs_seen": counts[session_id],
                    "details": None
                    if found[session_id] is None
                    else _session_json(found[session_id]),
                }
                for session_id in counts
            ],
            out,
        )
        return EXIT_OK
    _echo(
        f"sessions of the {len(jobs)} most recent jobs (the API cannot list sessions; "
        "--limit scans more)",
        sys.stderr,
    )
    if not counts:
        _echo("no sessions", out)
        return EXIT_OK
    rows = []
    for session_id, seen in counts.items():
        details = found[session_id]
        if details is None:
            rows.append([session_id, "-", "(gone)", "-", str(seen), "-", "-"])
            continue
        rows.append(
            [
                session_id,
                details.mode or "-",
                details.status_text or details.state or "-",
                details.backend_name or "-",
                str(seen),
                _when(details.started_at),
                "-" if details.elapsed_time is None else f"{details.elapsed_time:.1f}s",
            ]
        )
    _table(rows, ["SESSION", "MODE", "STATUS", "BACKEND", "JOBS", "STARTED", "USAGE"], out)
    return EXIT_OK


def _session_json(details: Any) -> dict[str, Any]:
    data: dict[str, Any] = details.to_json()
    data["status"] = details.status_text
    return data


async def _cancel(service: AsyncRuntimeService, args: argparse.Namespace, out: TextIO) -> int:
    from aioqruntime._exceptions import ConflictError
    from aioqruntime.protocol import is_final

    job = await service.job(args.job_id)
    before = _status_text(job.status())
    if is_final(job.status()):
        raise CliError(f"job {args.job_id} is already {before}: nothing to cancel")
    try:
        await job.cancel()
    except ConflictError as exc:  # it finished between our read and the cancel
        raise CliError(f"job {args.job_id} finished before it could be cancelled") from exc
    if args.json:
        _dump_json({"job_id": args.job_id, "cancel_requested": True, "status_before": before}, out)
    else:
        _echo(f"cancel requested for job {args.job_id} (was {before})", out)
    return EXIT_OK
