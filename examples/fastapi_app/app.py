"""A FastAPI backend that runs circuits through one ``AsyncRuntimeService`` owned by the lifespan.

    python -m examples.fastapi_app.app --port 8000       # from the repository root
    curl -s localhost:8000/jobs -H 'content-type: application/json' -d '{"example": "bell"}'
    curl -s localhost:8000/jobs/<job_id>                 # status (and counts once done)
    curl -s localhost:8000/jobs/<job_id>/result          # counts, or 409 while not finished
    curl -sN localhost:8000/events                       # server-sent events, one per finished job

The service is opened when the app starts and closed when it stops (FastAPI's ``lifespan``); routes
receive it through a dependency (``ServiceDep``). Jobs run in job mode on one backend
(``ibm_local5`` of the embedded local server by default). Nothing polls per job: each job's
done-callback hands it to one hub task, which summarizes the result off the event loop and fans it
out to every open event stream. The aiohttp twin of this app is ``examples/web_backend``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import socket
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
import uvicorn
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, model_validator

from aioqruntime import (
    APIConnectionError,
    APIError,
    AsyncRuntimeJob,
    AsyncRuntimeService,
    AsyncSampler,
    InvalidInputError,
    NotFoundError,
)
from aioqruntime.protocol import JOB_FINAL_STATUSES, JobStatus
from aioqruntime.runtime import ServiceBackend  # at run time: FastAPI reads the annotations

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

logger = logging.getLogger("aioqruntime.examples.fastapi")

DEFAULT_BACKEND = "ibm_local5"
#: Events a subscriber may lag behind before it is dropped (its stream ends; it may reconnect).
SUBSCRIBER_BUFFER = 10_000
#: Seconds between SSE comment lines on an idle stream: proxies keep it open, dead peers show up.
KEEPALIVE_SECONDS = 15.0


# --- requests and circuits -----------------------------------------------------------------------


class JobIn(BaseModel):
    """``POST /jobs``: exactly one of ``qasm`` (OpenQASM 3) or ``example``."""

    model_config = {"extra": "forbid"}

    qasm: str | None = Field(default=None, min_length=1)
    example: Literal["bell", "ghz"] | None = None
    shots: int = Field(default=1024, ge=1, le=100_000)

    @model_validator(mode="after")
    def _one_source(self) -> JobIn:
        if (self.qasm is None) == (self.example is None):
            raise ValueError('give exactly one of "qasm" (OpenQASM 3 text) or "example"')
        return self


def build_isa_circuit(job: JobIn, backend: ServiceBackend) -> QuantumCircuit:
    """The circuit of ``job``, transpiled for ``backend`` (CPU work: run it in a worker thread).

    Raises ValueError for text that does not parse or a circuit that does not fit the backend.
    """
    from qiskit import QuantumCircuit, qasm3
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit.utils import optionals

    if job.qasm is not None:
        try:
            if optionals.HAS_QASM3_IMPORT:
                circuit = qasm3.loads(job.qasm)
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # qiskit labels its own importer experimental
                    circuit = qasm3.loads_experimental(job.qasm)
        except Exception as exc:  # the importers raise many types (parse, semantic, index...)
            raise ValueError(f"invalid OpenQASM 3: {exc}") from exc
        if circuit.num_clbits == 0:
            raise ValueError("the circuit measures nothing: nothing to sample")
    else:
        width = 2 if job.example == "bell" else 3
        circuit = QuantumCircuit(width)
        circuit.h(0)
        for qubit in range(1, width):
            circuit.cx(qubit - 1, qubit)
        circuit.measure_all()
    try:
        # A fresh pass manager per call: passes keep per-run state, one shared by threads races.
        pass_manager = generate_preset_pass_manager(backend=backend, optimization_level=1)
        isa: QuantumCircuit = pass_manager.run(circuit)
    except Exception as exc:  # TranspilerError and friends: the circuit does not fit
        raise ValueError(f"cannot run on {backend.name}: {exc}") from exc
    return isa


def summarize(job: AsyncRuntimeJob) -> dict[str, Any]:
    """A finished job as JSON: its status, and the counts per register or the error.

    CPU work for large results (counting shots): run it in a worker thread.
    """
    summary: dict[str, Any] = {"job_id": job.job_id(), "status": _text(job.status())}
    error = job.exception()
    if error is not None:
        summary["error"] = str(error)
        return summary
    data = job.result_nowait()[0].data
    summary["counts"] = {
        name: value.get_counts() for name, value in data.items() if hasattr(value, "get_counts")
    }
    return summary


def _text(status: JobStatus | str) -> str:
    return status.value if isinstance(status, JobStatus) else str(status)


# --- the hub: finished jobs and their subscribers ------------------------------------------------


class CompletionHub:
    """Jobs submitted here, their summaries, and the open event streams.

    Done-callbacks run in the service's watcher task, which must never block or fail, so they only
    put the job on an unbounded memory stream; :meth:`run` (a task of the lifespan) summarizes it
    in a worker thread, stores it and sends it to each subscriber's bounded stream without waiting.
    """

    def __init__(self) -> None:
        self.jobs: dict[str, AsyncRuntimeJob] = {}
        self.summaries: dict[str, dict[str, Any]] = {}
        self._subscribers: set[MemoryObjectSendStream[dict[str, Any]]] = set()
        #: Opened by :meth:`run` (no job can finish before it runs: none is submitted).
        self._finished_send: MemoryObjectSendStream[AsyncRuntimeJob] | None = None

    def watch(self, job: AsyncRuntimeJob) -> None:
        if job.job_id() not in self.jobs:
            self.jobs[job.job_id()] = job
            job.add_done_callback(self._on_done)

    def _on_done(self, job: AsyncRuntimeJob) -> None:
        try:
            if self._finished_send is None:
                raise anyio.ClosedResourceError
            self._finished_send.send_nowait(job)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            logger.debug("hub closed: completion of %s not published", job.job_id())

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Summarize and publish finished jobs until cancelled."""
        send, receive = anyio.create_memory_object_stream[AsyncRuntimeJob](math.inf)
        self._finished_send = send
        task_status.started()
        with send, receive:  # closed on every exit: later callbacks only log
            async for job in receive:
                summary = await anyio.to_thread.run_sync(summarize, job)
                self.summaries[job.job_id()] = summary  # stored first: a reader of the event
                self._publish(summary)  # finds the same document at GET /jobs/{id}

    def _publish(self, event: dict[str, Any]) -> None:
        for send in list(self._subscribers):
            try:
                send.send_nowait(event)
            except anyio.WouldBlock:
                logger.warning("dropping an SSE subscriber %d events behind", SUBSCRIBER_BUFFER)
                self._subscribers.discard(send)
                send.close()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._subscribers.discard(send)

    @contextmanager
    def subscribe(self) -> Iterator[MemoryObjectReceiveStream[dict[str, Any]]]:
        send, receive = anyio.create_memory_object_stream[dict[str, Any]](SUBSCRIBER_BUFFER)
        self._subscribers.add(send)
        try:
            with receive:
                yield receive
        finally:
            self._subscribers.discard(send)
            send.close()

    def close_subscribers(self) -> None:
        """End every open event stream (at shutdown)."""
        for send in self._subscribers:
            send.close()
        self._subscribers.clear()


