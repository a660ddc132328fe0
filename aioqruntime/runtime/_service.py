"""``AsyncRuntimeService``: the account, the HTTP transport and the service-wide job watcher."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import ssl
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, final

import anyio
from typing_extensions import Self

from aioqruntime._exceptions import (
    InvalidInputError,
    NotFoundError,
    QRuntimeError,
    ServiceClosedError,
    SessionClosedError,
)
from aioqruntime.backends import is_fractional_gate_name
from aioqruntime.client import RuntimeClient
from aioqruntime.protocol import (
    BackendListEntry,
    Job,
    PollSchedule,
    RetryPolicy,
    Secret,
    Usage,
    is_final,
)
from aioqruntime.runtime import _account as account_files
from aioqruntime.runtime._account import (
    LOCAL_CHANNEL,
    Account,
    AccountChoice,
    choose_account,
    private_endpoint_url,
    resolve_account,
)
from aioqruntime.runtime._backend import BackendDocuments, ServiceBackend, fetch_documents
from aioqruntime.runtime._core import AUTO, ServiceCore, SubmissionRate
from aioqruntime.runtime._host import LifespanHost, asyncio_running
from aioqruntime.runtime._job import AsyncRuntimeJob
from aioqruntime.runtime._journal import Journal, JournalEntry, JournalSession
from aioqruntime.runtime._resume import look_up, reattach
from aioqruntime.runtime._state import JobState
from aioqruntime.runtime._tasks import run_concurrently
from aioqruntime.runtime._watcher import JobWatcher
from aioqruntime.transport import Transport, TransportConfig, warn_insecure

if TYPE_CHECKING:
    import aiohttp  # only the type of a caller-owned session: the transport does the HTTP

__all__ = ["AsyncRuntimeService"]

logger = logging.getLogger("aioqruntime.runtime")

#: ``service.jobs(limit=None)`` pages of this size, as the official client does.
_UNLIMITED_PAGE = 20
_PAGE_CAP = 200


@final
class AsyncRuntimeService:
    """An open connection to Qiskit Runtime: ``async with AsyncRuntimeService(...) as service``.

    The positional parameters are the official constructor's. ``token`` is an IBM Cloud API
    key, exchanged for bearer tokens at ``iam_url`` (refreshed at 80 % of their lifetime). The
    account comes, as in the official client, from ``name=`` (a saved account), the arguments,
    ``QISKIT_IBM_TOKEN``/``QISKIT_IBM_INSTANCE``/``QISKIT_IBM_URL``, then the default account
    saved in ``~/.qiskit/qiskit-ibm.json`` (or ``filename``). With none of these, and with
    ``channel="local"``, it is the embedded local server (as :meth:`local`; a warning says so
    unless asked for). ``private_endpoint`` and ``url_resolver`` choose the API URL as the
    official ones do; ``proxies`` is refused, ``region``/``plans_preference``/``tags`` too
    without ``instance`` (they select an instance by a lookup we do not do). ``session`` is an
    ``aiohttp.ClientSession`` of yours (never closed by us). ``submissions_per_minute`` paces
    ``POST /jobs`` client-side: ``"auto"`` (the default) is IBM's 5 per minute on IBM's hosts and
    no pacing elsewhere, a number sets it, ``None`` turns it off; a 429 is always waited out and
    learned from.

    Entering opens the HTTP session and starts one background watcher task that tracks job-mode
    jobs. Leaving (or :meth:`close`) stops it; jobs still pending then keep running on the
    service, and awaiting their handles raises :class:`SessionClosedError` (find them again with
    :meth:`job`, or :meth:`resume` with a journal). Enter and leave in the same task.

    Never entered, the service opens on its first awaited use (``service = AsyncRuntimeService()``
    then ``await service.least_busy(...)``, as the official client is written; under asyncio),
    in a task of its own, and ``await service.close()`` closes it from any task. Not closed, it
    closes when ``asyncio.run`` ends.

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
        channel: str | None = None,
        token: str | Secret | None = None,
        url: str | None = None,
        filename: str | None = None,
        name: str | None = None,
        instance: str | None = None,
        proxies: Mapping[str, Any] | None = None,
        verify: bool | ssl.SSLContext | None = None,
        private_endpoint: bool | None = None,
        url_resolver: Callable[[str, str, bool | None, str], str] | None = None,
        region: str | None = None,
        plans_preference: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        *,
        iam_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        transport_config: TransportConfig | None = None,
        retry: RetryPolicy | None = None,
        poll_schedule: PollSchedule | None = None,
        submissions_per_minute: SubmissionRate = AUTO,
        decode_threads: int = 4,
        journal: str | Path | None = None,
        _server_options: dict[str, Any] | None = None,
    ) -> None:
        if proxies:
            raise InvalidInputError(
                "proxies= is not supported: pass session=aiohttp.ClientSession(trust_env=True) "
                "to use the HTTPS_PROXY variable, or a session with your own proxy connector"
            )
        self._channel = LOCAL_CHANNEL
        self._account: Account | None = None
        if _server_options is None:
            choice = choose_account(
                channel=channel,
                token=token,
                url=url,
                instance=instance,
                filename=filename,
                name=name,
            )
            self._channel = choice.channel
            if region or plans_preference or tags:
                _check_lookup_not_needed(choice)
            if choice.local:
                if channel != LOCAL_CHANNEL:
                    logger.warning(_NO_ACCOUNT_WARNING)
                _server_options = {}
                submissions_per_minute = None
            else:
                self._account = self._resolve(choice, iam_url, private_endpoint, url_resolver)
                verify = choice.verify if verify is None else verify
        self._server_options = _server_options
        if verify is not None:
            transport_config = dataclasses.replace(
                transport_config or TransportConfig(), verify=verify
            )
        if transport_config is not None and transport_config.verify is False:
            # Said here, where the caller asked for it (the transport says it again when opened).
            warn_insecure(url or "the service", stacklevel=2)
        self._journal_path = Path(journal) if journal is not None else None
        self._live = weakref.WeakValueDictionary[str, AsyncRuntimeJob]()
        self._http_session = session
        self._transport_config = transport_config
        self._retry = retry
        self._poll_schedule = poll_schedule or PollSchedule()
        self._submissions_per_minute = submissions_per_minute
        self._decode_threads = decode_threads
        self._core: ServiceCore | None = None
        self._watcher: JobWatcher | None = None
        self._cm: AbstractAsyncContextManager[Self] | None = None
        self._entered_by: int | None = None  # the task of 'async with': only it leaves it
        # Never entered, the service opens on its first awaited use, in a task of its own.
        self._host = LifespanHost(self._lifespan, name="aioqruntime service")
        self._closed = False
        self._backend_cache: dict[tuple[str, bool | None, str | None], ServiceBackend] = {}
        self._backend_locks: dict[tuple[str, bool | None, str | None], anyio.Lock] = {}
        #: The embedded server of :meth:`local` (``None`` otherwise).
        self.server: Any = None

    @staticmethod
    def _resolve(
        choice: AccountChoice,
        iam_url: str | None,
        private_endpoint: bool | None,
        url_resolver: Callable[[str, str, bool | None, str], str] | None,
    ) -> Account:
        url = choice.url
        instance = choice.instance or os.environ.get("QISKIT_IBM_INSTANCE") or None
        private = choice.private_endpoint if private_endpoint is None else private_endpoint
        if url_resolver is not None:
            url = url_resolver(
                url or os.environ.get("QISKIT_IBM_URL") or "https://cloud.ibm.com",
                instance or "",
                private,
                choice.channel,
            )
        elif private:
            url = private_endpoint_url(url, instance)
        return resolve_account(token=choice.token, instance=instance, url=url, iam_url=iam_url)

    @classmethod
    def local(cls, **server_options: Any) -> AsyncRuntimeService:
        """A service backed by an in-process :class:`~aioqruntime.server.LocalRuntimeServer`.

        ``server_options`` go to the server; entering starts it, leaving stops it (after the
        client side is closed). Submissions are not paced (the local server has no rate limit
        unless configured).
        """
        return cls(_server_options=dict(server_options), submissions_per_minute=None)

    # --- account (members of the official service) --------------------------------------------

    @staticmethod
    def save_account(
        token: str | None = None,
        url: str | None = None,
        instance: str | None = None,
        channel: str | None = None,
        filename: str | None = None,
        name: str | None = None,
        proxies: Mapping[str, Any] | None = None,
        verify: bool | None = None,
        overwrite: bool | None = False,
        set_as_default: bool | None = None,
        private_endpoint: bool | None = False,
        region: str | None = None,
        plans_preference: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> None:
        """Save an account in the official client's file (``~/.qiskit/qiskit-ibm.json``).

        The same file and names as ``QiskitRuntimeService.save_account``: either client reads
        what the other saved. The file is written owner-only (it holds the API key).
        """
        fields = {
            "channel": channel,
            "token": token,
            "url": url,
            "instance": instance,
            "proxies": dict(proxies) if proxies else None,
            "verify": verify,
            "private_endpoint": private_endpoint or None,
            "region": region,
            "plans_preference": list(plans_preference) if plans_preference else None,
            "tags": list(tags) if tags else None,
        }
        account_files.save_account(
            fields=fields,
            filename=filename,
            name=name,
            overwrite=bool(overwrite),
            set_as_default=set_as_default,
        )

    @staticmethod
    def saved_accounts(
        default: bool | None = None,
        channel: str | None = None,
        filename: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """The saved accounts by name (tokens as :class:`~aioqruntime.protocol.Secret`)."""
        return account_files.saved_accounts(
            default=default, channel=channel, filename=filename, name=name
        )

    @staticmethod
    def delete_account(
        filename: str | None = None, name: str | None = None, channel: str | None = None
    ) -> bool:
        """Delete a saved account (the channel's default one unless ``name``); True if found."""
        return account_files.delete_account(filename=filename, name=name, channel=channel)

    @property
    def channel(self) -> str:
        """``"local"`` for the embedded server, else the account's (``"ibm_quantum_platform"``)."""
        return self._channel

    @property
    def is_local(self) -> bool:
        """Whether this is the embedded local server (which runs sessions for real)."""
        return self._channel == LOCAL_CHANNEL

    def active_account(self) -> dict[str, Any] | None:
        """The account in use, as the official dict (the token as a :class:`Secret`)."""
        account = self._account
        if account is None:
            return None
        config = self._transport_config or TransportConfig()
        return {
            "channel": self._channel,
            "url": account.url,
            "token": account.token,
            "instance": account.instance,
            "verify": config.verify is not False,
            "private_endpoint": ".private." in account.url or "//private." in account.url,
        }

    def active_instance(self) -> str | None:
        """The instance CRN requests are made for."""
        return self.instance

    def instances(self) -> list[dict[str, Any]]:
        """The instances of this service: the one configured (aioqruntime does no lookup)."""
        if self.instance is None:
            return []
        return [
            {"crn": self.instance, "plan": None, "name": None, "tags": [], "pricing_type": None}
        ]

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> NoReturn:
        raise TypeError(
            "AsyncRuntimeService is asynchronous: use 'async with AsyncRuntimeService(...) as "
            "service:' (inside an async function)"
        )

    def __exit__(self, *exc_info: object) -> None:
        """Never reached: :meth:`__enter__` always raises (present so 'with' calls it)."""

    async def __aenter__(self) -> Self:
        if self._host.started:
            raise RuntimeError(
                "this AsyncRuntimeService opened on its first use, so it cannot be entered with "
                "'async with' now: close it with 'await service.close()' (or write 'async with' "
                "before using it)"
            )
        if self._cm is not None or self._closed:
            raise RuntimeError("an AsyncRuntimeService can be entered only once")
        self._cm = self._lifespan()
        self._entered_by = anyio.get_current_task().id
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

    async def close(self) -> None:
        """Close the service: stop its watcher, close the HTTP session, stop an embedded server.

        A service that opened on its first use is closed from any task (a notebook's later
        cell, say); what went wrong on the way out (or stopped it earlier: a done-callback that
        raised) is raised here. Closing again does nothing; a closed service refuses every call
        (:class:`ServiceClosedError`). Inside ``async with``, the same as leaving the block,
        from the task that entered it only.
        """
        if self._cm is not None:
            if anyio.get_current_task().id != self._entered_by:
                raise RuntimeError(
                    "this AsyncRuntimeService was entered with 'async with' in another task: "
                    "leave that block to close it (a task group must be exited by the task that "
                    "entered it)"
                )
            await self.__aexit__(None, None, None)
            return
        self._closed = True
        await self._host.close()

    async def aclose(self) -> None:
        """The same as :meth:`close`."""
        await self.close()

    def __del__(self) -> None:
        core = getattr(self, "_core", None)
        if core is not None and not core.closed:
            warnings.warn(
                "an AsyncRuntimeService was collected while still open (its watcher and HTTP "
                "session, maybe an embedded server, were never stopped): write 'await "
                "service.close()', or use 'async with'.",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )

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
            core.backend_loader = self.backend
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

    async def _open_core(self) -> ServiceCore:
        """The open core: a service never entered opens here, on its first awaited use.

        Concurrent first uses share one opening; its failure is raised to each, and the next
        use tries again. Outside asyncio (trio) it keeps asking for ``async with``.
        """
        if self._core is None and self._cm is None and not self._closed and asyncio_running():
            await self._host.open()
        return self._core_or_raise()

    def _core_or_raise(self) -> ServiceCore:
        if self._core is not None and not self._core.closed:
            return self._core
        if self._closed:
            failure = self._host.failure  # what stopped a service that opened on first use
            if failure is not None:
                raise ServiceClosedError("the service is closed") from failure
            raise ServiceClosedError("the service is closed")
        how = "use 'async with AsyncRuntimeService(...)'"
        if asyncio_running():
            how += ", or await one of its methods first (it opens on its first use)"
        raise ServiceClosedError(f"the service is not open: {how}")

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

    @property
    def client(self) -> RuntimeClient:
        """The typed REST client (``client.jobs``, ``.sessions``, ``.backends``, ``.usage``).

        Open only inside the ``async with`` block; what the service's own methods call.
        """
        return self._core_or_raise().client

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
        stats = core.client.statistics()
        for key in ("submitted", "reconciled", "resubmitted", "lookups", "rejected", "ambiguous"):
            stats[key] = core.counters[key]
        assert self._watcher is not None
        for key, value in self._watcher.statistics().items():
            stats[f"watcher.{key}"] = value
        stats["limiter.waits"] = core.limiter.waits
        return stats

    # --- journal -------------------------------------------------------------------------------

    async def _open_journal(self) -> Journal:
        journal = (await self._open_core()).journal
        if journal is None:
            raise RuntimeError("this service has no journal: AsyncRuntimeService(journal=path)")
        return journal

    async def journal_entries(self, *, unfinished_only: bool = False) -> list[JournalEntry]:
        """The journal's job rows, oldest first (``state``: submitting, submitted, settled,
        rejected, not_found)."""
        return await (await self._open_journal()).entries(unfinished_only=unfinished_only)

    async def journal_sessions(self) -> list[JournalSession]:
        """The sessions and batches the journal recorded (``state``: open, closed, cancelled)."""
        return await (await self._open_journal()).sessions()

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
        core = await self._open_core()
        journal = await self._open_journal()
        watcher = self._watcher_or_raise()
        entries = await journal.entries(unfinished_only=True)
        found: dict[str, JournalEntry] = {e.client_tag: e for e in entries if e.job_id}
        limiter = anyio.CapacityLimiter(8)

        async def look_up_one(entry: JournalEntry) -> None:
            async with limiter:
                resolved = await look_up(core, journal, entry)
            if resolved is not None:
                found[entry.client_tag] = resolved

        await run_concurrently(
            functools.partial(look_up_one, entry) for entry in entries if not entry.job_id
        )
        jobs: list[AsyncRuntimeJob] = []
        for entry in entries:
            resolved = found.get(entry.client_tag)
            if resolved is None or resolved.job_id is None:
                continue
            # A job still live in this service is returned as the same object.
            live = self._live.get(entry.client_tag)
            jobs.append(live if live is not None else reattach(core, watcher, resolved))
        logger.info("resume: %d unfinished jobs re-attached", len(jobs))
        return jobs

    # --- backends ------------------------------------------------------------------------------

    async def _device_list(self, include_mocks: bool = False) -> tuple[BackendListEntry, ...]:
        core = await self._open_core()
        devices = await core.client.backends.list(include_mocks=include_mocks)
        return devices.devices

    async def _list_entry(self, name: str) -> BackendListEntry | None:
        for entry in await self._device_list(include_mocks=name.startswith("mock_")):
            if entry.name == name:
                return entry
        return None

    def _check_instance(self, instance: str | None) -> None:
        if instance is not None and instance != self.instance:
            raise InvalidInputError(
                f"this service works for instance {self.instance!r}, not {instance!r}: open "
                "another AsyncRuntimeService(instance=...) for it"
            )

    async def backend(
        self,
        name: str,
        instance: str | None = None,
        use_fractional_gates: bool | None = False,
        calibration_id: str | None = None,
    ) -> ServiceBackend:
        """The device ``name`` (list entry, configuration and properties read once, cached).

        ``use_fractional_gates=False`` (the official default) leaves ``rzz``/``rx`` out of the
        target, ``True`` requires the device to have them, ``None`` keeps what it has.
        ``calibration_id`` builds it from that calibration (an unknown id is the service's error).
        """
        await self._open_core()
        self._check_instance(instance)
        key = (name, use_fractional_gates, calibration_id)
        backend = self._backend_cache.get(key)
        if backend is None:
            lock = self._backend_locks.setdefault(key, anyio.Lock())
            async with lock:  # concurrent callers share one fetch
                backend = self._backend_cache.get(key)
                if backend is None:
                    backend = await self._fetch_backend(
                        name, None, use_fractional_gates, calibration_id
                    )
                    self._backend_cache[key] = backend
        if use_fractional_gates and not _has_fractional_gates(backend):
            raise InvalidInputError(
                f"Backend {name!r} does not support fractional gates, but "
                "use_fractional_gates was set to True."
            )
        return backend

    async def _fetch_backend(
        self,
        name: str,
        entry: BackendListEntry | None,
        use_fractional_gates: bool | None = False,
        calibration_id: str | None = None,
    ) -> ServiceBackend:
        found: list[BackendListEntry | None] = [entry]

        async def read_entry() -> None:
            if found[0] is None:
                found[0] = await self._list_entry(name)

        documents: list[BackendDocuments] = []

        async def read_documents() -> None:
            documents.append(await fetch_documents(self, name, None, calibration_id))

        await run_concurrently((read_entry, read_documents))
        (docs,) = documents
        listed = found[0]
        # Building the Target is CPU work: keep it off the loop.
        backend: ServiceBackend = await self._core_or_raise().offload.run(
            lambda: ServiceBackend(
                docs.configuration,
                docs.properties,
                service=self,
                list_entry=dict(listed.raw) if listed is not None else None,
                calibration_id=calibration_id,
                use_fractional_gates=use_fractional_gates,
            )
        )
        return backend

    async def backends(
        self,
        name: str | None = None,
        min_num_qubits: int | None = None,
        instance: str | None = None,
        dynamic_circuits: bool | None = None,
        filters: Callable[[ServiceBackend], bool] | None = None,
        *,
        use_fractional_gates: bool | None = False,
        calibration_id: str | None = None,
        include_mocks: bool = False,
        **kwargs: Any,
    ) -> list[ServiceBackend]:
        """Devices of the instance matching every criterion given, as the official filters them.

        ``kwargs`` are configuration or status attributes that must equal the value given
        (``simulator=False``, ``operational=True``, ``n_qubits=5``...); an attribute no device
        has is refused. ``filters(backend)`` may call ``backend.status()`` (no I/O: the status
        read at listing). ``use_fractional_gates=True`` keeps only devices that have them.
        """
        await self._open_core()
        self._check_instance(instance)
        entries = [
            e for e in await self._device_list(include_mocks) if include_mocks or not e.is_mock
        ]
        if name is not None:
            entries = [e for e in entries if e.name == name]
        if min_num_qubits is not None:
            entries = [e for e in entries if (e.qubits or 0) >= min_num_qubits]
        if kwargs.get("operational") is not None:
            entries = [e for e in entries if e.is_online == kwargs["operational"]]
        if kwargs.get("simulator") is not None and all(e.is_simulator is not None for e in entries):
            entries = [e for e in entries if e.is_simulator == kwargs["simulator"]]
        found: dict[str, ServiceBackend] = {}

        async def load(entry: BackendListEntry) -> None:
            backend = await self._cached_backend(entry, use_fractional_gates, calibration_id)
            found[entry.name] = backend

        await run_concurrently(functools.partial(load, entry) for entry in entries)
        result = [found[e.name] for e in entries]
        if min_num_qubits is not None:
            result = [b for b in result if b.num_qubits >= min_num_qubits]
        if dynamic_circuits is not None:
            result = [
                b
                for b in result
                if ("dynamic_circuits" in b.raw_configuration.get("supported_features", []))
                == dynamic_circuits
            ]
        if use_fractional_gates:
            result = [b for b in result if _has_fractional_gates(b)]
        result = _filter_by_attributes(result, kwargs)
        if filters is not None:
            result = [b for b in result if filters(b)]
        return result

    async def _cached_backend(
        self,
        entry: BackendListEntry,
        use_fractional_gates: bool | None,
        calibration_id: str | None,
    ) -> ServiceBackend:
        key = (entry.name, use_fractional_gates, calibration_id)
        lock = self._backend_locks.setdefault(key, anyio.Lock())
        async with lock:
            cached = self._backend_cache.get(key)
            if cached is None:
                cached = await self._fetch_backend(
                    entry.name, entry, use_fractional_gates, calibration_id
                )
                self._backend_cache[key] = cached
            else:
                cached._list_entry = dict(entry.raw)  # a fresh status and queue length
                cached._status = cached._status_from_entry(cached._list_entry)
            return cached

    async def least_busy(
        self,
        min_num_qubits: int | None = None,
        instance: str | None = None,
        filters: Callable[[ServiceBackend], bool] | None = None,
        use_fractional_gates: bool | None = False,
        **kwargs: Any,
    ) -> ServiceBackend:
        """The online device with the shortest queue among those matching the criteria.

        The criteria are those of :meth:`backends` (``operational=True, simulator=False``...).
        Mock devices are never chosen.
        """
        await self._open_core()
        self._check_instance(instance)
        entries = [e for e in await self._device_list() if e.is_online and not e.is_mock]
        if min_num_qubits is not None:
            entries = [e for e in entries if (e.qubits or 0) >= min_num_qubits]
        if filters is not None or kwargs:
            matching = await self.backends(
                min_num_qubits=min_num_qubits,
                filters=filters,
                use_fractional_gates=use_fractional_gates,
                **kwargs,
            )
            names = {b.name for b in matching}
            entries = [e for e in entries if e.name in names]
        for entry in sorted(entries, key=lambda e: e.queue_length):
            try:
                return await self.backend(entry.name, use_fractional_gates=use_fractional_gates)
            except (NotFoundError, InvalidInputError):
                continue
        raise QRuntimeError("No backend matches the criteria.")

    # --- jobs ----------------------------------------------------------------------------------

    def _state_of(self, item: Job) -> JobState[AsyncRuntimeJob]:
        """A new handle's state, seeded with what the service said (the watcher takes it on)."""
        state: JobState[AsyncRuntimeJob] = JobState(
            item.id,
            watcher=self._watcher_or_raise(),
            backend_name=item.backend,
            program_id=item.program_id,
            session_id=item.session_id,
            tags=item.tags,
        )
        state.apply(item)
        AsyncRuntimeJob(state, core=self._core_or_raise())
        return state

    async def job(self, job_id: str) -> AsyncRuntimeJob:
        """The job ``job_id``, attached to the service's watcher (one ``GET /jobs/{id}``).

        A pending job is watched until final; a final one has its outcome fetched now.
        """
        item = await (await self._open_core()).client.jobs.get(job_id)
        state = self._state_of(item)
        watcher = self._watcher_or_raise()
        if is_final(state.status):
            await watcher.settle_now(state, item)
        else:
            watcher.track(state)
        assert state.handle is not None
        return state.handle

    async def jobs(
        self,
        limit: int | None = 10,
        skip: int = 0,
        backend_name: str | None = None,
        pending: bool | None = None,
        program_id: str | None = None,
        instance: str | None = None,
        job_tags: Sequence[str] | None = None,
        session_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        descending: bool = True,
        include_mocks: bool = False,
    ) -> list[AsyncRuntimeJob]:
        """Jobs of the instance, newest first, paging as the official client does.

        ``job_tags``: jobs carrying every one of these tags. Jobs of mock (dry-run) devices are
        left out unless ``include_mocks``. Pending ones are watched; finished ones fetch their
        result when first awaited.
        """
        client = (await self._open_core()).client
        self._check_instance(instance)
        tags = job_tags
        collected: list[Job] = []
        offset = skip
        page_limit = min(limit, _PAGE_CAP) if limit else _UNLIMITED_PAGE
        while True:
            page = await client.jobs.list(
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
                include_mocks=include_mocks,
            )
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
        states = [self._state_of(item) for item in collected]
        watcher = self._watcher_or_raise()
        for state in states:
            if not is_final(state.status):
                watcher.track(state)
        return [state.handle for state in states if state.handle is not None]

    async def delete_job(self, job_id: str) -> None:
        """Delete a finished job (``DELETE /jobs/{id}``)."""
        await (await self._open_core()).client.jobs.delete(job_id)

    async def usage(self) -> Usage:
        """The instance's usage (``GET /instances/usage``)."""
        return await (await self._open_core()).client.usage.get()


_NO_ACCOUNT_WARNING = (
    "no IBM Quantum account is configured (no arguments, no QISKIT_IBM_* variables, no saved "
    "account): using the embedded local server. To reach IBM, pass token= and instance= or set "
    "QISKIT_IBM_TOKEN and QISKIT_IBM_INSTANCE."
)


def _check_lookup_not_needed(choice: AccountChoice) -> None:
    """``region``/``plans_preference``/``tags`` only matter when an instance is looked up."""
    if not (choice.instance or os.environ.get("QISKIT_IBM_INSTANCE")):
        raise InvalidInputError(
            "region=, plans_preference= and tags= choose an instance by looking it up, which "
            "aioqruntime does not do: pass instance='crn:...' (or set QISKIT_IBM_INSTANCE)"
        )


def _has_fractional_gates(backend: ServiceBackend) -> bool:
    configuration = backend.raw_configuration
    names = [
        *configuration.get("basis_gates", []),
        *configuration.get("supported_instructions", []),
    ]
    return any(is_fractional_gate_name(str(n)) for n in names)


def _filter_by_attributes(
    backends: list[ServiceBackend], criteria: Mapping[str, Any]
) -> list[ServiceBackend]:
    """``simulator=False``-style filters on configuration, then status, attributes."""
    if not criteria or not backends:
        return backends
    status_names = set(backends[0].status().to_dict())
    for key, value in criteria.items():
        if all(key in b.raw_configuration for b in backends):
            backends = [b for b in backends if b.raw_configuration.get(key) == value]
        elif key in status_names:
            backends = [b for b in backends if getattr(b.status(), key) == value]
        elif any(key in b.raw_configuration for b in backends):
            backends = [b for b in backends if b.raw_configuration.get(key, _ABSENT) == value]
        else:
            raise InvalidInputError(
                f"no backend has a configuration or status attribute {key!r} to filter on"
            )
    return backends


_ABSENT = object()


def _abandoned(job_id: str) -> QRuntimeError:
    return SessionClosedError(
        f"stopped watching job {job_id}: its service or session was closed before it "
        "finished. The job itself was not cancelled; find it again with service.job(id)."
    )
