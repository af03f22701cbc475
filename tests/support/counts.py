"""How many records a database holds, raw and in the hourly aggregates."""

from __future__ import annotations

import sqlalchemy as sa

from aurea.services.aggregates import roll_up
from aurea.storage.extensions import db
from aurea.storage.models import ModelStatsHourly, RequestMetric


def stored_counts(app) -> tuple[int, int]:
    """(raw rows, requests counted in the hourly aggregates, once rolled up)."""
    with app.app_context():
        roll_up(db.session)
        raw = db.session.scalar(sa.select(sa.func.count()).select_from(RequestMetric))
        counted = db.session.scalar(sa.select(sa.func.sum(ModelStatsHourly.requests))) or 0
        db.session.remove()
    return raw, counted
