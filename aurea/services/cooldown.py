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

from aurea.models import ModelHealthMinutely, RegisteredModel, UTCDateTime

HEALTH_UPSERT = sa.text(
    """
    INSERT INTO model_health_minutely (bucket_start, model, requests, failures)
    VALUES (:bucket_start, :model, :requests, :failures)
    ON CONFLICT (bucket_start, model) DO UPDATE SET
        requests = model_health_minutely.requests + excluded.requests,
        failures = model_health_minutely.failures + excluded.failures
    """
).bindparams(sa.bindparam("bucket_start", type_=UTCDateTime))


def floor_to_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def add_health(session: Session, outcomes: list[tuple[str, bool, datetime]], now: datetime) -> None:
    """Count (model, success, at) outcomes in the minute of each ``at`` (the caller commits).

    Whether a model trips is judged at ``now``, over the lookback before it: a back-filled
    failure older than the lookback is counted in its minute but cannot start a cooldown.
    """
    requests, failures = Counter(), Counter()
    for model, success, at in outcomes:
        key = (floor_to_minute(at), model)
        requests[key] += 1
        failures[key] += not success
    session.execute(
        HEALTH_UPSERT,
        [
            {"bucket_start": minute, "model": m, "requests": n, "failures": failures[(minute, m)]}
            for (minute, m), n in sorted(requests.items())
        ],
    )
    for model in sorted({m for (_, m), n in failures.items() if n}):
        trip_if_failing(session, model, now)


def trip_if_failing(session: Session, model: str, now: datetime) -> None:
    config = current_app.config
    until = session.scalar(
        sa.select(RegisteredModel.cooldown_until).where(RegisteredModel.name == model)
    )
    if until is not None and until > now:
        return  # already cooling down
    since = floor_to_minute(now - timedelta(seconds=config["AUREA_COOLDOWN_LOOKBACK_SECONDS"]))
    if until is not None:
        since = max(since, floor_to_minute(until) + timedelta(minutes=1))
    h = ModelHealthMinutely
    requests, failures = session.execute(
        sa.select(sa.func.sum(h.requests), sa.func.sum(h.failures)).where(
            h.model == model, h.bucket_start >= since
        )
    ).one()
    if not requests or requests < config["AUREA_COOLDOWN_MIN_REQUESTS"]:
        return
    if failures / requests >= config["AUREA_COOLDOWN_FAILURE_RATE"]:
        session.execute(
            sa.update(RegisteredModel)
            .where(RegisteredModel.name == model)
            .values(cooldown_until=now + timedelta(seconds=config["AUREA_COOLDOWN_SECONDS"]))
        )


def prune_health(session: Session, before: datetime) -> int:
    """Delete per-minute counts older than ``before``; they only serve the short lookback."""
    result = session.execute(
        sa.delete(ModelHealthMinutely).where(ModelHealthMinutely.bucket_start < before)
    )
    return result.rowcount or 0
