"""Cooldown: skip a model for a task while its recent failures on that task trip the rule.

Every record adds to a per-minute count of requests and failures per model and task (the
empty task for records without one). Cooldowns are not written anywhere: a read derives them
from the counts of the last AUREA_COOLDOWN_SECONDS and lookback (aurea.domain.cooldown), so a
record only adds counts, and a model failing on one task keeps serving the others unless it
is cooling down on every task it served.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.domain.cooldown import CooldownRule, MinuteCounts, ModelCooldown, model_cooldowns
from aurea.models import NO_TASK, ModelHealthMinutely
from aurea.services.driver_sql import DriverCursor

HEALTH_UPSERT = """
    INSERT INTO model_health_minutely (bucket_start, model, task, requests, failures)
    VALUES {values}
    ON CONFLICT (bucket_start, model, task) DO UPDATE SET
        requests = model_health_minutely.requests + excluded.requests,
        failures = model_health_minutely.failures + excluded.failures
"""


def floor_to_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def add_health(
    cursor: DriverCursor, outcomes: list[tuple[str, str | None, bool, datetime]]
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
    cursor.insert_rows(
        HEALTH_UPSERT,
        [
            (cursor.timestamp(minute), m, t, n, failures[(minute, m, t)])
            for (minute, m, t), n in sorted(requests.items())
        ],
    )


def rule_from_config(config: Mapping) -> CooldownRule:
    return CooldownRule(
        failure_rate=config["AUREA_COOLDOWN_FAILURE_RATE"],
        min_requests=config["AUREA_COOLDOWN_MIN_REQUESTS"],
        lookback_seconds=config["AUREA_COOLDOWN_LOOKBACK_SECONDS"],
        seconds=config["AUREA_COOLDOWN_SECONDS"],
    )


def load_cooldowns(session: Session, rule: CooldownRule, now: datetime) -> dict[str, ModelCooldown]:
    """The cooldowns running at ``now``, per model (and task), from the per-minute counts."""
    h = ModelHealthMinutely
    rows = session.execute(
        sa.select(h.model, h.task, h.bucket_start, h.requests, h.failures).where(
            h.bucket_start >= floor_to_minute(now - rule.horizon)
        )
    )
    counts: dict[tuple[str, str], list[MinuteCounts]] = {}
    for model, task, start, requests, failures in rows:
        counts.setdefault((model, task), []).append(
            MinuteCounts(start, int(requests), int(failures))
        )
    return model_cooldowns(counts, rule, now)


def prune_health(session: Session, before: datetime) -> int:
    """Delete per-minute counts older than ``before``; they only serve the short lookback."""
    result = session.execute(
        sa.delete(ModelHealthMinutely).where(ModelHealthMinutely.bucket_start < before)
    )
    return result.rowcount or 0
