"""Reading and changing the selection weights; every change appends to weight_history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.domain.scoring import DEFAULT_WEIGHTS, Weights
from aurea.errors import AureaError, InvalidWeights
from aurea.services.context import Context
from aurea.storage.database import write_session
from aurea.storage.models import WeightHistory


@dataclass(frozen=True)
class WeightRecord:
    """The weights in force and the weight_history row they come from."""

    weights: Weights
    id: int | None
    source: str
    created_at: datetime | None
    inputs: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None


def weights_in_force(session: Session) -> WeightRecord:
    """Return the newest weight_history row (the defaults if the table is empty)."""
    row = session.scalars(
        sa.select(WeightHistory).order_by(WeightHistory.id.desc()).limit(1)
    ).first()
    if row is None:
        return WeightRecord(DEFAULT_WEIGHTS, None, "default", None)
    return _record(row)


def append_weights(
    session: Session,
    weights: Weights,
    source: str,
    inputs: dict[str, Any],
    actor: str | None,
    at: datetime,
) -> WeightHistory:
    """Add a weight_history row made at ``at`` to the session (the caller commits)."""
    row = WeightHistory(
        created_at=at,
        cost_weight=weights.cost,
        quality_weight=weights.quality,
        latency_weight=weights.latency,
        source=source,
        actor=actor,
        inputs=inputs,
    )
    session.add(row)
    session.flush()
    return row


def current_weights(ctx: Context) -> WeightRecord:
    """Return the weights in force."""
    return weights_in_force(ctx.session)


WEIGHTS_SUM_MESSAGE = "cost_weight + quality_weight + latency_weight must be 1.0."


def require_sum_to_one(weights: Weights, location: str = "json") -> Weights:
    """The one place the seed's rule is enforced: weights sum to 1 (within 1e-6), else
    InvalidWeights, a 400 naming the fields, for ``PUT /router/weights`` (``location``
    ``json``) and for the overrides of ``GET /router/select`` (``query``) alike."""
    if not weights.sums_to_one():
        raise InvalidWeights(
            f"Weights must sum to 1.0 (got {weights.total:.6g}).",
            errors={location: {"_schema": [WEIGHTS_SUM_MESSAGE]}},
        )
    return weights


def set_weights(ctx: Context, weights: Weights, actor: str | None = None) -> WeightRecord:
    """Replace the weights by hand; weights must sum to 1 (within 1e-6)."""
    require_sum_to_one(weights)
    session = write_session(ctx.session)
    previous = weights_in_force(session)
    row = append_weights(
        session,
        weights,
        "manual",
        {"previous_weights_id": previous.id, "requested": weights.as_dict()},
        actor,
        ctx.now(),
    )
    session.commit()
    return _record(row)


class WeightsNotFound(AureaError):
    status_code = HTTPStatus.NOT_FOUND


def _record(row: WeightHistory) -> WeightRecord:
    return WeightRecord(
        Weights(row.cost_weight, row.quality_weight, row.latency_weight),
        row.id,
        row.source,
        row.created_at,
        dict(row.inputs or {}),
        row.actor,
    )


def weight_history(ctx: Context, page: int, page_size: int) -> tuple[list[WeightRecord], int]:
    """Return one page of weight_history, newest first, and the total number of rows."""
    total = ctx.session.scalar(sa.select(sa.func.count()).select_from(WeightHistory))
    rows = ctx.session.scalars(
        sa.select(WeightHistory)
        .order_by(WeightHistory.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return [_record(r) for r in rows], total


def rollback_weights(ctx: Context, history_id: int, actor: str | None = None) -> WeightRecord:
    """Restore the weights of a weight_history row by appending a ``rollback`` row."""
    session = write_session(ctx.session)
    target = session.get(WeightHistory, history_id)
    if target is None:
        raise WeightsNotFound(f"No weight_history row with id {history_id}.")
    previous = weights_in_force(session)
    row = append_weights(
        session,
        _record(target).weights,
        "rollback",
        {"rollback_of": history_id, "previous_weights_id": previous.id},
        actor,
        ctx.now(),
    )
    session.commit()
    return _record(row)
