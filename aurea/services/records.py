"""Recording the outcome of one LLM call."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.clock import now
from aurea.database import write_session
from aurea.models import RequestMetric, UTCDateTime
from aurea.services.aggregates import add_to_aggregates, sum_rows

# Core statements on the tables (not the ORM classes): compiled once and cached.
RAW_INSERT = sa.insert(RequestMetric.__table__)
# Same SQL on PostgreSQL and SQLite; see aggregates.STATS_UPSERT for why it is text.
REGISTER_MODEL = sa.text(
    "INSERT INTO models (name, created_at) VALUES (:name, :created_at) "
    "ON CONFLICT (name) DO NOTHING"
).bindparams(sa.bindparam("created_at", type_=UTCDateTime))


def register_model(session: Session, name: str) -> None:
    """Register ``name`` unless it is already registered (safe under concurrency)."""
    session.execute(REGISTER_MODEL, {"name": name, "created_at": now()})


def record_request(
    model: str, latency: float, cost: float, success: bool, task: str | None = None
) -> str:
    """Store one request's outcome and add it to the hourly aggregates, in one transaction.

    An unknown model is registered on the way. Only inserts and atomic upserts:
    concurrent workers never overwrite each other's counts.
    """
    at = now()
    session = write_session()
    register_model(session, model)
    session.execute(
        RAW_INSERT,
        {
            "model": model,
            "task": task,
            "latency": latency,
            "cost": cost,
            "success": success,
            "created_at": at,
        },
    )
    add_to_aggregates(session, sum_rows([(model, task, latency, cost, success, at)]))
    session.commit()
    return model
