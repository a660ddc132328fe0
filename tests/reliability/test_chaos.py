"""Chaos: 500 jobs through faults, lost answers and one server restart; nothing lost or doubled.

Loopback only, bounded. The server injects (seeded) 10 % 5xx, 5 % 429 with ``Retry-After``, dropped
connections and latency on every route the client uses after start-up, and is restarted once in
the middle of the run (state kept in its ``db_path``, same port, new token signing: the client
re-exchanges its key on the 401). A lossy proxy in front loses 5 % of the ``POST /jobs`` answers
after the job was created (half of them held past the client's submit timeout), the truly ambiguous
case. 200 jobs run in job mode, 150 in a dedicated session and 150 in a batch, all at once.

Checked on the server, by client tag: zero lost, zero duplicated. Every job resolves with its
result or a typed error; no task survives the service, and no unclosed-resource warning is emitted.
The figures are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
import warnings
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio

from aioqruntime import AsyncBatch, AsyncSampler, AsyncSession, QRuntimeError
from aioqruntime.protocol import PollSchedule, RetryPolicy
from aioqruntime.runtime import AsyncRuntimeService
from aioqruntime.server import FaultRule, LocalRuntimeServer, ServerConfig
from aioqruntime.transport import Timeouts, TransportConfig
from tests.client._helpers import expected_bitstring, x_pattern
from tests.reliability._proxy import LossyProxy

KEY = "chaos-api-key-0123456789"
PLAN = (("job", "ibm_local5", 200), ("session", "ibm_local27", 150), ("batch", "ibm_local5", 150))
TOTAL = sum(n for _, _, n in PLAN)


def _faults(latency: float) -> tuple[FaultRule, ...]:
    common: dict[str, Any] = {"statuses": ((500, 0.07), (503, 0.03), (429, 0.05)), "drop": 0.03}
    return (
        FaultRule(path="/jobs", method="POST", retry_after=1, **common),
        FaultRule(path="/jobs*", method="GET", latency=latency, **common),
        FaultRule(path="/sessions/*", latency=latency, **common),
        FaultRule(path="/identity/token", statuses=((500, 0.1),)),
    )


def _config(latency: float, seed: int) -> ServerConfig:
    return ServerConfig(workers=0, lanes=2, faults=_faults(latency), fault_seed=seed)


async def test_chaos_500_jobs_nothing_lost_nothing_duplicated(tmp_path: Path) -> None:
    started = time.monotonic()
    db = tmp_path / "server.db"
    port = 0
    servers: list[LocalRuntimeServer] = []
    faults: dict[str, int] = {}
    view: dict[str, int] = {}
    per_tag: dict[str, int] = {}
    jobs: dict[int, Any] = {}
    up = anyio.Event()
    halfway = anyio.Event()
    finished = anyio.Event()
    restarted = anyio.Event()

    async def run_servers() -> None:
        nonlocal port
        async with LocalRuntimeServer(token=KEY, db_path=db, config=_config(0.005, 1)) as first:
            servers.append(first)
            port = first.port
            up.set()
            await halfway.wait()
            for kind, count in first.fault_counts.items():
                faults[kind] = faults.get(kind, 0) + count
        # Restarted on the same port from the same database; latency spikes from now on.
        async with LocalRuntimeServer(
            port=port, token=KEY, db_path=db, config=_config(0.05, 2)
        ) as second:
            servers.append(second)
            restarted.set()
            await finished.wait()
            for kind, count in second.fault_counts.items():
                faults[kind] = faults.get(kind, 0) + count
            # Counted on the server while it runs (it holds every job of both runs).
            view["on_server"] = sum(second.counts().values())
            for job in jobs.values():
                for tag in second.job(job.job_id()).tags:
                    if tag.startswith("aioqruntime:"):
                        per_tag[tag] = per_tag.get(tag, 0) + 1

    outcomes: dict[int, tuple[str, Any]] = {}
    stats: dict[str, int] = {}
    proxy_counts: dict[str, int] = {}
    retry = RetryPolicy(max_attempts=10, initial=0.01, max_delay=0.2, max_retry_after=0.05)
    transport_config = TransportConfig(
        timeouts=Timeouts(submit=5.0, submit_grace=5.0, read=10.0, connect=2.0)
    )

    async with anyio.create_task_group() as servers_group:
        servers_group.start_soon(run_servers)
        await up.wait()
        async with (
            LossyProxy(f"http://127.0.0.1:{port}", lose=0.05, hold=5.5, seed=5) as proxy,
            AsyncRuntimeService(
                token=KEY,
                instance=servers[0].instance,
                url=proxy.url + "/api/v1",
                retry=retry,
                transport_config=transport_config,
                poll_schedule=PollSchedule(job_interval=0.2, session_ceiling=0.5, max_interval=0.5),
                submissions_per_minute=None,
            ) as service,
        ):
            submitted = 0

            async def one(index: int, sampler: AsyncSampler, width: int) -> None:
                nonlocal submitted
                pattern = index % 32
                try:
                    job = await sampler.run([x_pattern(pattern, 5, width)], shots=2)
                except QRuntimeError as exc:
                    outcomes[index] = ("submit-error", exc)
                    return
                jobs[index] = job
                submitted += 1
                if submitted == TOTAL // 2:
                    halfway.set()
                try:
                    result = await job
                except QRuntimeError as exc:
                    outcomes[index] = ("job-error", exc)
                    return
                counts = result[0].data.c.get_counts()
                good = counts == {expected_bitstring(pattern, 5): 2}
                outcomes[index] = ("ok" if good else "wrong-result", counts)

            async with AsyncExitStack() as scopes:
                plan: list[tuple[AsyncSampler, int, int]] = []
                for mode, name, count in PLAN:
                    backend = await service.backend(name)
                    if mode == "session":
                        target: Any = await scopes.enter_async_context(AsyncSession(backend))
                    elif mode == "batch":
                        target = await scopes.enter_async_context(AsyncBatch(backend))
                    else:
                        target = backend
                    plan.append((AsyncSampler(target), count, backend.num_qubits))
                index = 0
                async with anyio.create_task_group() as tg:
                    for sampler, count, width in plan:
                        for _ in range(count):
                            tg.start_soon(one, index, sampler, width)
                            index += 1
            assert restarted.is_set()
            stats = service.statistics()
            proxy_counts = dict(proxy.counts)
        finished.set()

    # --- figures, counted on the server (the restarted one holds every job) ------------------
    on_server = view["on_server"]
    client_tags = {job.client_tag for job in jobs.values()}
    duplicated = (on_server - len({job.job_id() for job in jobs.values()})) + sum(
        n - 1 for n in per_tag.values()
    )
    lost = (
        TOTAL
        - len([o for o in outcomes.values() if o[0] == "ok"])
        - len([o for o in outcomes.values() if o[0] in ("submit-error", "job-error")])
    )
    kinds: dict[str, int] = {}
    for kind, _ in outcomes.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    figures = {
        "jobs": TOTAL,
        "outcomes": kinds,
        "jobs_on_server": on_server,
        "lost": lost,
        "duplicated": duplicated,
        "faults_injected": dict(sorted(faults.items())),
        "proxy": proxy_counts,
        "client": {
            k: v
            for k, v in sorted(stats.items())
            if k.startswith(("retries", "reauth", "iam", "ambiguous", "reconciled", "resub"))
            or k in ("requests", "lookups", "submitted", "rejected")
        },
        "wall_time_s": round(time.monotonic() - started, 1),
    }
    print("\nCHAOS FIGURES " + json.dumps(figures, indent=2))

    assert len(outcomes) == TOTAL  # every future resolved
    for kind, value in outcomes.values():
        assert kind in ("ok", "submit-error", "job-error"), value
        if kind != "ok":
            assert isinstance(value, QRuntimeError)
    assert lost == 0
    assert duplicated == 0
    assert len(client_tags) == len(jobs) == on_server
    assert kinds.get("ok") == TOTAL
    assert stats["reauthentications"] >= 1  # the restarted server signs tokens anew
    assert faults.get("500", 0) and faults.get("429", 0) and faults.get("drop", 0)
    assert proxy_counts.get("answer_lost", 0) > 0

    # --- hygiene -----------------------------------------------------------------------------
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftover == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
