"""The cooldown rule, applied to per-minute counts of one model (and task). Pure.

A cooldown starts when, over the lookback (the minute of a failure and the whole minutes
before it), there are at least ``min_requests`` requests and the failure rate reaches
``failure_rate``. It lasts ``seconds`` from the end of that minute. Minutes during a
cooldown, and before its end, never count toward the next one: a model coming back gets a
fair trial.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class CooldownRule:
    failure_rate: float = 0.5
    min_requests: int = 5
    lookback_seconds: float = 60
    seconds: float = 1800

    @property
    def lookback_minutes(self) -> int:
        return max(0, int(-(-self.lookback_seconds // 60)))  # whole minutes, rounded up

    @property
    def horizon(self) -> timedelta:
        """How far back counts can still matter to a cooldown running now."""
        return timedelta(seconds=self.seconds) + MINUTE * (self.lookback_minutes + 2)


@dataclass(frozen=True)
class Trip:
    """A cooldown: tripped in the minute starting at ``start``, running until ``until``."""

    start: datetime
    until: datetime


@dataclass(frozen=True)
class MinuteCounts:
    start: datetime
    requests: int
    failures: int


def trips(minutes: Sequence[MinuteCounts], rule: CooldownRule, now: datetime) -> list[Trip]:
    """Every cooldown these counts (oldest first, one per minute) started by ``now``, oldest
    first. Linear in the minutes: the lookback's sums come from running totals."""
    out: list[Trip] = []
    until: datetime | None = None
    lookback = MINUTE * rule.lookback_minutes
    starts = [m.start for m in minutes]
    requests_to = list(itertools.accumulate((m.requests for m in minutes), initial=0))
    failures_to = list(itertools.accumulate((m.failures for m in minutes), initial=0))
    for i, m in enumerate(minutes):
        if m.failures == 0 or m.start > now or (until is not None and m.start < until):
            continue
        low = m.start - lookback if until is None else max(m.start - lookback, until)
        first = bisect.bisect_left(starts, low, 0, i + 1)
        requests = requests_to[i + 1] - requests_to[first]
        failures = failures_to[i + 1] - failures_to[first]
        if requests >= rule.min_requests and failures / requests >= rule.failure_rate:
            until = m.start + MINUTE + timedelta(seconds=rule.seconds)
            out.append(Trip(m.start, until))
    return out


def cooldown_end(
    minutes: Sequence[MinuteCounts], rule: CooldownRule, now: datetime
) -> datetime | None:
    """The end of the cooldown running at ``now`` for these counts (oldest first), or None."""
    found = trips(minutes, rule, now)
    return found[-1].until if found and found[-1].until > now else None


@dataclass(frozen=True)
class ModelCooldown:
    """A model's cooldowns: per task, and everywhere when it is cooling on every task it
    served over the rule's horizon."""

    tasks: dict[str, datetime]
    everywhere: datetime | None

    def until(self, task: str) -> datetime | None:
        """When the model may serve ``task`` again (None: it may now)."""
        own = self.tasks.get(task)
        if self.everywhere is None:
            return own
        return max(own, self.everywhere) if own else self.everywhere


def model_cooldowns(
    counts: Mapping[tuple[str, str], Iterable[MinuteCounts]], rule: CooldownRule, now: datetime
) -> dict[str, ModelCooldown]:
    """Per model: the running cooldown of each task, and whether it is cooling everywhere."""
    per_model: dict[str, dict[str, datetime | None]] = {}
    for (model, task), minutes in counts.items():
        ordered = sorted(minutes, key=lambda m: m.start)
        per_model.setdefault(model, {})[task] = cooldown_end(ordered, rule, now)
    out = {}
    for model, tasks in per_model.items():
        running = {t: u for t, u in tasks.items() if u is not None}
        everywhere = min(running.values()) if running and len(running) == len(tasks) else None
        if running:
            out[model] = ModelCooldown(running, everywhere)
    return out


def degraded_since(
    minutes: Sequence[MinuteCounts], rule: CooldownRule, now: datetime, z: float = 2.0
) -> datetime | None:
    """The start of the minute the latest cooldown tripped in, while the calls after it do
    not yet show the rate from before it (None: no such cooldown, or the model is back).

    The calls that judge are those since the cooldown ended, over at most the last cooldown
    length; they show the old rate ``p0`` again unless their success rate is below
    ``p0 - z * sqrt(p0 (1 - p0) / n)``. Until the first of them arrives the model is taken
    as degraded: a cooldown ends by the clock, not by the model's repair.
    """
    ordered = sorted(minutes, key=lambda m: m.start)
    found = trips(ordered, rule, now)
    if not found:
        return None
    trip = found[-1]
    before = [m for m in ordered if m.start < trip.start - MINUTE * rule.lookback_minutes]
    n0 = sum(m.requests for m in before)
    if n0 == 0:
        return None
    p0 = 1 - sum(m.failures for m in before) / n0
    since = max(trip.until, now - timedelta(seconds=rule.seconds))
    trial = [m for m in ordered if since <= m.start <= now]
    n = sum(m.requests for m in trial)
    if n == 0:
        return trip.start
    p = 1 - sum(m.failures for m in trial) / n
    return trip.start if p < p0 - z * math.sqrt(p0 * (1 - p0) / n) else None


def degraded_models(
    counts: Mapping[str, Iterable[MinuteCounts]], rule: CooldownRule, now: datetime
) -> dict[str, datetime]:
    """Per model: ``degraded_since`` where it is not None."""
    out = {}
    for model, minutes in counts.items():
        since = degraded_since(list(minutes), rule, now)
        if since is not None:
            out[model] = since
    return out
