"""Cooldown: skip a model whose recent failure rate trips the threshold, for a while.

Every record adds to a per-minute count of requests and failures. After a batch with
failures, each failing model's counts over the lookback (never reaching back before its
previous cooldown ended, so a model coming back gets a fair trial) are checked against
AUREA_COOLDOWN_FAILURE_RATE and AUREA_COOLDOWN_MIN_REQUESTS; if they trip, the model's
``cooldown_until`` is set AUREA_COOLDOWN_SECONDS ahead. Select skips it until then.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from aurea.models import ModelHealthMinutely
from aurea.services.driver_sql import DriverCursor

HEALTH_UPSERT = """
    INSERT INTO model_health_minutely (bucket_start, model, requests, failures)
    VALUES {values}
    ON CONFLICT (bucket_start, model) DO UPDATE SET
        requests = model_health_minutely.requests + excluded.requests,
        failures = model_health_minutely.failures + excluded.failures
"""


def floor_to_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def add_health(
    cursor: DriverCursor, outcomes: list[tuple[str, bool, datetime]], now: datetime
) -> None:
    """Count (model, success, at) outcomes in the minute of each ``at`` (the caller commits).

    Whether a model trips is judged at ``now``, over the lookback before it: a back-filled
    failure older than the lookback is counted in its minute but cannot start a cooldown.
    """
    requests, failures = Counter(), Counter()
    last_at = minute = None
    for model, success, at in outcomes:
        if at is not last_at:  # a batch's outcomes share one moment: floor (and hash) it once
            last_at, minute = at, floor_to_minute(at)
        key = (minute, model)
        requests[key] += 1
        failures[key] += not success
    cursor.insert_rows(
        HEALTH_UPSERT,
        [
            (cursor.timestamp(minute), m, n, failures[(minute, m)])
            for (minute, m), n in sorted(requests.items())
        ],
    )
    trip_if_failing(cursor, sorted({m for (_, m), n in failures.items() if n}), now)


# Per model: is it cooling down at :now, and its counts since the later of :since and the
# end of its last cooldown (bucket starts are whole minutes, so "after the minute the
# cooldown ended in" is "after the moment it ended").
HEALTH_SINCE = """
    SELECT m.name,
           CASE WHEN m.cooldown_until > %s THEN 1 ELSE 0 END,
           COALESCE(SUM(h.requests), 0),
           COALESCE(SUM(h.failures), 0)
    FROM models m
    LEFT JOIN model_health_minutely h
        ON h.model = m.name
        AND h.bucket_start >= %s
        AND (m.cooldown_until IS NULL OR h.bucket_start > m.cooldown_until)
    WHERE m.name IN ({names})
    GROUP BY m.name, m.cooldown_until
"""
START_COOLDOWN = "UPDATE models SET cooldown_until = %s WHERE name = %s"


def trip_if_failing(cursor: DriverCursor, models: list[str], now: datetime) -> None:
    """Start the cooldown of each of ``models`` whose failures over the lookback trip it."""
    if not models:
        return
    config = current_app.config
    since = floor_to_minute(now - timedelta(seconds=config["AUREA_COOLDOWN_LOOKBACK_SECONDS"]))
    rows = cursor.query(
        HEALTH_SINCE.format(names=", ".join(["%s"] * len(models))),
        (cursor.timestamp(now), cursor.timestamp(since), *models),
    )
    until = cursor.timestamp(now + timedelta(seconds=config["AUREA_COOLDOWN_SECONDS"]))
    for model, cooling, requests, failures in sorted(rows):
        if cooling or not requests or requests < config["AUREA_COOLDOWN_MIN_REQUESTS"]:
            continue
        if failures / requests >= config["AUREA_COOLDOWN_FAILURE_RATE"]:
            cursor.execute(START_COOLDOWN, (until, model))


def prune_health(session: Session, before: datetime) -> int:
    """Delete per-minute counts older than ``before``; they only serve the short lookback."""
    result = session.execute(
        sa.delete(ModelHealthMinutely).where(ModelHealthMinutely.bucket_start < before)
    )
    return result.rowcount or 0
