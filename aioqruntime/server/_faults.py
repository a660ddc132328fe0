"""Fault injection per route: latency, 5xx, 429 (``Retry-After``), drops and lost answers.

Spec syntax (``--faults`` and :func:`parse_fault_spec`), rules separated by ``;``::

    [METHOD ]PATH_GLOB:ACTION=VALUE[,ACTION=VALUE...]

* ``METHOD`` is an HTTP method or ``*`` (default ``*``); ``PATH_GLOB`` is an ``fnmatch`` pattern
  matched against the path relative to the API base (``/jobs``, ``/jobs/*``, ``/backends/*/status``)
  and, for the root routes, against the full path (``/identity/token``).
* ``latency=S`` adds S seconds before answering (every matching request). A request that goes on
  to its handler has its body read *before* the wait, so a client that gives up meanwhile does not
  make the request vanish: it is handled as if the answer were lost (see ``drop_after``). That
  wait comes after authentication and the body limit, so a request they refuse is answered
  without it.
* ``<status>=P`` answers with that 4xx/5xx status with probability P (for example ``500=0.1``,
  ``503=0.05``, ``429=0.2``), without running the handler.
* ``drop=P`` closes the connection without an answer with probability P, without running the
  handler: the request had no effect (a connection refused or reset on the way in).
* ``drop_after=P`` ("answer lost") runs the handler — a ``POST /jobs`` creates its job — and then
  closes the connection without sending the answer, with probability P: the truly ambiguous
  failure a client's exactly-once logic must survive.
* ``retry_after=S`` is the ``Retry-After`` sent with injected 429/503 answers (default 1). S may
  be fractional, but HTTP's ``Retry-After`` is a whole number of seconds (RFC 9110 §10.2.3) and
  clients parse it as one, so the header carries S rounded *up*, and at least 1: never earlier
  than asked, and never ``0``, which would invite an immediate retry storm (the service never
  sends it either).

The probabilities of one rule (``drop``, ``drop_after`` and the statuses) must add up to at most 1;
one draw picks at most one of them, in that order.

Example: ``POST /jobs:500=0.1,drop_after=0.1,latency=0.02;GET /jobs/*:429=0.05,retry_after=2``.

The first rule that matches a request applies. One seeded :class:`random.Random` draws every
decision in request order, so replaying the same requests with the same seed injects the
same faults.
"""

from __future__ import annotations

import fnmatch
import math
import random
from collections import Counter
from dataclasses import dataclass

__all__ = [
    "FaultDecision",
    "FaultInjector",
    "FaultRule",
    "parse_fault_spec",
    "retry_after_header",
]


