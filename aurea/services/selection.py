"""Choosing the model to use now."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aurea.cache import read_cache
from aurea.errors import NoModelsRegistered
from aurea.extensions import db
from aurea.scoring import Weights, best_score, score_models
from aurea.services.scope import Scope, ScopedStats, cache_key, load_scoped_stats
from aurea.services.statistics import registered_models
from aurea.services.weights import weights_in_force

HIGHEST_SCORE = "highest_score"
NO_DATA = "no_data"


@dataclass(frozen=True)
class Selection:
    selected_model: str
    score: float | None
    weights: Weights
    reason: str
    window: str
    task: str | None
    task_fallback: list[str]


def select_model(scope: Scope) -> Selection:
    """Return the best-scoring model in ``scope``; with no data, the first registered model.

    Answers are reused for up to AUREA_CACHE_SECONDS (see aurea.cache).
    """
    return read_cache().get_or_compute(cache_key("select", scope), lambda: _select(scope))


def _select(scope: Scope) -> Selection:
    session = db.session
    weights = weights_in_force(session).weights
    scoped = load_scoped_stats(session, scope)
    return choose(scope, scoped, weights, lambda: registered_models(session))


def choose(
    scope: Scope, scoped: ScopedStats, weights: Weights, registered: Callable[[], list[str]]
) -> Selection:
    """Pick the best model from statistics already loaded (``registered`` is read only
    when no model has data)."""
    best = best_score(score_models(scoped.ordered(), weights).values())
    fallback = sorted(scoped.task_fallback)
    if best is not None:
        return Selection(
            best.model, best.score, weights, HIGHEST_SCORE, scope.window.name, scope.task, fallback
        )
    names = registered()
    if not names:
        raise NoModelsRegistered("No models are registered; record a request first.")
    return Selection(names[0], None, weights, NO_DATA, scope.window.name, scope.task, fallback)