async def event_stream(hub: CompletionHub) -> AsyncIterator[str]:
    """SSE text: ``: subscribed`` first (from then on no completion is missed), then one ``data:``
    line per finished job, and a comment every ``KEEPALIVE_SECONDS`` of silence."""
    with hub.subscribe() as stream:
        yield ": subscribed\n\n"
        while True:
            event: dict[str, Any] | None = None
            with anyio.move_on_after(KEEPALIVE_SECONDS):
                try:
                    event = await stream.receive()
                except anyio.EndOfStream:
                    return  # shutdown, or this subscriber lagged too far behind
            yield ": keepalive\n\n" if event is None else f"data: {json.dumps(event)}\n\n"


# --- the application -----------------------------------------------------------------------------


def get_service(request: Request) -> AsyncRuntimeService:
    """The app's one service (opened by the lifespan; FastAPI copies its state to each request)."""
    service: AsyncRuntimeService = request.state.service
    return service


def get_backend(request: Request) -> ServiceBackend:
    backend: ServiceBackend = request.state.backend
    return backend


def get_hub(request: Request) -> CompletionHub:
    hub: CompletionHub = request.app.state.hub
    return hub


ServiceDep = Annotated[AsyncRuntimeService, Depends(get_service)]
BackendDep = Annotated[ServiceBackend, Depends(get_backend)]
HubDep = Annotated[CompletionHub, Depends(get_hub)]


