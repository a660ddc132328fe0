"""``LocalRuntimeServer``: the local Qiskit Runtime service as an async context manager."""

from __future__ import annotations

import contextlib
import logging
import secrets
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, final

import anyio
from aiohttp import web

from aioqruntime.protocol._states import ServerJobState, SessionState
from aioqruntime.server._app import JsonErrorsRunner, build_app
from aioqruntime.server._auth import Authenticator
from aioqruntime.server._config import ServerConfig
from aioqruntime.server._context import RequestRecord, ServerContext
from aioqruntime.server._db import Database
from aioqruntime.server._executor import SimulationPool
from aioqruntime.server._faults import FaultInjector
from aioqruntime.server._limits import SubmissionRateLimiter
from aioqruntime.server._records import JobRecord, SessionRecord
from aioqruntime.server._scheduler import BackendInfo, Scheduler
from aioqruntime.server._store import Store
from aioqruntime.server._tasks import TaskSupervisor

__all__ = ["LocalRuntimeServer"]

logger = logging.getLogger("aioqruntime.server")

DEFAULT_INSTANCE = "crn:v1:bluemix:public:quantum-computing:us-east:a/local:local::"


def _backend_infos(
    devices: Iterable[Any] | None, names: Sequence[str] | None
) -> dict[str, BackendInfo]:
    from aioqruntime.backends import build_target, default_devices, mock_device

    chosen = list(devices) if devices is not None else default_devices()
    if names is not None:
        wanted = set(names)
        unknown = wanted - {d.name for d in chosen}
        if unknown:
            raise ValueError(f"unknown device(s): {', '.join(sorted(unknown))}")
        chosen = [d for d in chosen if d.name in wanted]
    infos = {}
    for device in chosen:
        infos[device.name] = BackendInfo(
            name=device.name,
            configuration=device.configuration,
            properties=device.properties,
            list_entry_extra=device.list_entry_extra,
            target=build_target(device.configuration, device.properties),
        )
    for device in chosen:
        # The service's mock (dry-run) twin of each device: listed with include_mocks=True only.
        mock = mock_device(device)
        if mock is not None and mock.name not in infos:
            infos[mock.name] = BackendInfo(
                name=mock.name,
                configuration=mock.configuration,
                properties=mock.properties,
                list_entry_extra=mock.list_entry_extra,
                target=build_target(mock.configuration, mock.properties),
            )
    return infos


