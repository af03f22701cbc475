"""Cooldown: skip a model for a task while its recent failures on that task trip the rule.

The roll-up (aurea.services.aggregates.roll_up) adds every new raw row to a per-minute count
of requests and failures per model and task (the empty task for records without one), before
any read of them. Cooldowns are not written anywhere: a read derives them
from the counts of the last AUREA_COOLDOWN_SECONDS and lookback (aurea.domain.cooldown), so a
record only adds counts, and a model failing on one task keeps serving the others unless it
is cooling down on every task it served.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.domain.cooldown import (
    CooldownRule,
    MinuteCounts,
    ModelCooldown,
    degraded_models,
    model_cooldowns,
)
from aurea.storage.database import upsert_insert
from aurea.storage.models import NO_TASK, ModelHealthMinutely

# How far back a cooldown, and the rate before it, is looked for (within the day of counts kept).
DEGRADED_MEMORY = timedelta(hours=6)


def floor_to_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def add_health(
    session: Session, outcomes: Iterable[tuple[str, str | None, bool, datetime]]
) -> None:
    """Count (model, task, success, at) outcomes in the minute of each ``at`` (the caller
    commits)."""
    requests, failures = Counter(), Counter()
    last_at = minute = None
    for model, task, success, at in outcomes:
        if at is not last_at:  # a batch's outcomes share one moment: floor (and hash) it once
            last_at, minute = at, floor_to_minute(at)
        key = (minute, model, task or NO_TASK)
        requests[key] += 1
        failures[key] += not success
    if not requests:
        return
    h = ModelHealthMinutely
    statement = upsert_insert(session)(h)
    statement = statement.on_conflict_do_update(
        index_elements=[h.bucket_start, h.model, h.task],
        set_={
            "requests": h.requests + statement.excluded.requests,
            "failures": h.failures + statement.excluded.failures,
        },
    )
    rows = [
        {"bucket_start": minute, "model": m, "task": t, "requests": n, "failures": failures[key]}
        for key, n in sorted(requests.items())
        for minute, m, t in [key]
    ]
    session.execute(statement, rows)


def rule_from_config(config: Mapping) -> CooldownRule:
    return CooldownRule(
        failure_rate=config["AUREA_COOLDOWN_FAILURE_RATE"],
        min_requests=config["AUREA_COOLDOWN_MIN_REQUESTS"],
        lookback_seconds=config["AUREA_COOLDOWN_LOOKBACK_SECONDS"],
        seconds=config["AUREA_COOLDOWN_SECONDS"],
    )


def _minute_counts(
    session: Session, since: datetime, task: str | None = None
) -> dict[tuple[str, str], list[MinuteCounts]]:
    """The per-minute counts from ``since`` on, per (model, task); one task's when given."""
    h = ModelHealthMinutely
    query = sa.select(h.model, h.task, h.bucket_start, h.requests, h.failures).where(
        h.bucket_start >= floor_to_minute(since)
    )
    if task is not None:
        query = query.where(h.task == task)
    counts: dict[tuple[str, str], list[MinuteCounts]] = {}
    for model, t, start, requests, failures in session.execute(query):
        counts.setdefault((model, t), []).append(MinuteCounts(start, int(requests), int(failures)))
    return counts


def load_cooldowns(session: Session, rule: CooldownRule, now: datetime) -> dict[str, ModelCooldown]:
    """The cooldowns running at ``now``, per model (and task), from the per-minute counts."""
    return model_cooldowns(_minute_counts(session, now - rule.horizon), rule, now)


def load_degraded(
    session: Session, rule: CooldownRule, task: str | None, now: datetime
) -> dict[str, datetime]:
    """Per model: when the cooldown it has not yet shown it is over on ``task`` (None:
    records without a task) tripped, from the per-minute counts of the last DEGRADED_MEMORY
    (aurea.domain.cooldown.degraded_since)."""
    counts = _minute_counts(session, now - DEGRADED_MEMORY, task or NO_TASK)
    return degraded_models({model: minutes for (model, _), minutes in counts.items()}, rule, now)


def prune_health(session: Session, before: datetime) -> int:
    """Delete per-minute counts older than ``before``; they only serve the short lookback."""
    result = session.execute(
        sa.delete(ModelHealthMinutely).where(ModelHealthMinutely.bucket_start < before)
    )
    return result.rowcount or 0
