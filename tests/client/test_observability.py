"""What a user sees of long waits: the progress bar of ``as_completed`` and the log lines."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

import pytest

from aioqruntime import AsyncRuntimeJob, AsyncSampler, AsyncSession, as_completed
from aioqruntime.server import FaultRule
from tests.client._helpers import local_service, x_pattern


class FakeTerminal(io.StringIO):
    """A stream that says it is a terminal (what ``progress=None`` looks for)."""

    def isatty(self) -> bool:
        return True


async def _consume(jobs: list[AsyncRuntimeJob], **kwargs: object) -> int:
    seen = 0
    async for job in as_completed(jobs, **kwargs):  # type: ignore[arg-type]
        assert job.settled()
        seen += 1
    return seen


async def test_as_completed_progress_bar_on_a_terminal_only_unless_forced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        server.pause()
        sampler = AsyncSampler(backend)
        jobs = [await sampler.run([x_pattern(i, 3, 5)], shots=2) for i in range(4)]
        server.fail_next_job("ibm_local5")
        server.resume()

        terminal = FakeTerminal()
        assert await _consume(jobs, stream=terminal) == 4  # progress=None: auto, a terminal
        text = terminal.getvalue()
        assert text.startswith("\rjobs [")
        assert text.endswith("\n") and text.count("\n") == 1  # one line, redrawn in place
        last = text.rsplit("\r", 1)[1]
        assert "] 4/4 (1 failed) " in last and last.startswith("jobs [" + "#" * 24 + "]")

        pipe = io.StringIO()  # not a terminal: quiet by default, drawn when forced
        assert await _consume(jobs, stream=pipe) == 4
        assert pipe.getvalue() == ""
        assert await _consume(jobs, progress=True, stream=pipe) == 4
        assert "4/4 (1 failed)" in pipe.getvalue()

        quiet = FakeTerminal()
        assert await _consume(jobs, progress=False, stream=quiet) == 4
        assert quiet.getvalue() == ""

        # The default stream is sys.stderr, looked up when the iterator is made.
        fake_stderr = FakeTerminal()
        monkeypatch.setattr(sys, "stderr", fake_stderr)
        assert await _consume(jobs) == 4
        assert "4/4" in fake_stderr.getvalue()
        no_tty = io.StringIO()
        monkeypatch.setattr(sys, "stderr", no_tty)
        assert await _consume(jobs) == 4
        assert no_tty.getvalue() == ""


async def test_progress_bar_counts_up_while_jobs_finish() -> None:
    async with local_service() as (server, service):
        backend = await service.backend("ibm_local5")
        server.pause()
        sampler = AsyncSampler(backend)
        jobs = [await sampler.run([x_pattern(1, 1, 5)], shots=1) for _ in range(3)]
        terminal = FakeTerminal()
        iterator = as_completed(jobs, stream=terminal)
        server.resume()
        async for _ in iterator:
            pass
        frames = [frame for frame in terminal.getvalue().split("\r") if frame]
        assert frames[0].startswith("jobs [" + "." * 24 + "] 0/3")
        counts = [int(frame.split("] ")[1].split("/")[0]) for frame in frames]
        assert counts == sorted(counts) and counts[-1] == 3


async def test_log_lines_of_a_session_run(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="aioqruntime")
    # One 503 on the first configuration read (seeded): exactly one retry to log.
    faults = (
        FaultRule(path="/backends/ibm_local5/configuration", method="GET", statuses=((503, 0.5),)),
    )
    async with local_service(faults=faults, fault_seed=1) as (server, service):
        backend = await service.backend("ibm_local5")
        async with AsyncSession(backend) as session:
            sampler = AsyncSampler(session)
            good = await sampler.run([x_pattern(1, 1, 5)], shots=2)
            await good
            server.fail_next_job("ibm_local5")
            bad = await sampler.run([x_pattern(1, 1, 5)], shots=2)
            with pytest.raises(Exception, match=bad.job_id()):
                await bad
        assert server.fault_counts.get("503") == 1
        assert service.transport.auth is not None
        bearer = await service.transport.auth.authorization()
        session_id = session.session_id
        assert session_id
    secrets = [server.token, bearer.removeprefix("Bearer ")]
    records = [r for r in caplog.records if r.name.startswith("aioqruntime")]
    messages = [(r.name, r.levelno, r.getMessage()) for r in records]

    def lines(level: int, *parts: str) -> list[str]:
        return [m for _, lv, m in messages if lv == level and all(p in m for p in parts)]

    # Retries at INFO (transport).
    assert len(lines(logging.INFO, "retrying GET", "configuration", "503")) == 1
    # One INFO line per submission, with job id, session id, backend, program and client tag.
    for job in (good, bad):
        assert job.client_tag
        submitted = lines(
            logging.INFO,
            f"submitted job {job.job_id()}",
            f"session {session_id}",
            "backend ibm_local5",
            "program sampler",
            job.client_tag,
        )
        assert len(submitted) == 1, messages
        # State changes at DEBUG, the outcome at INFO (done) or WARNING (failed).
        assert lines(logging.DEBUG, f"job {job.job_id()} (session {session_id})", "->")
    assert lines(logging.INFO, f"job {good.job_id()}", f"session {session_id}", "ended DONE")
    failed = lines(logging.WARNING, f"job {bad.job_id()}", f"session {session_id}", "ERROR")
    assert len(failed) == 1 and "JobFailedError" in failed[0]
    assert lines(logging.INFO, "opened dedicated session", session_id)
    # Never a secret, in any record (message or arguments).
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for secret in secrets:
            assert secret not in text, record


def test_importing_configures_no_logging() -> None:
    code = (
        "import logging, aioqruntime, aioqruntime.runtime, aioqruntime.primitives;"
        "import aioqruntime.transport;"
        "names = [n for n in logging.root.manager.loggerDict if n.startswith('aioqruntime')];"
        "loggers = [logging.getLogger(n) for n in names];"
        "assert not logging.root.handlers, logging.root.handlers;"
        "assert all(not l.handlers and l.propagate and l.level == 0 for l in loggers), names;"
        "print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
