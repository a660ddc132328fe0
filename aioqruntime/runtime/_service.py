"""``AsyncRuntimeService``: the account, the HTTP transport and the service-wide job watcher."""

from __future__ import annotations

import dataclasses
import functools
import logging
import ssl
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, final

import aiohttp
import anyio
from typing_extensions import Self

from aioqruntime._exceptions import (
    AmbiguousSubmissionError,
    NotFoundError,
    QRuntimeError,
    ServiceClosedError,
    SessionClosedError,
)
from aioqruntime.protocol import (
    BackendList,
    BackendListEntry,
    Job,
    JobList,
    PollSchedule,
    RetryPolicy,
    Secret,
    Usage,
    backend_configuration,
    backend_properties,
    delete_job,
    get_job,
    instance_usage,
    is_final,
    list_backends,
    list_jobs,
)
from aioqruntime.runtime._account import Account, resolve_account
from aioqruntime.runtime._backend import ServiceBackend
from aioqruntime.runtime._core import AUTO, ServiceCore, SubmissionRate
from aioqruntime.runtime._job import AsyncRuntimeJob
from aioqruntime.runtime._journal import Journal, JournalEntry, JournalSession
from aioqruntime.runtime._submission import drive, lookup_request, reconcile_flow
from aioqruntime.runtime._tasks import run_concurrently
from aioqruntime.runtime._watcher import JobWatcher
from aioqruntime.transport import Transport, TransportConfig
from aioqruntime.transport._client import warn_insecure

__all__ = ["AsyncRuntimeService"]

logger = logging.getLogger("aioqruntime.runtime")

#: ``service.jobs(limit=None)`` pages of this size, as the official client does.
_UNLIMITED_PAGE = 20
_PAGE_CAP = 200