@final
class LocalRuntimeServer:
    """A local Qiskit Runtime API on loopback that really runs circuits (Aer, worker processes).

    ``async with LocalRuntimeServer() as server:`` starts it; ``server.url`` is the base
    (``http://127.0.0.1:PORT``; the API is at ``server.api_url``), ``server.token`` the API key to
    exchange at ``{url}/identity/token``, ``server.instance`` a CRN to send as ``Service-CRN``.
    Leaving the block stops accepting connections, cancels the background tasks, stops the
    workers and closes the database, on every exit path.

    ``db_path`` keeps the state across restarts (a temporary file, deleted at exit, otherwise).
    ``pool`` lets several servers share one :class:`SimulationPool` (the creator closes it).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        db_path: str | Path | None = None,
        devices: Iterable[Any] | None = None,
        config: ServerConfig | None = None,
        *,
        instance: str = DEFAULT_INSTANCE,
        pool: SimulationPool | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        # Hex: an API key the user pastes after --token must never start with '-' (argparse would
        # take it for an option), as url-safe base64 does one time in 64.
        self.token = token or secrets.token_hex(24)
        self.config = config or ServerConfig()
        self.instance = instance
        self._db_path = Path(db_path) if db_path is not None else None
        self._devices = devices
        self._external_pool = pool
        self._context: ServerContext | None = None
        self._port: int | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self.requeued_at_start: list[str] = []

    # -- addresses -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not running")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/v1"

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> LocalRuntimeServer:
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            await stack.enter_async_context(self._run())
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._stack = self._stack, None
        if stack is not None:
            return await stack.__aexit__(exc_type, exc, tb)
        return None

    @contextlib.asynccontextmanager
    async def _run(self) -> AsyncIterator[None]:
        config = self.config
        backends = await anyio.to_thread.run_sync(
            _backend_infos, self._devices, config.device_names
        )
        async with contextlib.AsyncExitStack() as stack:
            path = self._db_path
            if path is None:
                tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="aioqruntime-"))
                path = Path(tmp) / "server.db"
            db = Database(path)
            loaded = await anyio.to_thread.run_sync(db.open_and_load)
            db.start(asyncio_loop())
            stack.push_async_callback(anyio.to_thread.run_sync, db.stop_blocking)

            pool = self._external_pool
            if pool is None:
                pool = SimulationPool(config.workers)
                stack.push_async_callback(_close_pool, pool)

            store = Store(db)
            scheduler = Scheduler(store, pool, backends, config)
            self.requeued_at_start = store.load(loaded)
            # Sessions and jobs on devices this run does not serve cannot run: fail them clearly.
            for job in store.queued():
                if job.backend not in backends:
                    store.move_job(
                        job,
                        ServerJobState.FAILED,
                        reason=f"backend {job.backend!r} is not served after a restart",
                        reason_code=1004,
                    )
            limiter = (
                SubmissionRateLimiter(config.rate_limit_per_minute, window=config.rate_limit_window)
                if config.rate_limit_per_minute
                else None
            )
            context = ServerContext(
                config=config,
                store=store,
                scheduler=scheduler,
                backends=backends,
                auth=Authenticator(self.token, token_ttl=config.token_ttl),
                faults=FaultInjector(config.faults, config.fault_seed),
                instance=self.instance,
                limiter=limiter,
                request_log=deque(maxlen=config.request_log_size),
            )
            runner = JsonErrorsRunner(
                build_app(context),
                handle_signals=False,
                access_log=None,
                # Handlers are cancelled by _stop_serving first; this only bounds what is left.
                shutdown_timeout=_CONNECTION_SHUTDOWN_TIMEOUT,
            )
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, self.host, self._requested_port, reuse_address=True)
            await site.start()
            self._port = _bound_port(runner)
            self._context = context
            tasks = TaskSupervisor()
            try:
                scheduler.start(tasks)
                yield
            except BaseException:
                # The body's own exception leaves as itself: a background task that crashed
                # meanwhile was logged when it did, and must not replace (or wrap) it.
                self._context = None
                await _stop_serving(site, context)
                await tasks.aclose(raise_failures=False)
                raise
            else:
                self._context = None
                await _stop_serving(site, context)
                await tasks.aclose()

    # -- state access for tests ------------------------------------------------------------
    @property
    def _ctx(self) -> ServerContext:
        if self._context is None:
            raise RuntimeError("the server is not running")
        return self._context

    @property
    def request_log(self) -> deque[RequestRecord]:
        """Every request handled so far (bounded), oldest first."""
        return self._ctx.request_log

    @property
    def fault_counts(self) -> dict[str, int]:
        """Injected faults by kind (``"500"``, ``"drop"``, ``"drop_after"``, ``"latency"``...)."""
        return dict(self._ctx.faults.counts)

    @property
    def fault_log(self) -> list[tuple[str, str, str]]:
        return list(self._ctx.faults.log)

    @property
    def held_requests(self) -> int:
        """Requests held by a latency fault right now (their bodies already read)."""
        return self._ctx.inflight.held_now

    async def wait_for_held_requests(self, count: int = 1) -> None:
        """Return once ``count`` requests in all (since start) have been held by a latency fault.

        A held request's body has been read, so a client may disconnect from then on without
        the request being lost (the handler still runs once the latency is over).
        """
        inflight = self._ctx.inflight
        await inflight.wait_for(lambda: inflight.held_total >= count)

    @property
    def events(self) -> list[tuple[str, str, str]]:
        """``(event, id, detail)`` in order: ``job_running``, ``session_active``..."""
        return list(self._ctx.store.events)

    @property
    def backend_names(self) -> list[str]:
        """The devices served, mock (dry-run) twins left out as the service's listing does."""
        return [
            name
            for name, info in self._ctx.backends.items()
            if info.list_entry_extra.get("class") != "mock"
        ]

    def job(self, job_id: str) -> JobRecord:
        return self._ctx.store.jobs[job_id]

    def session(self, session_id: str) -> SessionRecord:
        return self._ctx.store.sessions[session_id]

    def pause(self, backend: str | None = None) -> None:
        """Hold queued jobs (of one backend, or all) until :meth:`resume`."""
        self._ctx.scheduler.pause(backend)

    def resume(self, backend: str | None = None) -> None:
        self._ctx.scheduler.resume(backend)

    def fail_next_job(
        self, backend: str, reason: str = "Injected failure", reason_code: int = 1517
    ) -> None:
        """The next job that starts on ``backend`` fails with this reason instead of running."""
        self._ctx.scheduler.fail_next_job(backend, reason, reason_code)

    def issue_token(self, *, lifetime: float | None = None) -> str:
        """A bearer token as ``/identity/token`` gives it (negative lifetime: expired)."""
        token: str = self._ctx.auth.issue(lifetime=lifetime)["access_token"]
        return token

    async def wait_for_job_state(self, job_id: str, *states: str) -> JobRecord:
        """Return once the job is in one of ``states`` (any case; default: any final state)."""
        store = self._ctx.store
        wanted = {s.lower() for s in states}

        def reached() -> bool:
            job = store.jobs[job_id]
            return job.status.value.lower() in wanted if wanted else job.final

        await store.wait_for(reached)
        return store.jobs[job_id]

    async def wait_for_session_state(self, session_id: str, *states: str) -> SessionRecord:
        """Return once the session is in one of ``states`` (default: ``closed``)."""
        store = self._ctx.store
        wanted = {s.lower() for s in states} or {SessionState.CLOSED.value}
        await store.wait_for(lambda: store.sessions[session_id].state.value in wanted)
        return store.sessions[session_id]

    async def wait_for_event(self, event: str, ident: str | None = None) -> None:
        """Return once an event named ``event`` (for ``ident``, if given) has happened."""
        store = self._ctx.store
        await store.wait_for(
            lambda: any(e == event and (ident is None or i == ident) for e, i, _ in store.events)
        )

    def counts(self) -> Mapping[str, int]:
        """Jobs per server state."""
        out: dict[str, int] = {}
        for job in self._ctx.store.jobs.values():
            out[job.status.value] = out.get(job.status.value, 0) + 1
        return out


#: Seconds aiohttp's own shutdown may wait per connection (twice: grace, then after cancelling).
_CONNECTION_SHUTDOWN_TIMEOUT = 1.0
#: Seconds to wait for cancelled request handlers before giving up on them.
_HANDLER_CANCEL_BOUND = 5.0


async def _stop_serving(site: web.TCPSite, context: ServerContext) -> None:
    """Stop accepting connections, then let in-flight requests finish or cancel them (bounded).

    Shielded: it is bounded by ``request_shutdown_grace`` + :data:`_HANDLER_CANCEL_BOUND`, and a
    shutdown cut short by a cancellation would leave handlers running against a closed store.
    """
    with anyio.CancelScope(shield=True):
        await site.stop()
        await context.inflight.stop(context.config.request_shutdown_grace, _HANDLER_CANCEL_BOUND)


def asyncio_loop() -> Any:
    import asyncio

    return asyncio.get_running_loop()


async def _close_pool(pool: SimulationPool) -> None:
    # Abandon running simulations (cancel_futures) and wait for the workers to exit, off-loop.
    await anyio.to_thread.run_sync(lambda: pool.close(wait=True))


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the server did not bind a TCP port")