@dataclass(frozen=True)
class FaultRule:
    """One rule: which requests it matches and what it may do to them."""

    path: str
    method: str = "*"
    latency: float = 0.0
    #: ``(status, probability)`` pairs, tried in order with one draw.
    statuses: tuple[tuple[int, float], ...] = ()
    drop: float = 0.0
    #: Probability of running the handler and then dropping the connection (answer lost).
    drop_after: float = 0.0
    retry_after: float = 1.0

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method.upper()):
            return False
        return fnmatch.fnmatchcase(path, self.path)


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request."""

    latency: float = 0.0
    status: int | None = None
    drop: bool = False
    drop_after: bool = False
    retry_after: float = 1.0


def retry_after_header(seconds: float) -> str:
    """The ``Retry-After`` value for ``seconds``: whole seconds rounded up, at least ``1``."""
    return str(max(1, math.ceil(seconds)))


def parse_fault_spec(spec: str) -> tuple[FaultRule, ...]:
    """Parse the ``--faults`` syntax described in the module docstring (``ValueError`` if bad)."""
    rules: list[FaultRule] = []
    for raw in spec.split(";"):
        text = raw.strip()
        if not text:
            continue
        target, sep, actions = text.rpartition(":")
        if not sep or not target.strip():
            raise ValueError(f"fault rule {text!r}: expected '[METHOD ]PATH:ACTION=VALUE,...'")
        parts = target.split()
        if len(parts) == 1:
            method, path = "*", parts[0]
        elif len(parts) == 2:
            method, path = parts[0].upper(), parts[1]
        else:
            raise ValueError(f"fault rule {text!r}: too many words before ':'")
        if not path.startswith("/"):
            raise ValueError(f"fault rule {text!r}: the path must start with '/'")
        latency, drop, drop_after, retry_after = 0.0, 0.0, 0.0, 1.0
        statuses: list[tuple[int, float]] = []
        for action in actions.split(","):
            key, eq, value = action.strip().partition("=")
            if not eq:
                raise ValueError(f"fault rule {text!r}: action {action!r} needs '=VALUE'")
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"fault rule {text!r}: {value!r} is not a number") from None
            if not math.isfinite(number):
                raise ValueError(f"fault rule {text!r}: {key} must be a finite number")
            if number < 0:
                raise ValueError(f"fault rule {text!r}: {key} must not be negative")
            if key == "latency":
                latency = number
            elif key == "drop":
                drop = _probability(text, number)
            elif key == "drop_after":
                drop_after = _probability(text, number)
            elif key == "retry_after":
                retry_after = number
            elif key.isdigit() and 400 <= int(key) <= 599:
                statuses.append((int(key), _probability(text, number)))
            else:
                raise ValueError(f"fault rule {text!r}: unknown action {key!r}")
        if drop + drop_after + sum(p for _, p in statuses) > 1.0 + 1e-9:
            raise ValueError(f"fault rule {text!r}: probabilities add up to more than 1")
        rules.append(
            FaultRule(
                path=path,
                method=method,
                latency=latency,
                statuses=tuple(statuses),
                drop=drop,
                drop_after=drop_after,
                retry_after=retry_after,
            )
        )
    return tuple(rules)


def _probability(rule: str, value: float) -> float:
    if value > 1:
        raise ValueError(f"fault rule {rule!r}: a probability must be within [0, 1]")
    return value


class FaultInjector:
    """Decides, with one seeded RNG, which fault (if any) each request gets, and counts them."""

    def __init__(self, rules: tuple[FaultRule, ...], seed: int) -> None:
        self._rules = list(rules)
        self._rng = random.Random(seed)
        self.counts: Counter[str] = Counter()
        #: ``(method, path, kind)`` of every injected fault, in order, so runs can be compared.
        self.log: list[tuple[str, str, str]] = []

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        return tuple(self._rules)

    def set_rules(self, rules: tuple[FaultRule, ...], seed: int | None = None) -> None:
        """Replace the rules (and re-seed, when given) at run time."""
        self._rules = list(rules)
        if seed is not None:
            self._rng = random.Random(seed)

    def decide(self, method: str, path: str) -> FaultDecision | None:
        for rule in self._rules:
            if rule.matches(method, path):
                break
        else:
            return None
        # One draw per matching request, even when no fault results, keeps replays aligned.
        draw = self._rng.random()
        status: int | None = None
        drop = drop_after = False
        threshold = rule.drop
        if draw < threshold:
            drop = True
        elif draw < (threshold := threshold + rule.drop_after):
            drop_after = True
        else:
            for code, probability in rule.statuses:
                threshold += probability
                if draw < threshold:
                    status = code
                    break
        if rule.latency > 0:
            self._record(method, path, "latency")
        if drop:
            self._record(method, path, "drop")
        elif drop_after:
            self._record(method, path, "drop_after")
        elif status is not None:
            self._record(method, path, str(status))
        if not drop and not drop_after and status is None and rule.latency <= 0:
            return None
        return FaultDecision(
            latency=rule.latency,
            status=status,
            drop=drop,
            drop_after=drop_after,
            retry_after=rule.retry_after,
        )

    def _record(self, method: str, path: str, kind: str) -> None:
        self.counts[kind] += 1
        self.log.append((method, path, kind))