def create_app(
    *,
    service_factory: Callable[[], AsyncRuntimeService] = AsyncRuntimeService.local,
    backend_name: str = DEFAULT_BACKEND,
) -> FastAPI:
    """The application. ``service_factory`` makes the (not yet opened) service: by default the
    embedded local server; ``lambda: AsyncRuntimeService()`` reads an IBM account from the
    QISKIT_IBM_* environment variables."""
    hub = CompletionHub()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # Startup and shutdown run in one task (the ASGI server's lifespan task), as the
        # service's async-with block requires.
        async with service_factory() as service, anyio.create_task_group() as tg:
            backend = await service.backend(backend_name)
            await tg.start(hub.run)
            logger.info("runtime service open: %r, backend %s", service, backend.name)
            yield {"service": service, "backend": backend}
            hub.close_subscribers()
            tg.cancel_scope.cancel()
        # Jobs still pending keep running on the service (they are in job mode).

    app = FastAPI(title="aioqruntime FastAPI example", lifespan=lifespan)
    app.state.hub = hub
    app.post("/jobs", status_code=202)(submit_job)
    app.get("/jobs/{job_id}")(job_status)
    app.get("/jobs/{job_id}/result")(job_result)
    app.get("/events")(events)
    return app


async def submit_job(body: JobIn, backend: BackendDep, hub: HubDep) -> JSONResponse:
    """Parse and transpile (worker thread), submit in job mode: 202 ``{"job_id", "backend"}``."""
    try:
        isa = await anyio.to_thread.run_sync(build_isa_circuit, body, backend)
        job = await AsyncSampler(mode=backend).run([isa], shots=body.shots)
    except (ValueError, InvalidInputError) as exc:  # InvalidInputError is a ValueError too
        raise HTTPException(400, str(exc)) from exc
    except APIConnectionError as exc:
        raise HTTPException(503, f"the runtime is unreachable: {exc}") from exc
    except APIError as exc:
        raise HTTPException(502, f"the runtime refused the job: {exc}") from exc
    hub.watch(job)
    logger.info("submitted job %s on %s", job.job_id(), backend.name)
    return JSONResponse(
        {"job_id": job.job_id(), "backend": backend.name},
        status_code=202,
        headers={"Location": f"/jobs/{job.job_id()}"},
    )


async def _known_job(job_id: str, service: AsyncRuntimeService, hub: CompletionHub) -> None:
    if job_id in hub.jobs:
        return
    # Not submitted through this process: ask the service, and watch it from now on.
    try:
        hub.watch(await service.job(job_id))
    except (NotFoundError, InvalidInputError) as exc:
        raise HTTPException(404, f"no job {job_id!r}") from exc
    except APIError as exc:
        raise HTTPException(502, f"cannot read job {job_id}: {exc}") from exc


async def job_status(job_id: str, service: ServiceDep, hub: HubDep) -> dict[str, Any]:
    """The status; once finished, the same document as the event stream sends."""
    await _known_job(job_id, service, hub)
    summary = hub.summaries.get(job_id)
    if summary is not None:
        return summary
    status = hub.jobs[job_id].status()
    # Final on the service but its result is still being read: not DONE for our clients yet.
    shown = JobStatus.RUNNING if status in JOB_FINAL_STATUSES else status
    return {"job_id": job_id, "status": _text(shown)}


async def job_result(job_id: str, service: ServiceDep, hub: HubDep) -> dict[str, Any]:
    """The counts (or the error) of a finished job; 409 while it is not finished."""
    document = await job_status(job_id, service, hub)
    if job_id not in hub.summaries:
        raise HTTPException(409, f"job {job_id} is {document['status']}, not finished")
    return document


async def events(hub: HubDep) -> StreamingResponse:
    """Server-sent events, one ``data: {...}`` per job finished after ``: subscribed``."""
    return StreamingResponse(
        event_stream(hub),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class StreamClosingServer(uvicorn.Server):
    """uvicorn waits for open responses to finish before it runs the lifespan shutdown, and an
    event stream never finishes by itself: end the streams first, then shut down as usual."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._hub: CompletionHub = app.state.hub

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._hub.close_subscribers()
        await super().shutdown(sockets=sockets)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The aioqruntime FastAPI example.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app()
    StreamClosingServer(uvicorn.Config(app, host=args.host, port=args.port), app).run()


if __name__ == "__main__":
    main()
