"""The public surface: every name in ``aioqruntime.__all__`` resolves, the list is sorted, and
importing the package stays cheap (qiskit, numpy and aiohttp load only on first use)."""

from __future__ import annotations

import subprocess
import sys

import aioqruntime
from aioqruntime import QRuntimeError


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert list(aioqruntime.__all__) == sorted(aioqruntime.__all__)
    for name in aioqruntime.__all__:
        assert getattr(aioqruntime, name) is not None, name


def test_fixed_public_names_exist() -> None:
    for name in (
        "AsyncRuntimeService",
        "AsyncSession",
        "AsyncBatch",
        "AsyncSampler",
        "AsyncEstimator",
        "AsyncRuntimeJob",
        "as_completed",
        "LocalRuntimeServer",
    ):
        assert name in aioqruntime.__all__


def test_every_exception_has_the_one_root() -> None:
    exceptions = [
        getattr(aioqruntime, name)
        for name in aioqruntime.__all__
        if isinstance(getattr(aioqruntime, name), type)
        and issubclass(getattr(aioqruntime, name), BaseException)
    ]
    assert len(exceptions) > 20
    for exc in exceptions:
        if issubclass(exc, Warning):
            continue
        assert issubclass(exc, QRuntimeError), exc


def test_import_is_cheap() -> None:
    code = (
        "import sys, aioqruntime; "
        "print(sorted(m for m in ('qiskit', 'numpy', 'aiohttp', 'anyio') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"
