"""Per-model metrics summary: the statistics and score of every registered model."""

from __future__ import annotations

from typing import Any

from aurea.extensions import db
from aurea.scoring import Weights, score_models
from aurea.services.statistics import Snapshot, load_snapshot
from aurea.services.weights import weights_in_force


def summarize(snapshot: Snapshot, weights: Weights) -> dict[str, dict[str, Any]]:
    """Build the name -> metrics mapping; models without data get nulls, not zeros."""
    scores = score_models(snapshot.stats, weights)
    by_model = {s.model: s for s in snapshot.stats}
    summary: dict[str, dict[str, Any]] = {}
    for name in sorted(set(snapshot.registered) | set(by_model)):
        stats = by_model.get(name)
        if stats is None:
            summary[name] = {
                "total_requests": 0,
                "success_rate": None,
                "average_latency": None,
                "average_cost": None,
                "score": None,
                "last_updated": None,
            }
            continue
        summary[name] = {
            "total_requests": stats.total_requests,
            "success_rate": stats.success_rate,
            "average_latency": stats.average_latency,
            "average_cost": stats.average_cost,
            "score": scores[name].score,
            "last_updated": snapshot.last_updated[name],
        }
    return summary


def metrics_summary() -> dict[str, dict[str, Any]]:
    """Return the metrics of every registered model under the weights in force."""
    session = db.session
    weights = weights_in_force(session).weights
    return summarize(load_snapshot(session), weights)
