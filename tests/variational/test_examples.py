"""examples/vqe.py and examples/qaoa_maxcut.py run end to end (few iterations, in-process)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from aioqruntime.server import ServerConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def test_vqe_example(capsys: pytest.CaptureFixture[str]) -> None:
    vqe = load("vqe")
    exact, runs = await vqe.run(iterations=3, config=ServerConfig(workers=0))
    assert exact == pytest.approx(-1.857, abs=1e-3)
    ours, naive = runs
    # 3 iterations of 3 points plus the final point: 4 jobs coalesced, 10 one by one.
    assert (ours.jobs, naive.jobs) == (4, 10)
    vqe.report(exact, runs)
    assert "naive / coalesced: jobs x2.5" in capsys.readouterr().out


async def test_qaoa_example(capsys: pytest.CaptureFixture[str]) -> None:
    qaoa = load("qaoa_maxcut")
    optimum, runs = await qaoa.run(iterations=3, config=ServerConfig(workers=0))
    assert optimum == 7
    ours, naive = runs
    # Plus one sampler job each for the final angles.
    assert (ours.jobs, naive.jobs) == (5, 11)
    assert all(0 <= r.likeliest_cut <= r.sampled_cut <= optimum for r in runs)
    qaoa.report(optimum, runs)
    assert "optimum cut 7" in capsys.readouterr().out
