"""An aiohttp web backend that runs circuits through one shared ``AsyncRuntimeService``.

    python -m examples.web_backend.app            # or: python examples/web_backend/app.py
    curl -s localhost:8080/jobs -d '{"example": "bell", "shots": 100}'
    curl -s localhost:8080/jobs/<job_id>
    curl -sN localhost:8080/events                 # server-sent events, one per finished job

The service is created once at startup and closed at shutdown (``cleanup_ctx``): against the
embedded local server by default, against IBM Quantum when QISKIT_IBM_TOKEN and
QISKIT_IBM_INSTANCE are set. Parsing and transpiling run in worker threads, so the event loop only
does I/O; jobs run in job mode and nothing polls per job: each job's done-callback hands it to one
hub task, which summarizes the result (off the loop) and fans the event out to every subscriber.
See README.md in this folder for the API.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from aiohttp import web
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from aioqruntime import (
    APIConnectionError,
    APIError,
    AsyncRuntimeJob,
    AsyncRuntimeService,
    AsyncSampler,
    InvalidInputError,
    NotFoundError,
    QRuntimeError,
)
from aioqruntime.protocol import JOB_FINAL_STATUSES, JobStatus

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

    from aioqruntime.runtime import ServiceBackend

logger = logging.getLogger("aioqruntime.examples.web")

MAX_SHOTS = 100_000
DEFAULT_SHOTS = 1024
MAX_GHZ_QUBITS = 127
#: Finished jobs kept in memory for ``GET /jobs/{id}`` (oldest finished ones are forgotten first).
MAX_FINISHED_RECORDS = 10_000
#: Events a subscriber may lag behind before it is dropped (its stream ends; it may reconnect).
SUBSCRIBER_BUFFER = 10_000
#: Seconds between SSE comment lines on an idle stream: proxies keep it open, dead peers show up.
KEEPALIVE_SECONDS = 15.0


class RequestError(Exception):
    """A client error to answer with a JSON body (``status`` is the HTTP status)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


# --- circuits ------------------------------------------------------------------------------------


def bell() -> QuantumCircuit:
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def ghz(num_qubits: int) -> QuantumCircuit:
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(num_qubits)
    circuit.h(0)
    for qubit in range(1, num_qubits):
        circuit.cx(qubit - 1, qubit)
    circuit.measure_all()
    return circuit


