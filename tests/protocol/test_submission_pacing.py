"""SubmissionPacing: the gate of a 429, the rule it learns, against the server's own limiter.

Time is simulated (discrete events over an injected clock): nothing sleeps.
"""

from __future__ import annotations

import heapq
import itertools
import random
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
    service_time: float = 0.0,
    faults: float = 0.0,
    fault_retry_after: float = 0.05,
    arrival_interval: float = 0.0,
) -> Outcome:
    """``jobs`` submissions all wanted at t=0 against the server's limiter (its 429 rounding).

    A request reaches the server when sent; an acceptance arrives ``latency`` later, a 429
    ``refusal_latency`` later (quicker: nothing is created). The server handles one request at a
    time for ``service_time`` each, and refuses a ``faults`` share of them at random (seeded)
    with a 429 of its own (``fault_retry_after``): not its limit. Submission ``i`` is wanted at
    ``i * arrival_interval`` (all at once by default). Waiters whose reservation
    predates a change give it back and reserve again (what the async limiter does).
    """
    chance = random.Random(7)
    free_at = 0.0
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
        heapq.heappush(events, (job * arrival_interval, next(order), "want", job, 0.0, 0.0))
    while events:
        now, _, kind, job, sent, retry_after = heapq.heappop(events)
        clock[0] = now
        if kind == "want":
            queue(job, now)
            continue
        if kind == "send":
            if waiting.get(job) != now:
                continue  # a reservation given back after a change
            del waiting[job]
            handled = clock[0] = max(now, free_at)
            free_at = handled + service_time
            wait = server.try_acquire("user")
            answered = free_at + latency
            if faults and chance.random() < faults:
                heapq.heappush(events, (answered, next(order), "429", job, now, fault_retry_after))
            elif wait is None:
                outcome.accepted_at.append(handled)
                heapq.heappush(events, (answered, next(order), "ok", job, now, 0.0))
            else:
                hint = float(server.retry_after_header(wait))
                answered = free_at + refusal
                heapq.heappush(events, (answered, next(order), "429", job, now, hint))
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


def burst(pacing: SubmissionPacing, accepted: list[float], refused: float, wait: float) -> None:
    """Submissions taken at ``accepted``, then a 429 at ``refused`` saying ``wait``."""
    for at in accepted:
        pacing.accepted(at)
    pacing.rejected(refused, wait)


def test_a_lone_429_only_holds_submissions() -> None:
    pacing = SubmissionPacing()
    assert pacing.reserve(5.0) == 5.0 and pacing.rule is None
    burst(pacing, [5.0, 5.1, 5.2], 10.0, 2.5)  # one 429 may be a fault: nothing learned
    assert pacing.rule is None and not pacing.learned and pacing.generation == 1
    assert pacing.reserve(10.5) == 12.5
    assert pacing.reserve(13.0) == 13.0


def test_successive_429s_teach_the_window() -> None:
    pacing = SubmissionPacing()
    burst(pacing, [0.0, 0.1, 0.2], 0.3, 1.0)  # the service takes the next one at 1.3
    assert pacing.rule is None
    burst(pacing, [1.3, 1.3, 1.3], 1.31, 1.0)  # and again: 3, then the next at 2.31
    rule = pacing.rule
    assert pacing.learned and rule is not None and rule.limit == 3
    assert 1.0 <= rule.window <= 1.1
    slots = [pacing.reserve(1.4) for _ in range(4)]
    assert slots[0] >= 2.31  # the gate
    # Then the learned rule: never more than 3 in any learned window.
    assert slots[3] >= slots[0] + rule.window - 0.01


