"""Queries that aggregate recorded requests into per-model statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.models import RegisteredModel, RequestMetric
from aurea.scoring import ModelStats


@dataclass(frozen=True)
class Snapshot:
    """Every registered model, and the statistics of those with recorded requests."""

    registered: list[str]
    stats: list[ModelStats]
    last_updated: dict[str, datetime]


def load_snapshot(session: Session) -> Snapshot:
    """Aggregate recorded requests per model in the database, in one query."""
    registered = list(
        session.scalars(sa.select(RegisteredModel.name).order_by(RegisteredModel.name))
    )
    rows = session.execute(
        sa.select(
            RequestMetric.model,
            sa.func.count(),
            sa.func.sum(sa.case((RequestMetric.success, 1), else_=0)),
            sa.func.avg(RequestMetric.latency),
            sa.func.avg(RequestMetric.cost),
            sa.func.max(RequestMetric.created_at),
        )
        .group_by(RequestMetric.model)
        .order_by(RequestMetric.model)
    )
    stats, last_updated = [], {}
    for model, count, successes, avg_latency, avg_cost, newest in rows:
        stats.append(
            ModelStats(
                model=model,
                total_requests=int(count),
                successes=int(successes),
                average_latency=float(avg_latency),
                average_cost=float(avg_cost),
            )
        )
        last_updated[model] = newest
    return Snapshot(registered=registered, stats=stats, last_updated=last_updated)
