"""The lifecycle table: status mapping, outcomes, session wording, legal transitions."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aioqruntime._exceptions import (
    JobCancelledError,
    JobError,
    JobFailedError,
    JobRanTooLongError,
)
from aioqruntime.protocol import (
    JOB_TRANSITIONS,
    SERVER_JOB_TERMINAL_STATES,
    SESSION_TRANSITIONS,
    JobStatus,
    ServerJobState,
    SessionState,
    can_transition_job,
    can_transition_session,
    is_final,
    is_server_terminal,
    job_outcome,
    job_status_from_server,
    session_status_text,
)


@pytest.mark.parametrize(
    ("server", "code", "expected"),
    [
        ("Queued", None, JobStatus.QUEUED),
        ("QUEUED", None, JobStatus.QUEUED),
        ("running", None, JobStatus.RUNNING),
        ("Completed", None, JobStatus.DONE),
        ("Failed", 1517, JobStatus.ERROR),
        ("Cancelled", None, JobStatus.CANCELLED),
        ("Cancelled", 1305, JobStatus.ERROR),
        ("cancelled", 1305, JobStatus.ERROR),
        ("Completed", 1305, JobStatus.DONE),
        ("Weird", None, "WEIRD"),
        ("Cancelled - Ran too long", None, "CANCELLED - RAN TOO LONG"),
    ],
)
def test_job_status_from_server(server: str, code: int | None, expected: JobStatus | str) -> None:
    assert job_status_from_server(server, code) == expected


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (JobStatus.DONE, True),
        (JobStatus.ERROR, True),
        (JobStatus.CANCELLED, True),
        (JobStatus.QUEUED, False),
        (JobStatus.RUNNING, False),
        (JobStatus.INITIALIZING, False),
        ("DONE", True),
        ("done", True),
        ("WEIRD", False),
    ],
)
def test_is_final(status: JobStatus | str, final: bool) -> None:
    assert is_final(status) is final


def test_server_terminal_set() -> None:
    assert {s.value for s in SERVER_JOB_TERMINAL_STATES} == {"Completed", "Failed", "Cancelled"}
    assert is_server_terminal("completed")
    assert not is_server_terminal("Queued")
    assert not is_server_terminal("Weird")


@pytest.mark.parametrize(
    ("status", "reason", "code", "error_class", "text"),
    [
        ("Failed", "boom", 1517, JobFailedError, "Job j1 has failed:\nError code 1517; boom"),
        ("Failed", "boom", None, JobFailedError, "Job j1 has failed:\nboom"),
        ("Failed", None, None, JobFailedError, "Job j1 has failed."),
        ("Cancelled", None, None, JobCancelledError, "Job j1 was cancelled."),
        (
            "Cancelled",
            "RAN TOO LONG",
            1305,
            JobRanTooLongError,
            "Job j1 ran longer than maximum execution time. Job was cancelled:\n"
            "Error code 1305; RAN TOO LONG",
        ),
    ],
)
def test_job_outcome_errors(
    status: str, reason: str | None, code: int | None, error_class: type[JobError], text: str
) -> None:
    error = job_outcome("j1", status, reason, code)
    assert type(error) is error_class
    assert str(error) == text
    assert (error.job_id, error.status, error.reason, error.reason_code) == (
        "j1",
        status,
        reason,
        code,
    )


def test_job_outcome_uses_results_text_when_no_reason() -> None:
    error = job_outcome("j1", "Failed", error_text="Traceback: x")
    assert str(error) == "Job j1 has failed:\nTraceback: x"


@pytest.mark.parametrize("status", ["Queued", "Running", "Completed", "Weird"])
def test_job_outcome_none_for_success_or_pending(status: str) -> None:
    assert job_outcome("j1", status, "r", 1305) is None


@pytest.mark.parametrize(
    ("state", "accepting", "text"),
    [
        ("open", True, "Pending"),
        ("inactive", False, "Pending"),
        ("active", True, "In progress, accepting new jobs"),
        ("pending_inactive", False, "In progress, accepting new jobs"),
        ("active", False, "In progress, not accepting new jobs"),
        ("active", None, "In progress, not accepting new jobs"),
        ("pending_closed", True, "In progress, not accepting new jobs"),
        ("closed", False, "Closed"),
        ("weird_state", True, "Weird_state"),
        (None, True, None),
        ("", True, None),
    ],
)
def test_session_status_text(state: str | None, accepting: bool | None, text: str | None) -> None:
    assert session_status_text(state, accepting) == text


def test_transition_tables_cover_every_state() -> None:
    assert set(JOB_TRANSITIONS) == set(ServerJobState)
    assert set(SESSION_TRANSITIONS) == set(SessionState)
    for terminal in SERVER_JOB_TERMINAL_STATES:
        assert not JOB_TRANSITIONS[terminal]
    assert not SESSION_TRANSITIONS[SessionState.CLOSED]
    assert can_transition_job(ServerJobState.QUEUED, ServerJobState.RUNNING)
    assert not can_transition_job(ServerJobState.COMPLETED, ServerJobState.RUNNING)
    assert not can_transition_job(ServerJobState.RUNNING, ServerJobState.QUEUED)
    assert can_transition_session(SessionState.OPEN, SessionState.ACTIVE)
    assert not can_transition_session(SessionState.CLOSED, SessionState.OPEN)


def test_every_session_state_can_reach_closed() -> None:
    for start in SessionState:
        reachable, frontier = {start}, [start]
        while frontier:
            for nxt in SESSION_TRANSITIONS[frontier.pop()]:
                if nxt not in reachable:
                    reachable.add(nxt)
                    frontier.append(nxt)
        assert SessionState.CLOSED in reachable


class JobLifecycle(RuleBasedStateMachine):
    """Random walks over the legal job moves keep the client's view consistent."""

    def __init__(self) -> None:
        super().__init__()
        self.state = ServerJobState.QUEUED
        self.reason_code: int | None = None
        self.moves = 0

    @precondition(lambda self: bool(JOB_TRANSITIONS[self.state]))
    @rule(data=st.data(), ran_too_long=st.booleans())
    def move(self, data: st.DataObject, ran_too_long: bool) -> None:
        target = data.draw(st.sampled_from(sorted(JOB_TRANSITIONS[self.state], key=str)))
        assert can_transition_job(self.state, target)
        self.state = target
        self.moves += 1
        if target is ServerJobState.CANCELLED and ran_too_long:
            self.reason_code = 1305

    @precondition(lambda self: not JOB_TRANSITIONS[self.state])
    @rule()
    def next_job(self) -> None:
        self.state, self.reason_code, self.moves = ServerJobState.QUEUED, None, 0

    @invariant()
    def client_view_is_consistent(self) -> None:
        status = job_status_from_server(self.state.value, self.reason_code)
        assert is_final(status) == (self.state in SERVER_JOB_TERMINAL_STATES)
        outcome = job_outcome("j", self.state.value, None, self.reason_code)
        assert (outcome is None) == (status not in (JobStatus.ERROR, JobStatus.CANCELLED))
        if status is JobStatus.ERROR:
            assert isinstance(outcome, (JobFailedError, JobRanTooLongError))
        assert self.moves <= 2  # no path is longer than Queued -> Running -> final


class SessionLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = SessionState.OPEN
        self.accepting = True

    @precondition(lambda self: bool(SESSION_TRANSITIONS[self.state]))
    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(sorted(SESSION_TRANSITIONS[self.state], key=str)))
        assert can_transition_session(self.state, target)
        self.state = target
        if target in (SessionState.PENDING_CLOSED, SessionState.CLOSED):
            self.accepting = False

    @precondition(lambda self: not SESSION_TRANSITIONS[self.state])
    @rule()
    def next_session(self) -> None:
        self.state, self.accepting = SessionState.OPEN, True

    @invariant()
    def status_text_known(self) -> None:
        text = session_status_text(self.state.value, self.accepting)
        assert text in {
            "Pending",
            "In progress, accepting new jobs",
            "In progress, not accepting new jobs",
            "Closed",
        }
        if self.state is SessionState.CLOSED:
            assert text == "Closed"


TestJobLifecycle = JobLifecycle.TestCase
TestSessionLifecycle = SessionLifecycle.TestCase
