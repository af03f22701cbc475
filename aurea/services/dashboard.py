"""What the dashboard shows: metrics, score components, the selection, the weight history.

One read of the same statistics that metrics and select use, so the page agrees with
``GET /router/metrics`` and ``GET /router/select`` at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.charts import HistoryPoint
from aurea.clock import now
from aurea.extensions import db
from aurea.models import WeightHistory
from aurea.scoring import ModelScore, Weights, score_models
from aurea.services.metrics import summarize
from aurea.services.scope import Scope
from aurea.services.selection import NoModelQualifies, Selection, choose, load_inputs
from aurea.services.weights import WeightRecord

HISTORY_LIMIT = 500  # newest weight_history rows drawn; older ones are counted, not drawn


@dataclass(frozen=True)
class ModelRow:
    """A registered model's metrics (as GET /router/metrics has them) and score components."""

    name: str
    metrics: dict[str, Any]
    components: ModelScore | None  # None without data in the window
    selected: bool


@dataclass(frozen=True)
class Dashboard:
    scope: Scope
    generated_at: datetime
    models: list[ModelRow]
    selection: Selection | None  # None when no model may be selected now
    weights: WeightRecord
    history: list[HistoryPoint]  # oldest first
    history_total: int


def load_history(session: Session, limit: int = HISTORY_LIMIT) -> tuple[list[HistoryPoint], int]:
    """The newest ``limit`` weight_history rows, oldest first, and how many rows there are."""
    total = session.scalar(sa.select(sa.func.count()).select_from(WeightHistory)) or 0
    rows = session.scalars(
        sa.select(WeightHistory).order_by(WeightHistory.id.desc()).limit(limit)
    ).all()
    points = [
        HistoryPoint(
            id=row.id,
            created_at=row.created_at,
            source=row.source,
            actor=row.actor,
            weights=Weights(row.cost_weight, row.quality_weight, row.latency_weight),
        )
        for row in reversed(rows)
    ]
    return points, total


def dashboard(scope: Scope) -> Dashboard:
    """Read everything the dashboard shows in one read transaction (never cached)."""
    session = db.session
    inputs = load_inputs(session, scope)
    in_force = inputs.weights
    summary = summarize(inputs.registry, inputs.scoped, in_force.weights, scope)
    components = score_models(inputs.scoped.ordered(), in_force.weights)
    try:
        selection = choose(scope, inputs)
    except NoModelQualifies:
        selection = None  # every model is disabled or cooling down
    history, total = load_history(session)
    picked = selection.selected_model if selection else None
    models = [
        ModelRow(name, entry, components.get(name), name == picked)
        for name, entry in summary.items()
    ]
    return Dashboard(scope, now(), models, selection, in_force, history, total)
