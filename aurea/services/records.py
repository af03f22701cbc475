"""Recording the outcome of one LLM call."""

from __future__ import annotations

from sqlalchemy.orm import Session

from aurea.clock import now
from aurea.database import dialect_insert, write_session
from aurea.models import RegisteredModel, RequestMetric
from aurea.services.aggregates import add_to_aggregates, sum_rows


def register_model(session: Session, name: str) -> None:
    """Register ``name`` unless it is already registered (safe under concurrency)."""
    session.execute(
        dialect_insert(session, RegisteredModel)
        .values(name=name, created_at=now())
        .on_conflict_do_nothing(index_elements=[RegisteredModel.name])
    )


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
    session.add(
        RequestMetric(
            model=model, task=task, latency=latency, cost=cost, success=success, created_at=at
        )
    )
    add_to_aggregates(session, sum_rows([(model, task, latency, cost, success, at)]))
    session.commit()
    return model