@final
class AsyncRuntimeService:
    """An open connection to Qiskit Runtime: ``async with AsyncRuntimeService(...) as service``.

    ``token`` is an IBM Cloud API key, exchanged for bearer tokens at ``iam_url`` (refreshed at
    80 % of their lifetime). Missing ``token``/``instance``/``url`` come from ``QISKIT_IBM_TOKEN``,
    ``QISKIT_IBM_INSTANCE`` and ``QISKIT_IBM_URL``. ``session`` is an ``aiohttp.ClientSession`` of
    yours (never closed by us). ``submissions_per_minute`` paces ``POST /jobs`` client-side:
    ``"auto"`` (the default) is IBM's 5 per minute on IBM's hosts and no pacing elsewhere, a
    number sets it, ``None`` turns it off; a 429 is always waited out and learned from.

    Entering opens the HTTP session and starts one background watcher task that tracks job-mode
    jobs. Leaving (or :meth:`aclose`) stops it; jobs still pending then keep running on the
    service, and awaiting their handles raises :class:`SessionClosedError` (find them again with
    :meth:`job`, or :meth:`resume` with a journal). Enter and leave in the same task.

    Reliability knobs:

    * every submission is exactly-once: an ambiguous ``POST /jobs`` failure is reconciled by the
      submission's client tag before anything is sent again (``retry`` bounds the attempts and
      lookups; ``transport_config.timeouts.submit_grace`` how long a lost request may still land);
    * ``journal="path.sqlite"`` records every submission (before and after ``POST /jobs``) and
      every session; after a crash, ``await service.resume()`` in a new process re-attaches every
      job whose outcome was never delivered;
    * ``verify`` (default ``True``) checks TLS certificates; ``verify=False`` must be explicit and
      warns (:class:`~aioqruntime.InsecureTransportWarning`); an ``ssl.SSLContext`` is used as is;
    * :meth:`statistics` counts requests, retries by reason, re-authentications, reconciliations.
    """

    def __init__(
        self,
        *,
        token: str | Secret | None = None,
        instance: str | None = None,
        url: str | None = None,
        iam_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        transport_config: TransportConfig | None = None,
        retry: RetryPolicy | None = None,
        poll_schedule: PollSchedule | None = None,
        submissions_per_minute: SubmissionRate = AUTO,
        decode_threads: int = 4,
        journal: str | Path | None = None,
        verify: bool | ssl.SSLContext | None = None,
        _server_options: dict[str, Any] | None = None,
    ) -> None:
        self._server_options = _server_options
        if verify is not None:
            transport_config = dataclasses.replace(
                transport_config or TransportConfig(), verify=verify
            )
        if transport_config is not None and transport_config.verify is False:
            # Said here, where the caller asked for it (the transport says it again when opened).
            warn_insecure(url or "the service", stacklevel=2)
        self._journal_path = Path(journal) if journal is not None else None
        self._live: weakref.WeakValueDictionary[str, AsyncRuntimeJob] = (
            weakref.WeakValueDictionary()
        )
        self._account: Account | None = (
            None
            if _server_options is not None
            else resolve_account(token=token, instance=instance, url=url, iam_url=iam_url)
        )
        self._http_session = session
        self._transport_config = transport_config
        self._retry = retry
        self._poll_schedule = poll_schedule or PollSchedule()
        self._submissions_per_minute = submissions_per_minute
        self._decode_threads = decode_threads
        self._core: ServiceCore | None = None
        self._watcher: JobWatcher | None = None
        self._cm: AbstractAsyncContextManager[Self] | None = None
        self._closed = False
        self._config_cache: dict[str, dict[str, Any]] = {}
        self._backend_cache: dict[str, ServiceBackend] = {}
        self._backend_locks: dict[str, anyio.Lock] = {}
        #: The embedded server of :meth:`local` (``None`` otherwise).
        self.server: Any = None

    @classmethod
    def local(cls, **server_options: Any) -> AsyncRuntimeService:
        """A service backed by an in-process :class:`~aioqruntime.server.LocalRuntimeServer`.

        ``server_options`` go to the server; entering starts it, leaving stops it (after the
        client side is closed). Submissions are not paced (the local server has no rate limit
        unless configured).
        """
        return cls(_server_options=dict(server_options), submissions_per_minute=None)

    # --- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._cm is not None or self._closed:
            raise RuntimeError("an AsyncRuntimeService can be entered only once")
        self._cm = self._lifespan()
        return await self._cm.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        cm, self._cm = self._cm, None
        if cm is None:
            return None
        return await cm.__aexit__(exc_type, exc, tb)

    async def aclose(self) -> None:
        """Close now (same as leaving the ``async with`` block; call it from the entering task)."""
        await self.__aexit__(None, None, None)

    @asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[Self]:
        # The body's own exception is kept out of every task group on the way (ours and the
        # embedded server's) and re-raised at the end, so callers catch it unwrapped.
        body_error: BaseException | None = None
        async with AsyncExitStack() as stack:
            if self._server_options is not None:
                from aioqruntime.server import LocalRuntimeServer

                server = await stack.enter_async_context(LocalRuntimeServer(**self._server_options))
                self.server = server
                self._account = Account(
                    url=server.api_url,
                    iam_url=server.url,
                    token=Secret(server.token) if server.token else None,
                    instance=server.instance,
                )
            account = self._account
            assert account is not None
            transport = Transport(
                api_url=account.url,
                iam_url=account.iam_url,
                api_key=account.token,
                instance=account.instance,
                config=self._transport_config,
                retry=self._retry,
                session=self._http_session,
            )
            await stack.enter_async_context(transport)
            journal: Journal | None = None
            if self._journal_path is not None:
                journal = Journal(self._journal_path)
                await journal.open()
                stack.push_async_callback(journal.aclose)
            core = ServiceCore(
                transport=transport,
                instance=account.instance,
                poll_schedule=self._poll_schedule,
                decode_threads=self._decode_threads,
                submissions_per_minute=self._submissions_per_minute,
                journal=journal,
                live=self._live,
            )
            watcher = JobWatcher(core, name="service")
            self._core, self._watcher = core, watcher
            try:
                async with anyio.create_task_group() as tg:
                    await tg.start(watcher.run)
                    try:
                        yield self
                    except BaseException as exc:
                        body_error = exc
                    tg.cancel_scope.cancel()
            finally:
                core.closed = True
                self._closed = True
                watcher.abandon_all(_abandoned)
        if body_error is not None:
            raise body_error

    def _core_or_raise(self) -> ServiceCore:
        if self._core is None or self._core.closed:
            raise ServiceClosedError(
                "the service is closed"
                if self._closed
                else "the service is not open: use 'async with AsyncRuntimeService(...)'"
            )
        return self._core

    def _watcher_or_raise(self) -> JobWatcher:
        self._core_or_raise()
        assert self._watcher is not None
        return self._watcher

    @property
    def instance(self) -> str | None:
        """The instance CRN requests are made for."""
        return self._account.instance if self._account else None

    @property
    def url(self) -> str | None:
        """The runtime API base URL."""
        return self._account.url if self._account else None

    @property
    def transport(self) -> Transport:
        """The HTTP transport (open only inside the ``async with`` block)."""
        return self._core_or_raise().transport

    def __repr__(self) -> str:
        return f"<AsyncRuntimeService url={self.url!r} instance={self.instance!r}>"

    def statistics(self) -> dict[str, int]:
        """Counters of this open service (flat names, all ints).

        Transport: ``requests`` (attempts), ``retries`` and ``retries.<reason>`` (``429``,
        ``503``..., ``connect``, ``connection``, ``timeout``), ``reauthentications`` (a 401 then a
        fresh token), ``iam_exchanges``, ``ambiguous_submissions`` (``POST /jobs`` answers that
        left open whether the job exists). Submissions: ``submitted``, ``reconciled`` (found by
        tag after an ambiguous failure), ``resubmitted`` (confirmed absent, sent again),
        ``lookups``, ``rejected`` (certainly not created), ``ambiguous`` (raised to the caller).
        Watcher: ``watcher.pending``, ``watcher.ticks``, ``watcher.requests``,
        ``watcher.result_requests``. ``limiter.waits``: submissions paced client-side.
        """
        core = self._core_or_raise()
        stats = core.transport.statistics()
        for key in ("submitted", "reconciled", "resubmitted", "lookups", "rejected", "ambiguous"):
            stats[key] = core.counters[key]
        assert self._watcher is not None
        for key, value in self._watcher.statistics().items():
            stats[f"watcher.{key}"] = value
        stats["limiter.waits"] = core.limiter.waits
        return stats

    # --- journal -------------------------------------------------------------------------------

    def _journal_or_raise(self) -> Journal:
        journal = self._core_or_raise().journal
        if journal is None:
            raise RuntimeError("this service has no journal: AsyncRuntimeService(journal=path)")
        return journal

    async def journal_entries(self, *, unfinished_only: bool = False) -> list[JournalEntry]:
        """The journal's job rows, oldest first (``state``: submitting, submitted, settled,
        rejected, not_found)."""
        return await self._journal_or_raise().entries(unfinished_only=unfinished_only)

    async def journal_sessions(self) -> list[JournalSession]:
        """The sessions and batches the journal recorded (``state``: open, closed, cancelled)."""
        return await self._journal_or_raise().sessions()

    async def resume(self) -> list[AsyncRuntimeJob]:
        """Re-attach every journaled job whose outcome was never delivered; oldest first.

        Jobs with a known id are watched again at once. Submissions that crashed before the
        service's answer was recorded are looked up by their client tag (after the submit grace,
        counted from when they were journaled): found, they are attached; not found, the service
        never received them and they are marked ``not_found`` (see :meth:`journal_entries`). If a
        lookup keeps failing the entry stays as it is (logged) for a later ``resume()``.

        The returned jobs carry their ``label``; awaiting them gives the result (fetched and
        decoded once). Jobs already live in this service are returned as the same objects.
        """
        core = self._core_or_raise()
        journal = self._journal_or_raise()
        watcher = self._watcher_or_raise()
        entries = await journal.entries(unfinished_only=True)
        found: dict[str, JournalEntry] = {e.client_tag: e for e in entries if e.job_id}
        grace = core.transport.config.timeouts.submit_grace or 0.0

        async def reconcile(entry: JournalEntry) -> None:
            flow = reconcile_flow(
                entry.client_tag,
                core.transport.retry,
                request=lookup_request(
                    entry.client_tag,
                    since=datetime.fromtimestamp(entry.submitted_at, timezone.utc),
                ),
                wait_first=max(0.0, entry.submitted_at + grace - time.time()),
            )
            try:
                job = await drive(flow, post=_no_post, send=core.transport.send)
            except AmbiguousSubmissionError as exc:
                logger.warning("resume: could not look up %s: %s", entry.client_tag, exc)
                return
            if job is None:
                logger.warning(
                    "resume: no job carries %s (label %r): the submission never reached the "
                    "service",
                    entry.client_tag,
                    entry.label,
                )
                await journal.set_state(entry.client_tag, "not_found")
                return
            await journal.submitted(
                entry.client_tag, job_id=job.id, backend=job.backend, session_id=job.session_id
            )
            found[entry.client_tag] = dataclasses.replace(
                entry, job_id=job.id, session_id=job.session_id or entry.session_id
            )

        limiter = anyio.CapacityLimiter(8)

        async def bounded(entry: JournalEntry) -> None:
            async with limiter:
                await reconcile(entry)

        await run_concurrently(
            functools.partial(bounded, entry) for entry in entries if not entry.job_id
        )
        jobs: list[AsyncRuntimeJob] = []
        for entry in entries:
            resolved = found.get(entry.client_tag)
            if resolved is None or resolved.job_id is None:
                continue
            live = self._live.get(entry.client_tag)
            if live is not None:
                jobs.append(live)
                continue
            job = AsyncRuntimeJob(
                resolved.job_id,
                core=core,
                watcher=watcher,
                backend_name=resolved.backend,
                program_id=resolved.program_id,
                session_id=resolved.session_id,
                tags=(*resolved.tags, resolved.client_tag),
                client_tag=resolved.client_tag,
                label=resolved.label,
            )
            self._live[resolved.client_tag] = job
            core.journal_settlement(job, resolved.client_tag)
            watcher.track(job)
            jobs.append(job)
        logger.info("resume: %d unfinished jobs re-attached", len(jobs))
        return jobs

    # --- backends ------------------------------------------------------------------------------

    async def _device_list(self) -> tuple[BackendListEntry, ...]:
        response = await self._core_or_raise().transport.send(list_backends())
        return BackendList.from_json(response.json()).devices

    async def backend(self, name: str) -> ServiceBackend:
        """The device ``name`` (configuration and properties fetched once, then cached)."""
        self._core_or_raise()
        cached = self._backend_cache.get(name)
        if cached is not None:
            return cached
        lock = self._backend_locks.setdefault(name, anyio.Lock())
        async with lock:  # concurrent callers share one fetch
            cached = self._backend_cache.get(name)
            if cached is not None:
                return cached
            backend = await self._fetch_backend(name, None)
            self._backend_cache[name] = backend
            return backend

    async def _fetch_backend(self, name: str, entry: BackendListEntry | None) -> ServiceBackend:
        transport = self._core_or_raise().transport
        configuration: dict[str, Any] = {}
        properties: dict[str, Any] | None = None

        async def read_configuration() -> None:
            nonlocal configuration
            response = await transport.send(backend_configuration(name))
            configuration = dict(response.json())

        async def read_properties() -> None:
            nonlocal properties
            try:
                response = await transport.send(backend_properties(name))
            except NotFoundError:
                return
            data = response.json() if response.body.strip() else None
            properties = dict(data) if isinstance(data, dict) and data else None

        await run_concurrently((read_configuration, read_properties))
        if configuration.get("simulator"):
            properties = None
        # Building the Target is CPU work: keep it off the loop.
        core = self._core_or_raise()
        backend: ServiceBackend = await core.encode(
            lambda: ServiceBackend(
                configuration,
                properties,
                service=self,
                list_entry=dict(entry.raw) if entry is not None else None,
            )
        )
        return backend

    async def backends(
        self,
        name: str | None = None,
        min_num_qubits: int | None = None,
        simulator: bool | None = None,
        operational: bool | None = None,
        filters: Callable[[ServiceBackend], bool] | None = None,
    ) -> list[ServiceBackend]:
        """Devices of the instance matching every criterion given."""
        entries = [e for e in await self._device_list() if not e.is_mock]
        if name is not None:
            entries = [e for e in entries if e.name == name]
        if min_num_qubits is not None:
            entries = [e for e in entries if (e.qubits or 0) >= min_num_qubits]
        if operational is not None:
            entries = [e for e in entries if e.is_online == operational]
        found: dict[str, ServiceBackend] = {}

        async def load(entry: BackendListEntry) -> None:
            found[entry.name] = await self.backend(entry.name)

        await run_concurrently(functools.partial(load, entry) for entry in entries)
        result = [found[e.name] for e in entries]
        if min_num_qubits is not None:
            result = [b for b in result if b.num_qubits >= min_num_qubits]
        if simulator is not None:
            result = [b for b in result if b.is_simulator == simulator]
        if filters is not None:
            result = [b for b in result if filters(b)]
        return result

    async def least_busy(
        self,
        min_num_qubits: int | None = None,
        *,
        simulator: bool | None = None,
        filters: Callable[[ServiceBackend], bool] | None = None,
    ) -> ServiceBackend:
        """The online device with the shortest queue among those matching the criteria."""
        entries = [e for e in await self._device_list() if e.is_online and not e.is_mock]
        if min_num_qubits is not None:
            entries = [e for e in entries if (e.qubits or 0) >= min_num_qubits]
        for entry in sorted(entries, key=lambda e: e.queue_length):
            try:
                backend = await self.backend(entry.name)
            except NotFoundError:
                continue
            if simulator is not None and backend.is_simulator != simulator:
                continue
            if filters is not None and not filters(backend):
                continue
            return backend
        raise QRuntimeError("No backend matches the criteria.")

    # --- jobs ----------------------------------------------------------------------------------

    def _handle(self, item: Job) -> AsyncRuntimeJob:
        job = AsyncRuntimeJob(
            item.id,
            core=self._core_or_raise(),
            watcher=self._watcher_or_raise(),
            backend_name=item.backend,
            program_id=item.program_id,
            session_id=item.session_id,
            tags=item.tags,
        )
        job.apply(item)
        return job

    async def job(self, job_id: str) -> AsyncRuntimeJob:
        """The job ``job_id``, attached to the service's watcher (one ``GET /jobs/{id}``).

        A pending job is watched until final; a final one has its outcome fetched now.
        """
        response = await self._core_or_raise().transport.send(get_job(job_id))
        item = Job.from_json(response.json())
        job = self._handle(item)
        watcher = self._watcher_or_raise()
        if is_final(job.status()):
            await watcher.settle_now(job, item)
        else:
            watcher.track(job)
        return job

    async def jobs(
        self,
        limit: int | None = 10,
        skip: int = 0,
        backend_name: str | None = None,
        pending: bool | None = None,
        program_id: str | None = None,
        session_id: str | None = None,
        tags: Sequence[str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        descending: bool = True,
    ) -> list[AsyncRuntimeJob]:
        """Jobs of the instance, newest first, paging as the official client does.

        Pending ones are watched; finished ones fetch their result when first awaited.
        """
        transport = self._core_or_raise().transport
        collected: list[Job] = []
        offset = skip
        page_limit = min(limit, _PAGE_CAP) if limit else _UNLIMITED_PAGE
        while True:
            request = list_jobs(
                limit=page_limit,
                offset=offset,
                backend=backend_name,
                pending=pending,
                program=program_id,
                tags=tuple(tags or ()),
                session_id=session_id,
                created_after=created_after,
                created_before=created_before,
                descending=descending,
            )
            page = JobList.from_json((await transport.send(request)).json())
            collected.extend(page.jobs)
            offset += len(page.jobs)
            if not page.jobs or len(collected) >= page.count - skip:
                break
            if limit is not None:
                if len(collected) >= limit:
                    break
                page_limit = min(limit - len(collected), _PAGE_CAP)
        if limit is not None:
            collected = collected[:limit]
        handles = [self._handle(item) for item in collected]
        watcher = self._watcher_or_raise()
        for job in handles:
            if not is_final(job.status()):
                watcher.track(job)
        return handles

    async def delete_job(self, job_id: str) -> None:
        """Delete a finished job (``DELETE /jobs/{id}``)."""
        await self._core_or_raise().transport.send(delete_job(job_id))

    async def usage(self) -> Usage:
        """The instance's usage (``GET /instances/usage``)."""
        response = await self._core_or_raise().transport.send(instance_usage())
        return Usage.from_json(response.json())


async def _no_post() -> Any:
    raise AssertionError("a reconciliation flow never submits")


def _abandoned(job: AsyncRuntimeJob) -> QRuntimeError:
    return SessionClosedError(
        f"stopped watching job {job.job_id()}: its service or session was closed before it "
        "finished. The job itself was not cancelled; find it again with service.job(id)."
    )
