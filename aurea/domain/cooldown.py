"""The cooldown rule, applied to per-minute counts of one model (and task). Pure.

A cooldown starts when, over the lookback (the minute of a failure and the whole minutes
before it), there are at least ``min_requests`` requests and the failure rate reaches
``failure_rate``. It lasts ``seconds`` from the end of that minute. Minutes during a
cooldown, and before its end, never count toward the next one: a model coming back gets a
fair trial.
"""

from __future__ import annotations

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
class MinuteCounts:
    start: datetime
    requests: int
    failures: int


def cooldown_end(
    minutes: Sequence[MinuteCounts], rule: CooldownRule, now: datetime
) -> datetime | None:
    """The end of the cooldown running at ``now`` for these counts (oldest first), or None."""
    until: datetime | None = None
    lookback = MINUTE * rule.lookback_minutes
    for m in minutes:
        if m.failures == 0 or m.start > now or (until is not None and m.start < until):
            continue
        requests = failures = 0
        for b in minutes:
            if m.start - lookback <= b.start <= m.start and (until is None or b.start >= until):
                requests += b.requests
                failures += b.failures
        if requests >= rule.min_requests and failures / requests >= rule.failure_rate:
            until = m.start + MINUTE + timedelta(seconds=rule.seconds)
    return until if until is not None and until > now else None


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
