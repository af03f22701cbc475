"""Recording the outcome of one LLM call."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from aurea.clock import utcnow
from aurea.database import write_session
from aurea.models import RegisteredModel, RequestMetric


def register_model(session: Session, name: str) -> None:
    """Register ``name`` unless it is already registered (safe under concurrency)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(RegisteredModel)
        .values(name=name, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=[RegisteredModel.name])
    )


def record_request(model: str, latency: float, cost: float, success: bool) -> str:
    """Store one request's outcome; an unknown model is registered on the way.

    Only inserts: totals are computed from the rows, so concurrent workers never
    overwrite each other's counts.
    """
    session = write_session()
    register_model(session, model)
    session.add(
        RequestMetric(model=model, latency=latency, cost=cost, success=success, created_at=utcnow())
    )
    session.commit()
    return model
