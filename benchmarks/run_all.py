"""Run every benchmark and print the README "Benchmarks" table (``python -m benchmarks``).

Each benchmark runs as its own process (each starts its own ``aioqruntime serve`` subprocess
where it needs a server) and writes its figures as JSON; this script prints the machine and
versions, the raw output of each run, and then the Markdown table the README shows.
``--readme`` also rewrites that table in README.md (between the ``benchmarks-table`` markers).

    python -m benchmarks [--quick] [--readme]

``--quick`` runs the 2,000-job throughput case for aioqruntime only and traces the heap on
2,000 pending jobs instead of 10,000: about eight minutes in all instead of twelve on a 2-core
machine (each benchmark alone takes two minutes at most).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
BEGIN, END = "<!-- benchmarks-table:begin -->", "<!-- benchmarks-table:end -->"
# Benchmarks other engineers own: run when present, their output shown as it is.
OTHERS = ("server.py", "soak.py", "executor.py")


def run(script: str, *args: str, attempts: int = 3) -> Any:
    """Run ``benchmarks/<script> *args --json FILE``; its output is echoed, its JSON returned.

    A failed run (its output says why, e.g. a server process that died) is run again, up to
    ``attempts`` times in all, and said so.
    """
    for attempt in range(1, attempts + 1):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "figures.json"
            argv = [sys.executable, str(HERE / script), *args, "--json", str(out)]
            print(f"\n$ python benchmarks/{script} {' '.join(args)}", flush=True)
            done = subprocess.run(argv, check=False, cwd=HERE)
            if done.returncode == 0:
                return json.loads(out.read_text())
            print(
                f"run_all: {script} failed (exit {done.returncode}), attempt {attempt}", flush=True
            )
    raise RuntimeError(f"{script} {' '.join(args)} failed {attempts} times")


def _x(value: float) -> str:
    return f"{value:.2f}×" if value < 10 else f"{value:.0f}×"


def codec_rows(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for row in rows:
        ratios = row["ratios"]
        out.append(
            f"| {row['case'][4:]} | {row['ours'] * 1000:.1f} ms | {row['official'] * 1000:.1f} ms "
            f"| {_x(row['ratio'])} ({min(ratios):.2f}–{max(ratios):.2f}) |"
        )
    return out


def throughput_rows(runs: list[dict[str, Any]], label: str) -> list[str]:
    ours, *others = runs
    out = []
    for other in others:
        name = other["client"]
        cpu = _x(other["cpu_ms_per_job"] / ours["cpu_ms_per_job"])
        resolve = _x(other["resolve_p50_ms"] / ours["resolve_p50_ms"])
        out += [
            f"| {label}: wall / bound (official: {name}) | {ours['wall_s']:.1f} s / "
            f"{ours['bound_s']:.1f} s = {ours['wall_over_bound']:.3f} | {other['wall_s']:.1f} s / "
            f"{other['bound_s']:.1f} s = {other['wall_over_bound']:.3f} "
            f"| {_x(other['wall_over_bound'] / ours['wall_over_bound'])} |",
            f"| {label}: HTTP requests per job | {ours['requests_per_job']:.2f} "
            f"| {other['requests_per_job']:.2f} "
            f"| {_x(other['requests_per_job'] / ours['requests_per_job'])} |",
            f"| {label}: client CPU per job | {ours['cpu_ms_per_job']:.1f} ms "
            f"| {other['cpu_ms_per_job']:.1f} ms | {cpu} |",
            f"| {label}: resolve latency p50 / p99 | {ours['resolve_p50_ms']:.0f} / "
            f"{ours['resolve_p99_ms']:.0f} ms | {other['resolve_p50_ms']:.0f} / "
            f"{other['resolve_p99_ms']:.0f} ms | {resolve} |",
            f"| {label}: status requests per second | {ours['status_requests_per_s']:.1f} "
            f"| {other['status_requests_per_s']:.1f} | |",
        ]
    if not others:
        out.append(
            f"| {label}: wall / bound, req/job, CPU/job, resolve p50/p99, status req/s | "
            f"{ours['wall_over_bound']:.3f}, {ours['requests_per_job']:.2f}, "
            f"{ours['cpu_ms_per_job']:.1f} ms, {ours['resolve_p50_ms']:.0f}/"
            f"{ours['resolve_p99_ms']:.0f} ms, {ours['status_requests_per_s']:.1f}/s "
            "| (not run) | |"
        )
    return out


def memory_rows(plain: dict[str, Any], heap: dict[str, Any] | None) -> list[str]:
    n = f"{plain['jobs']:,}"
    out = [
        f"| {n} pending jobs (job mode): RSS per job | {plain['rss_kib_per_job']:.1f} KiB | "
        "no counterpart | |",
        f"| same: polling requests/s; tasks alive | {plain['poll_requests_per_s']:.1f}/s; "
        f"{plain['tasks_alive']} | no counterpart | |",
        f"| same: submissions/s, {plain['in_flight']} in flight | "
        f"{plain['submit_jobs_per_s']:.0f}/s | no counterpart | |",
    ]
    if heap is not None:
        out.insert(
            1,
            f"| same: Python heap per job (tracemalloc, {heap['jobs']:,} jobs) | "
            f"{heap['heap_kib_per_job']:.1f} KiB "
            "| no counterpart | |",
        )
    return out


def variational_rows(runs: list[dict[str, Any]], label: str) -> list[str]:
    ours, *officials = runs
    return [
        f"| {label} vs {o['name']}: jobs, wall | {ours['jobs']}, {ours['seconds']:.1f} s "
        f"| {o['jobs']}, {o['seconds']:.1f} s | "
        f"{_x(o['jobs'] / ours['jobs'])}, {_x(o['seconds'] / ours['seconds'])} |"
        for o in officials
    ]


def loop_lag_rows(runs: list[dict[str, Any]]) -> list[str]:
    by_name = {r["name"]: r for r in runs}
    sdk, idle = by_name.get("sdk"), by_name["idle"]
    if sdk is None:
        return []
    return [
        f"| event-loop lag while the SDK settles {sdk['done']} jobs, p50 / p99 (idle) | "
        f"{sdk['p50_ms']:.2f} / {sdk['p99_ms']:.1f} ms ({idle['p50_ms']:.2f} / "
        f"{idle['p99_ms']:.1f}) | no counterpart | |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--readme", action="store_true", help="rewrite the README table")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from _harness import machine

    header = machine()
    print(header, flush=True)
    rows: list[str] = []
    big = ["--jobs", "2000", "--latency", "0.05"] + (["--skip-official"] if args.quick else [])
    heap_jobs = "2000" if args.quick else "10000"
    steps: list[Callable[[], list[str]]] = [
        lambda: codec_rows(run("codec.py")),
        lambda: throughput_rows(
            run("throughput.py", "--jobs", "200", "--latency", "0.05"), "200 jobs, 50 ms"
        ),
        lambda: throughput_rows(
            run("throughput.py", "--jobs", "200", "--latency", "0.02"), "200 jobs, 20 ms"
        ),
        lambda: throughput_rows(
            run(
                "throughput.py",
                "--jobs",
                "200",
                "--latency",
                "0.02",
                "--poll-rps",
                "25",
                "--skip-official",
            ),
            "200 jobs, 20 ms, our status budget raised to 25/s",
        ),
        lambda: throughput_rows(run("throughput.py", *big), "2,000 jobs, 50 ms"),
        lambda: memory_rows(
            run("memory.py", "--jobs", "10000"), run("memory.py", "--jobs", heap_jobs, "--heap")
        ),
        lambda: variational_rows(
            run("variational.py"), "50 SPSA iterations, 5 jobs/min (30× time scale)"
        ),
        lambda: variational_rows(
            run("variational.py", "--optimizers", "8", "--iterations", "10"),
            "8 concurrent SPSA runs × 10 iterations, packed, 5 jobs/min (30×)",
        ),
        lambda: loop_lag_rows(run("loop_lag.py", "--docs", "0")),
    ]
    for step in steps:
        rows += step()
    for script in OTHERS:
        if (HERE / script).exists():
            print(f"\n$ python benchmarks/{script}", flush=True)
            subprocess.run([sys.executable, str(HERE / script)], check=False, cwd=HERE)
    table = "\n".join(
        [
            f"Measured with `python -m benchmarks` on: {header}.",
            "",
            "| benchmark | aioqruntime | official 0.51.0 | official/ours |",
            "|---|---|---|---|",
            *rows,
        ]
    )
    print("\n" + table)
    if args.readme:
        text = README.read_text()
        start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
        README.write_text(text[:start] + "\n" + table + "\n" + text[stop:])
        print(f"\n{README} updated")


if __name__ == "__main__":
    main()