def parse_qasm3(text: str) -> QuantumCircuit:
    """OpenQASM 3 text to a circuit (CPU work: call it in a worker thread).

    ``qiskit.qasm3.loads`` (the stable importer) needs the ``qiskit_qasm3_import`` package; without
    it we fall back to qiskit's built-in native importer, which qiskit still labels experimental.
    """
    from qiskit import qasm3
    from qiskit.utils import optionals

    if not text.strip():
        raise ValueError("the OpenQASM text is empty")
    if optionals.HAS_QASM3_IMPORT:
        return qasm3.loads(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ExperimentalWarning is about the API, not the input
        return qasm3.loads_experimental(text)


@dataclass(frozen=True)
class JobRequest:
    """A validated ``POST /jobs`` body."""

    qasm: str | None
    example: str | None
    num_qubits: int | None
    shots: int
    backend: str | None

    @classmethod
    def from_json(cls, body: object) -> JobRequest:
        if not isinstance(body, dict):
            raise RequestError(400, "bad_request", "the body must be a JSON object")
        unknown = set(body) - {"qasm", "example", "num_qubits", "shots", "backend"}
        if unknown:
            raise RequestError(400, "bad_request", f"unknown fields: {sorted(unknown)}")
        qasm, example = body.get("qasm"), body.get("example")
        if (qasm is None) == (example is None):
            raise RequestError(
                400, "bad_request", 'give exactly one of "qasm" (OpenQASM 3 text) or "example"'
            )
        if qasm is not None and not isinstance(qasm, str):
            raise RequestError(400, "bad_request", '"qasm" must be a string')
        if example is not None and example not in ("bell", "ghz"):
            raise RequestError(400, "bad_request", '"example" must be "bell" or "ghz"')
        num_qubits = body.get("num_qubits")
        if num_qubits is not None and (
            example != "ghz" or not _is_int(num_qubits) or not 2 <= num_qubits <= MAX_GHZ_QUBITS
        ):
            raise RequestError(
                400,
                "bad_request",
                f'"num_qubits" applies to "ghz" only: an integer from 2 to {MAX_GHZ_QUBITS}',
            )
        shots = body.get("shots", DEFAULT_SHOTS)
        if not _is_int(shots) or not 1 <= shots <= MAX_SHOTS:
            raise RequestError(
                400, "bad_request", f'"shots" must be an integer from 1 to {MAX_SHOTS}'
            )
        backend = body.get("backend")
        if backend is not None and (not isinstance(backend, str) or not backend):
            raise RequestError(400, "bad_request", '"backend" must be a backend name')
        return cls(qasm, example, num_qubits, shots, backend)

    def build(self) -> QuantumCircuit:
        """The logical circuit (CPU work: call it in a worker thread)."""
        if self.example == "bell":
            return bell()
        if self.example == "ghz":
            return ghz(self.num_qubits or 3)
        assert self.qasm is not None
        try:
            circuit = parse_qasm3(self.qasm)
        except Exception as exc:  # the importers raise many types (parse, semantic, index...)
            detail = str(exc).strip("'\" ") or "syntax error"
            raise RequestError(400, "bad_qasm", f"invalid OpenQASM 3: {detail}") from exc
        if circuit.num_clbits == 0:
            raise RequestError(400, "bad_qasm", "the circuit measures nothing: nothing to sample")
        return circuit


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def transpile(circuit: QuantumCircuit, backend: ServiceBackend) -> QuantumCircuit:
    """An ISA circuit for ``backend`` (CPU work: call it in a worker thread).

    A fresh pass manager per call: pass instances keep per-run state, so one shared between
    threads would race.
    """
    from qiskit.transpiler import generate_preset_pass_manager

    pass_manager = generate_preset_pass_manager(backend=backend, optimization_level=1)
    result: QuantumCircuit = pass_manager.run(circuit)
    return result


# --- results -------------------------------------------------------------------------------------


def summarize(job: AsyncRuntimeJob) -> dict[str, Any]:
    """A finished job as JSON: status and counts (sampler) or evs (estimator) of its first pub.

    CPU work for large results (counting shots): call it in a worker thread.
    """
    summary: dict[str, Any] = {"job_id": job.job_id(), "status": _status_text(job.status())}
    summary["backend"] = job.backend_name
    error = job.exception()
    if error is not None:
        summary["error"] = str(error)
        return summary
    result = job.result_nowait()
    pubs = [_pub_summary(pub) for pub in result]
    if pubs:
        summary.update(pubs[0])
    if len(pubs) > 1:
        summary["pubs"] = pubs
    return summary


def _pub_summary(pub: Any) -> dict[str, Any]:
    data = pub.data
    if hasattr(data, "evs"):
        return {"evs": _tolist(data.evs), "stds": _tolist(getattr(data, "stds", None))}
    counts = {
        name: value.get_counts() for name, value in data.items() if hasattr(value, "get_counts")
    }
    return {"counts": counts}


def _tolist(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def _status_text(status: JobStatus | str) -> str:
    return status.value if isinstance(status, JobStatus) else str(status)


# --- the hub: job records and the fan-out of completions -----------------------------------------


@dataclass
class JobRecord:
    job: AsyncRuntimeJob
    #: Set (by the hub task) once the outcome is summarized; a job reads as DONE only then.
    summary: dict[str, Any] | None = None
    summarized: anyio.Event = field(default_factory=anyio.Event)


class JobHub:
    """Known jobs, and the subscribers of completions.

    Done-callbacks (called by the service's watcher, which must never be blocked or failed) only
    put the job on an unbounded memory stream. The hub task (:meth:`run`, owned by the app's
    cleanup context) summarizes each one in a worker thread, stores it, and sends it to every
    subscriber's own bounded stream without waiting: a subscriber that lags by
    ``SUBSCRIBER_BUFFER`` events is dropped rather than slowing everyone down.
    """

    def __init__(self, *, summary_threads: int = 2) -> None:
        self._records: OrderedDict[str, JobRecord] = OrderedDict()
        self._subscribers: set[MemoryObjectSendStream[dict[str, Any]]] = set()
        self._finished_send, self._finished_receive = anyio.create_memory_object_stream[
            AsyncRuntimeJob
        ](math.inf)
        self._limiter = anyio.CapacityLimiter(summary_threads)

    def get(self, job_id: str) -> JobRecord | None:
        return self._records.get(job_id)

    def watch(self, job: AsyncRuntimeJob) -> JobRecord:
        """Remember ``job`` and publish it when it finishes."""
        record = self._records.get(job.job_id())
        if record is not None:
            return record
        record = JobRecord(job)
        self._records[job.job_id()] = record
        self._forget_old()
        job.add_done_callback(self._on_done)
        return record

    def _on_done(self, job: AsyncRuntimeJob) -> None:
        # Runs in the watcher task: it must neither block nor raise (a raise would end the service).
        try:
            self._finished_send.send_nowait(job)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            logger.debug("hub closed: completion of %s not published", job.job_id())

    def _forget_old(self) -> None:
        if len(self._records) <= MAX_FINISHED_RECORDS:
            return
        for job_id, record in list(self._records.items()):
            if len(self._records) <= MAX_FINISHED_RECORDS:
                break
            if record.summary is not None:
                del self._records[job_id]

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Summarize and publish finished jobs until cancelled."""
        task_status.started()
        with self._finished_send, self._finished_receive:  # later callbacks just log
            async for job in self._finished_receive:
                summary = await anyio.to_thread.run_sync(summarize, job, limiter=self._limiter)
                # Not watch(): that would register the callback again on a forgotten record.
                record = self._records.setdefault(job.job_id(), JobRecord(job))
                record.summary = summary
                record.summarized.set()
                self._publish(summary)

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
        """A stream of completion events from now on; unsubscribed when the block ends."""
        send, receive = anyio.create_memory_object_stream[dict[str, Any]](SUBSCRIBER_BUFFER)
        self._subscribers.add(send)
        try:
            with receive:
                yield receive
        finally:
            self._subscribers.discard(send)
            send.close()

    def close_subscribers(self) -> None:
        """End every event stream (at shutdown, so open SSE responses finish promptly)."""
        for send in self._subscribers:
            send.close()
        self._subscribers.clear()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


# --- the application -----------------------------------------------------------------------------

SERVICE = web.AppKey("service", AsyncRuntimeService)
HUB = web.AppKey("hub", JobHub)
TRANSPILE_LIMITER = web.AppKey("transpile_limiter", anyio.CapacityLimiter)


def default_service() -> AsyncRuntimeService:
    """IBM Quantum when QISKIT_IBM_TOKEN and QISKIT_IBM_INSTANCE are set, else the local server."""
    if os.environ.get("QISKIT_IBM_TOKEN") and os.environ.get("QISKIT_IBM_INSTANCE"):
        return AsyncRuntimeService()  # the account comes from QISKIT_IBM_TOKEN/_INSTANCE/_URL
    return AsyncRuntimeService.local()


async def _choose_backend(service: AsyncRuntimeService, request: JobRequest, width: int) -> Any:
    if request.backend is not None:
        try:
            return await service.backend(request.backend)
        except (NotFoundError, InvalidInputError, BaseExceptionGroup) as exc:
            # service.backend() currently wraps its 404 in an exception group (reported).
            if isinstance(exc, BaseExceptionGroup) and not exc.subgroup(NotFoundError):
                raise
            raise RequestError(400, "unknown_backend", f"no backend {request.backend!r}") from exc
    try:
        return await service.least_busy(min_num_qubits=width)
    except QRuntimeError as exc:
        if isinstance(exc, APIError):
            raise
        raise RequestError(400, "no_backend", f"no backend has {width} qubits") from exc


async def submit_job(request: web.Request) -> web.Response:
    """``POST /jobs``: parse, transpile (worker threads), submit in job mode; 202 ``{"job_id"}``."""
    try:
        body = await request.json()
    except ValueError:
        return error_response(400, "bad_request", "the body is not valid JSON")
    service, limiter = request.app[SERVICE], request.app[TRANSPILE_LIMITER]
    try:
        job_request = JobRequest.from_json(body)
        circuit = await anyio.to_thread.run_sync(job_request.build, limiter=limiter)
        backend = await _choose_backend(service, job_request, circuit.num_qubits)
        try:
            isa = await anyio.to_thread.run_sync(transpile, circuit, backend, limiter=limiter)
        except Exception as exc:  # TranspilerError and friends: the circuit does not fit
            raise RequestError(
                400, "transpile_failed", f"cannot run on {backend.name}: {exc}"
            ) from exc
        job = await AsyncSampler(mode=backend).run([isa], shots=job_request.shots)
    except RequestError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except InvalidInputError as exc:
        return error_response(400, "bad_request", str(exc))
    except APIConnectionError as exc:
        return error_response(503, "service_unavailable", f"the runtime is unreachable: {exc}")
    except APIError as exc:
        return error_response(502, "service_error", f"the runtime refused the job: {exc}")
    request.app[HUB].watch(job)
    logger.info("submitted job %s on %s", job.job_id(), backend.name)
    return web.json_response(
        {"job_id": job.job_id(), "backend": backend.name},
        status=202,
        headers={"Location": f"/jobs/{job.job_id()}"},
    )


async def get_job(request: web.Request) -> web.Response:
    """``GET /jobs/{id}``: status, plus counts (or the error) once the job is finished."""
    job_id = request.match_info["job_id"]
    hub = request.app[HUB]
    record = hub.get(job_id)
    if record is None:
        # Not submitted here (or forgotten): ask the service, and watch it from now on.
        try:
            record = hub.watch(await request.app[SERVICE].job(job_id))
        except (NotFoundError, InvalidInputError):
            return error_response(404, "not_found", f"no job {job_id!r}")
        except APIError as exc:
            return error_response(502, "service_error", f"cannot read job {job_id}: {exc}")
    if record.summary is not None:
        return web.json_response(record.summary)
    job = record.job
    status = job.status()
    # Final on the service but the result is still being fetched: not DONE for our clients yet.
    shown = JobStatus.RUNNING if status in JOB_FINAL_STATUSES else status
    return web.json_response(
        {"job_id": job.job_id(), "status": _status_text(shown), "backend": job.backend_name}
    )


async def events(request: web.Request) -> web.StreamResponse:
    """``GET /events``: server-sent events, one ``data: {...}`` per job finished from now on."""
    hub = request.app[HUB]
    # Subscribe before the headers go out: a client that has the headers misses no event.
    with hub.subscribe() as stream:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
            }
        )
        await response.prepare(request)
        try:
            await response.write(b": subscribed\n\n")
            while True:
                event: dict[str, Any] | None = None
                with anyio.move_on_after(KEEPALIVE_SECONDS):
                    try:
                        event = await stream.receive()
                    except anyio.EndOfStream:
                        break  # shutdown, or we lagged too far behind
                if event is None:
                    await response.write(b": keepalive\n\n")
                else:
                    await response.write(f"data: {json.dumps(event)}\n\n".encode())
        except ConnectionResetError:
            logger.debug("SSE subscriber went away")
    return response


def create_app(
    *,
    service_factory: Callable[[], AsyncRuntimeService] = default_service,
    transpile_threads: int = 2,
) -> web.Application:
    """The application; the service is opened at startup and closed at cleanup."""
    app = web.Application()
    app[HUB] = JobHub()
    # Transpiling is CPU-bound: a few threads at most, whatever the number of requests.
    app[TRANSPILE_LIMITER] = anyio.CapacityLimiter(transpile_threads)

    async def service_context(app: web.Application) -> AsyncIterator[None]:
        # Startup and cleanup run in the same task (aiohttp's runner), as the service requires.
        async with service_factory() as service, anyio.create_task_group() as tg:
            app[SERVICE] = service
            await tg.start(app[HUB].run)
            logger.info("runtime service open: %r", service)
            yield
            tg.cancel_scope.cancel()

    async def end_streams(app: web.Application) -> None:
        app[HUB].close_subscribers()

    app.cleanup_ctx.append(service_context)
    app.on_shutdown.append(end_streams)
    app.router.add_post("/jobs", submit_job)
    app.router.add_get("/jobs/{job_id}", get_job)
    app.router.add_get("/events", events)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The aioqruntime web backend example.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    web.run_app(create_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
