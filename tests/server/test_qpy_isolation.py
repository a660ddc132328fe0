"""Every call into Qiskit's Rust QPY code made by the server's params validation holds
``codec.QPY_LOCK`` (the isolation issue 9 asks for: the server died with SIGSEGV in that code
while validation threads ran QPY concurrently).

The guard replaces ``qiskit.qpy.interface._qpy`` (the Rust module ``qpy.load``/``qpy.dump``
call for QPY >= 13 / >= 17), so it sees every caller: our codec, IBM's wire models, and the QPY
that samplomatic reads inside a samplex.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from qiskit.qpy import interface

from aioqruntime.codec import QPY_LOCK, clear_qpy_cache
from aioqruntime.server._program_executor import parse_program

from .conftest import Api, sampler_body
from .test_executor import executor_body, samplex_params


def _held_by_someone() -> bool:
    """Whether QPY_LOCK is held, asked from another thread (an RLock is reentrant in ours)."""
    free: list[bool] = []

    def probe() -> None:
        acquired = QPY_LOCK.acquire(blocking=False)
        if acquired:
            QPY_LOCK.release()
        free.append(acquired)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return not free[0]


class _GuardedRustQpy:
    """Stands in for the Rust QPY module; records, per load/dump, whether the lock was held."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.calls: list[tuple[str, bool]] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._real, name)
        if name not in ("load", "dump"):
            return target

        def guarded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, _held_by_someone()))
            return target(*args, **kwargs)

        return guarded


@pytest.fixture
def rust_qpy(monkeypatch: pytest.MonkeyPatch) -> Iterator[_GuardedRustQpy]:
    guard = _GuardedRustQpy(interface._qpy)
    monkeypatch.setattr(interface, "_qpy", guard)
    yield guard


def test_a_samplex_item_is_parsed_with_every_qpy_read_locked(rust_qpy: _GuardedRustQpy) -> None:
    params = samplex_params([5, 2])
    rust_qpy.calls.clear()  # building the params wrote QPY here, unlocked (test code)
    program = parse_program(params)
    assert program.items[0].samplex is not None
    # The circuits blob and the samplex's parameter-expression table are both Rust QPY reads.
    assert [name for name, _ in rust_qpy.calls].count("load") >= 2, rust_qpy.calls
    assert all(held for _, held in rust_qpy.calls), rust_qpy.calls


@pytest.mark.parametrize("kind", ["sampler", "executor with a samplex"])
async def test_jobs_are_validated_with_every_rust_qpy_call_locked(
    api: Api, rust_qpy: _GuardedRustQpy, kind: str
) -> None:
    clear_qpy_cache()  # a cached decode would reach no QPY code at all
    body = sampler_body() if kind == "sampler" else executor_body(samplex_params([2]))
    rust_qpy.calls.clear()  # building the body wrote QPY here, unlocked (test code)
    await api.submit(body)  # validated in the server's worker threads, in this process
    assert rust_qpy.calls, "the guard saw no Rust QPY call: it is not where QPY goes"
    assert all(held for _, held in rust_qpy.calls), rust_qpy.calls
