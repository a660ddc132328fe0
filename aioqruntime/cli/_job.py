"""``aioqruntime job ID``: one job's status and a summary of its result; ``--wait`` for the end."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from aioqruntime.cli._output import dump_json, echo, job_header, status_text, user_tags, when
from aioqruntime.cli._service import positive_int
from aioqruntime.cli._status import EXIT_JOB_FAILED, EXIT_OK

if TYPE_CHECKING:
    from aioqruntime.cli._service import ServiceCommands
    from aioqruntime.runtime import AsyncRuntimeJob, AsyncRuntimeService

__all__ = ["add_parser", "job"]

logger = logging.getLogger("aioqruntime.cli")


def add_parser(commands: ServiceCommands) -> None:
    parser = commands.add("job", "show one job: status and result summary", job)
    parser.add_argument("job_id", metavar="ID", help="the job id")
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until the job is finished (a progress line on a terminal)",
    )
    parser.add_argument(
        "--top",
        type=positive_int,
        default=8,
        help="outcomes shown per classical register (default 8)",
    )


async def job(service: AsyncRuntimeService, args: argparse.Namespace, out: TextIO) -> int:
    handle = await service.job(args.job_id)
    if args.wait and not handle.done():
        logger.info("waiting for job %s (%s)", handle.job_id(), status_text(handle.status()))
        await _wait_with_progress(handle, sys.stderr)
    header = job_header(handle)
    if not handle.done():
        if args.json:
            dump_json(header, out)
        else:
            _print_fields(header, out)
            echo("(not finished: add --wait to wait for it)", out)
        return EXIT_OK
    error = handle.exception()
    summary = None if error is not None else await _summarize(handle, args.top)
    if args.json:
        document = {**header, "error": None if error is None else str(error)}
        dump_json({**document, **(summary or {"pubs": None})}, out)
    else:
        _print_fields(header, out)
        if error is not None:
            echo(f"error       {error}", out)
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
        "created": when(datetime.fromisoformat(created)) if created else "-",
        "tags": ", ".join(user_tags(header["tags"])) or "-",
    }
    for name, value in fields.items():
        echo(f"{name:<11} {value}", out)


async def _wait_with_progress(handle: AsyncRuntimeJob, stream: TextIO) -> None:
    """``await handle``, with a spinner line on ``stream`` only when it is a terminal."""
    import anyio

    from aioqruntime import JobError

    async def spin() -> None:
        started = anyio.current_time()
        frames = "|/-\\"
        tick = 0
        while True:  # redraws a local line; the job itself is refreshed by the service's watcher
            elapsed = anyio.current_time() - started
            status = status_text(handle.status())
            stream.write(f"\r{frames[tick % 4]} job {handle.job_id()} {status} {elapsed:5.1f}s ")
            stream.flush()
            tick += 1
            await anyio.sleep(0.1)

    async with anyio.create_task_group() as tg:
        if stream.isatty():
            tg.start_soon(spin)
        try:
            await handle
        except JobError:
            pass  # reported from handle.exception() by the caller
        finally:
            tg.cancel_scope.cancel()
    if stream.isatty():
        stream.write("\r\033[K")
        stream.flush()


async def _summarize(handle: AsyncRuntimeJob, top: int) -> dict[str, Any]:
    import anyio

    result = handle.result_nowait()
    # Counting shots of a large result is CPU work: off the event loop. (An executor job found
    # by id arrives decoded by its program's registered decoder: runtime/_decoders.py.)
    summary: dict[str, Any] = await anyio.to_thread.run_sync(summarize_result, result, top)
    return summary


def summarize_result(result: Any, top: int) -> dict[str, Any]:
    """``{"pubs": [...]}`` of a ``PrimitiveResult`` (per PUB: expectation values and standard
    deviations, or each register's top counts); ``{"items": [...]}`` of an executor's
    ``QuantumProgramResult`` (per item: each array's shape and dtype); else ``{"result": type}``
    (a custom decoder's result, say: nothing to summarise, nothing to crash on)."""
    from qiskit.primitives import PrimitiveResult

    from aioqruntime.primitives._executor import QuantumProgramResult

    if isinstance(result, QuantumProgramResult):
        return {"items": [_item_arrays(item) for item in result]}
    if not isinstance(result, PrimitiveResult):
        return {"result": type(result).__name__}
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
    return {"pubs": pubs}


def _item_arrays(item: Mapping[str, Any]) -> dict[str, Any]:
    arrays = {
        name: {
            "shape": list(getattr(value, "shape", ())),
            "dtype": str(getattr(value, "dtype", "")),
        }
        for name, value in item.items()
    }
    return {"arrays": arrays}


def _tolist(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def _print_summary(summary: dict[str, Any], out: TextIO) -> None:
    for index, item in enumerate(summary.get("items", [])):
        for name, array in item["arrays"].items():
            shape = "(" + ", ".join(str(size) for size in array["shape"]) + ")"
            echo(f"{'item ' + str(index):<11} {name}: {array['dtype']} array {shape}", out)
    if "result" in summary:
        echo(f"{'result':<11} a {summary['result']} (not summarised)", out)
    for index, pub in enumerate(summary.get("pubs", [])):
        label = f"pub {index}"
        if "evs" in pub:
            echo(f"{label:<11} evs  {_short(pub['evs'])}", out)
            echo(f"{'':<11} stds {_short(pub['stds'])}", out)
            continue
        for name, register in pub["counts"].items():
            shown = register["top"]
            more = register["outcomes"] - len(shown)
            extra = f" (+{more} more outcomes)" if more > 0 else ""
            echo(f"{label:<11} {name}: {shown}{extra}, {register['shots']} shots", out)


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
