"""SubmissionPacing: the gate of a 429, the rule it learns, against the server's own limiter.

Time is simulated (discrete events over an injected clock): nothing sleeps.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aioqruntime.protocol import SlidingWindowLimit
from aioqruntime.protocol._ratelimit import SubmissionPacing
from aioqruntime.server._limits import SubmissionRateLimiter


@dataclass
class Outcome:
    rejections: int
    accepted_at: list[float] = field(default_factory=list)
    pacing: SubmissionPacing = field(default_factory=SubmissionPacing)


def simulate(
    limit: int,
    window: float,
    jobs: int,
    *,
    latency: float = 0.01,
    refusal_latency: float | None = None,
    configured: SlidingWindowLimit | None = None,
) -> Outcome:
    """``jobs`` submissions all wanted at t=0 against the server's limiter (its 429 rounding).

    A request reaches the server when sent; an acceptance arrives ``latency`` later, a 429
    ``refusal_latency`` later (quicker: nothing is created). Waiters whose reservation predates a
    change give it back and reserve again (what the async limiter does).
    """
    refusal = latency if refusal_latency is None else refusal_latency
    clock = [0.0]
    server = SubmissionRateLimiter(limit, window=window, clock=lambda: clock[0])
    pacing = SubmissionPacing(configured)
    outcome = Outcome(0, pacing=pacing)
    order = itertools.count()
    # (time, order, kind, job, sent at, Retry-After)
    events: list[tuple[float, int, str, int, float, float]] = []
    waiting: dict[int, float] = {}

    def queue(job: int, now: float) -> None:
        slot = pacing.reserve(now)
        waiting[job] = slot
        heapq.heappush(events, (slot, next(order), "send", job, slot, 0.0))

    generation = pacing.generation
    for job in range(jobs):
        queue(job, 0.0)
    while events:
        now, _, kind, job, sent, retry_after = heapq.heappop(events)
        clock[0] = now
        if kind == "send":
            if waiting.get(job) != now:
                continue  # a reservation given back after a change
            del waiting[job]
            wait = server.try_acquire("user")
            if wait is None:
                outcome.accepted_at.append(now)
                heapq.heappush(events, (now + latency, next(order), "ok", job, now, 0.0))
            else:
                hint = float(server.retry_after_header(wait))
                heapq.heappush(events, (now + refusal, next(order), "429", job, now, hint))
            continue
        if kind == "ok":
            pacing.accepted(now, sent)
        else:
            outcome.rejections += 1
            pacing.rejected(now, retry_after, sent)
            queue(job, now)
        if pacing.generation != generation:
            generation = pacing.generation
            stale = list(waiting.items())
            waiting.clear()
            for _, slot in stale:
                pacing.refund(slot)
            for other, _ in stale:
                queue(other, now)
    return outcome


def test_without_a_rule_only_a_429_holds_submissions() -> None:
    pacing = SubmissionPacing()
    assert pacing.reserve(5.0) == 5.0 and pacing.rule is None
    pacing.rejected(10.0, 2.5)  # no submission accepted yet: nothing to learn, only the gate
    assert pacing.rule is None and pacing.generation == 1
    assert pacing.reserve(10.5) == 12.5
    assert pacing.reserve(13.0) == 13.0


def test_a_429_after_a_burst_teaches_the_window() -> None:
    pacing = SubmissionPacing()
    for at in (0.0, 0.1, 0.2):
        pacing.accepted(at)
    pacing.rejected(0.3, 1.0)  # the service takes the next one at 1.3
    rule = pacing.rule
    assert pacing.learned and rule is not None and rule.limit == 3
    assert 1.3 <= rule.window <= 1.4
    first = [pacing.reserve(0.3) for _ in range(4)]
    assert first[0] >= 1.3  # the gate
    # Then the learned rule: never more than 3 in any learned window.
    assert first[3] >= first[0] + rule.window - 0.01


def test_learned_rules_only_tighten_and_a_stricter_configured_rule_stays() -> None:
    pacing = SubmissionPacing()
    for at in range(5):
        pacing.accepted(at * 0.01)
    pacing.rejected(0.05, 10.0)
    loose = pacing.rule
    assert loose is not None and loose.limit == 5
    pacing.accepted(10.1)
    pacing.rejected(10.2, 10.0)  # one taken since the gate opened, then 429 again: stricter
    assert pacing.rule is not None and pacing.rule.per_second < loose.per_second
    pacing.accepted(30.0)
    pacing.accepted(30.1)
    pacing.accepted(30.2)
    stricter = pacing.rule
    pacing.rejected(30.3, 0.1)  # 3 in about 0.4 s would be a looser rule: ignored
    assert pacing.rule is stricter

    configured = SlidingWindowLimit(1, 60.0)
    pacing = SubmissionPacing(configured)
    assert pacing.reserve(0.0) == 0.0
    pacing.accepted(0.0)
    pacing.rejected(0.5, 1.0)  # 1 per ~1.5 s is looser than 1 per 60 s
    assert pacing.rule is configured and not pacing.learned
    assert pacing.reserve(0.6) >= 60.0


def test_acceptances_answered_after_the_429_count_by_their_send_time() -> None:
    pacing = SubmissionPacing()
    pacing.rejected(0.02, 1.0, sent_at=0.01)  # refusals are answered first (nothing created)
    assert pacing.rule is None  # nothing accepted yet: only the gate
    pacing.rejected(0.03, 1.0, sent_at=0.012)  # the same burst: one episode
    for sent in (0.0, 0.002, 0.004):  # the creations sent before them answer later
        pacing.accepted(0.2, sent_at=sent)
    assert pacing.learned and pacing.rule is not None and pacing.rule.limit == 3
    pacing.accepted(0.25, sent_at=0.1)  # sent after the refused ones: not in that window
    assert pacing.rule.limit == 3 and pacing.rejections == 2
    assert pacing.reserve(0.3) >= 1.03


def test_refund_frees_a_reserved_slot() -> None:
    pacing = SubmissionPacing(SlidingWindowLimit(1, 10.0))
    assert pacing.reserve(0.0) == 0.0
    slot = pacing.reserve(0.0)
    assert slot == 10.0
    pacing.refund(slot)
    assert pacing.reserve(1.0) == 10.0  # the freed slot is the next one again, not 20


def test_lookback_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lookback"):
        SubmissionPacing(lookback=0.0)


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(1, 8),
    window=st.sampled_from([0.5, 1.0, 2.5, 7.3, 60.0, 120.0]),
    jobs=st.integers(1, 60),
    latency=st.sampled_from([0.0, 0.001, 0.05, 0.2]),
    quick_refusals=st.booleans(),
)
def test_a_burst_without_client_rule_draws_429s_only_once(
    limit: int, window: float, jobs: int, latency: float, quick_refusals: bool
) -> None:
    refusal = latency / 20 if quick_refusals else latency
    outcome = simulate(limit, window, jobs, latency=latency, refusal_latency=refusal)
    assert len(outcome.accepted_at) == jobs
    # Only the first burst is refused; from then on the learned rule keeps within the limit.
    assert outcome.rejections == max(0, jobs - limit)
    if jobs > limit:
        assert outcome.pacing.learned


@settings(max_examples=60, deadline=None)
@given(limit=st.integers(1, 6), jobs=st.integers(1, 40))
def test_the_services_own_rule_configured_draws_no_429(limit: int, jobs: int) -> None:
    outcome = simulate(limit, 60.0, jobs, configured=SlidingWindowLimit(limit, 60.0))
    assert len(outcome.accepted_at) == jobs
    assert outcome.rejections == 0


def test_a_configured_rule_looser_than_the_service_is_corrected_by_the_first_429s() -> None:
    outcome = simulate(3, 60.0, 30, configured=SlidingWindowLimit(10, 60.0))
    assert len(outcome.accepted_at) == 30
    assert outcome.rejections == 7  # the configured burst of 10, 3 of them taken
    assert outcome.pacing.learned and outcome.pacing.rule is not None
    assert outcome.pacing.rule.limit == 3
