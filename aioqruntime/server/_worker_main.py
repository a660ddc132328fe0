"""The simulation worker process: ``python -m aioqruntime.server._worker_main``.

:class:`~aioqruntime.server._executor.SimulationPool` starts this module as a plain subprocess
(never a ``multiprocessing`` child), so the user's ``__main__`` is never imported here, whatever it
is (a script without a main guard, ``python -c``, stdin, a notebook kernel, pytest), and no
resource tracker process is involved.

The protocol is the worker's stdin and stdout, one message after another
(:mod:`~aioqruntime.server._worker_protocol`). The worker imports qiskit and
Aer first and announces itself with a ``ready`` message; then for each request
``{"call": "run_job", "program_id": ..., "noise_device": ..., "dry_run": ...}`` + params text
it answers ``{"ok": bool, "stats": {...}}`` + the result (or traceback) text, in order.

A worker exits as soon as its stdin reaches end of file: that happens when the pool closes it, and
when the parent process is gone for any reason (even SIGKILL: the kernel closes the pipe), so a
worker never outlives its server, even in the middle of a simulation.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import traceback
from typing import IO, Any

from aioqruntime.server._worker_protocol import read_message, write_message

__all__ = ["main"]


def _private_pipes() -> tuple[IO[bytes], IO[bytes]]:
    """The protocol's streams; fd 0 becomes /dev/null and fd 1 stderr.

    Whatever prints in the worker (qiskit warnings, a stray ``print``) must not corrupt the
    protocol on stdout, and nothing may read the requests from under us.
    """
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return requests, replies


def _read_requests(requests: IO[bytes], inbox: queue.Queue[tuple[dict[str, Any], bytes]]) -> None:
    """Queue every request; end the process at end of file (the parent closed us, or is gone)."""
    try:
        while (message := read_message(requests)) is not None:
            inbox.put(message)
    except (EOFError, OSError):
        pass  # cut off mid-message or a broken pipe: the parent is gone, as at end of file
    except BaseException:  # a malformed message: our own bug, worth a traceback
        traceback.print_exc()
    # os._exit and not sys.exit: a simulation may be running in the main thread, and nobody is
    # left to want its result.
    os._exit(0)


def _ready_message() -> dict[str, Any]:
    from aioqruntime.server import _worker

    try:
        return {"ready": True, "qiskit_version": _worker.warm_up()}
    except Exception:
        return {"ready": False, "error": traceback.format_exc()}


def _serve(inbox: queue.Queue[tuple[dict[str, Any], bytes]], replies: IO[bytes]) -> None:
    from aioqruntime.server import _worker

    while True:
        header, body = inbox.get()
        if header.get("call") != "run_job":
            write_message(replies, {"ok": False, "stats": {}}, b"unknown call")
            continue
        noise = header.get("noise_device")
        ok, text, stats = _worker.run_job(
            str(header["program_id"]),
            body.decode(),
            noise_device=(noise[0], noise[1]) if noise is not None else None,
            dry_run=bool(header.get("dry_run", False)),
        )
        write_message(replies, {"ok": ok, "stats": stats}, text.encode())


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group: the parent decides what stops, and
    # this worker follows by end of file, without a KeyboardInterrupt traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests, replies = _private_pipes()
    inbox: queue.Queue[tuple[dict[str, Any], bytes]] = queue.Queue()
    threading.Thread(
        target=_read_requests, args=(requests, inbox), name="requests", daemon=True
    ).start()
    try:
        write_message(replies, _ready_message())
        _serve(inbox, replies)
    except (BrokenPipeError, ValueError, OSError):
        sys.exit(0)  # the parent stopped listening


if __name__ == "__main__":
    main()
