"""Choosing the model to use now."""

from __future__ import annotations

from dataclasses import dataclass

from aurea.errors import NoModelsRegistered
from aurea.extensions import db
from aurea.scoring import Weights, best_score, score_models
from aurea.services.statistics import load_snapshot
from aurea.services.weights import weights_in_force

HIGHEST_SCORE = "highest_score"
NO_DATA = "no_data"


@dataclass(frozen=True)
class Selection:
    selected_model: str
    score: float | None
    weights: Weights
    reason: str


def select_model() -> Selection:
    """Return the best-scoring model; with no data at all, the first registered model."""
    session = db.session
    weights = weights_in_force(session).weights
    snapshot = load_snapshot(session)
    best = best_score(score_models(snapshot.stats, weights).values())
    if best is not None:
        return Selection(best.model, best.score, weights, HIGHEST_SCORE)
    if not snapshot.registered:
        raise NoModelsRegistered("No models are registered; record a request first.")
    return Selection(snapshot.registered[0], None, weights, NO_DATA)