def test_learned_rules_only_tighten_and_a_stricter_configured_rule_stays() -> None:
    pacing = SubmissionPacing()
    burst(pacing, [0.0, 0.01, 0.02, 0.03, 0.04], 0.05, 10.0)
    burst(pacing, [10.05 + i * 0.01 for i in range(5)], 10.1, 10.0)
    loose = pacing.rule
    assert loose is not None and loose.limit == 5
    # Long after (those out of the lookback): 429s, two taken, 429s again: a stricter rule.
    burst(pacing, [], 100.1, 10.0)
    burst(pacing, [110.1, 110.2], 110.3, 30.0)
    assert pacing.rule is not None and pacing.rule.per_second < 0.8 * loose.per_second
    stricter = pacing.rule
    burst(pacing, [150.0, 150.1, 150.2], 150.3, 0.1)  # 3 in about 0.4 s: looser, ignored
    assert pacing.rule is stricter

    configured = SlidingWindowLimit(1, 60.0)
    pacing = SubmissionPacing(configured)
    assert pacing.reserve(0.0) == 0.0
    burst(pacing, [0.0], 0.5, 1.0)
    assert pacing.reserve(1.6) == 60.0
    burst(pacing, [60.0], 60.5, 1.0)  # 1 per ~1.5 s is looser than 1 per 60 s
    assert pacing.rule is configured and not pacing.learned
    assert pacing.reserve(61.6) >= 120.0


def test_a_429_the_record_contradicts_teaches_nothing() -> None:
    pacing = SubmissionPacing()
    # The service took 5 within 0.1 s (then a lone 429: a gate only)...
    burst(pacing, [0.0, 0.02, 0.04, 0.06, 0.08], 0.1, 1.0)
    # ...so "1 per 1.1 s" is not its limit (a fault, another client's use).
    burst(pacing, [5.0], 5.1, 1.0)
    assert pacing.rule is None and not pacing.learned
    assert pacing.reserve(5.2) == 6.1  # the 429 is still waited out
    assert pacing.reserve(6.5) == 6.5


def test_acceptances_answered_after_the_429_count_by_their_send_time() -> None:
    pacing = SubmissionPacing()
    burst(pacing, [], 0.0, 0.5)  # an earlier 429: the next episode teaches
    pacing.rejected(0.52, 1.0, sent_at=0.51)  # refusals are answered first (nothing created)
    assert pacing.rule is None  # nothing accepted yet: only the gate
    pacing.rejected(0.53, 1.0, sent_at=0.512)  # the same burst: one episode
    for sent in (0.5, 0.502, 0.504):  # the creations sent before them answer later
        pacing.accepted(0.7, sent_at=sent)
    assert pacing.learned and pacing.rule is not None and pacing.rule.limit == 3
    pacing.accepted(0.75, sent_at=0.6)  # sent after the refused ones: not in that window
    assert pacing.rule.limit == 3 and pacing.rejections == 3
    assert pacing.reserve(0.8) >= 1.53


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
def test_a_burst_without_client_rule_draws_429s_twice_then_none(
    limit: int, window: float, jobs: int, latency: float, quick_refusals: bool
) -> None:
    refusal = latency / 20 if quick_refusals else latency
    outcome = simulate(limit, window, jobs, latency=latency, refusal_latency=refusal)
    assert len(outcome.accepted_at) == jobs
    # The first burst is refused (a gate), the second teaches the rule (so is refused too), and
    # from then on the learned rule keeps within the limit.
    assert outcome.rejections == max(0, jobs - limit) + max(0, jobs - 2 * limit)
    if jobs > 2 * limit:
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
    assert outcome.rejections == 14  # the configured bursts of 10 twice, 3 of each taken
    assert outcome.pacing.learned and outcome.pacing.rule is not None
    assert outcome.pacing.rule.limit == 3


def test_random_429s_that_are_not_a_limit_do_not_slow_submissions_down_for_good() -> None:
    # No limit to speak of (a huge one), a server taking 100 submissions/s, 5 % refused at
    # random: every refusal is waited out, but none may ratchet the pace down.
    steady = {"service_time": 0.005, "arrival_interval": 0.01}  # wanted at 100/s
    calm = simulate(10_000, 60.0, 400, **steady)
    noisy = simulate(10_000, 60.0, 400, faults=0.05, **steady)
    assert len(noisy.accepted_at) == 400 and noisy.rejections > 10
    assert max(noisy.accepted_at) < 2 * max(calm.accepted_at)  # simulated time, not wall time
