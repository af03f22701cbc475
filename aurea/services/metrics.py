"""Per-model metrics summary: the statistics and score of every registered model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aurea.domain.estimators import estimate_models
from aurea.domain.histogram import percentile
from aurea.domain.objective import UTILITY, utility_parts
from aurea.domain.scoring import Weights, score_models
from aurea.services import objectives
from aurea.services.aggregates import roll_up
from aurea.services.context import Context
from aurea.services.cooldown import load_degraded, rule_from_config
from aurea.services.registry import ModelInfo, load_registry
from aurea.services.scope import Scope, ScopedStats, cache_key, load_scoped_stats
from aurea.services.statistics import load_hourly_rows
from aurea.services.weights import weights_in_force


def summarize(
    registry: list[ModelInfo], scoped: ScopedStats, weights: Weights, scope: Scope
) -> dict[str, dict[str, Any]]:
    """Build the name -> metrics mapping; models without data get nulls, not zeros."""
    scores = score_models(scoped.ordered(), weights)
    bins = scoped.latency_bins or {}
    enabled = {m.name: m.enabled for m in registry}
    summary: dict[str, dict[str, Any]] = {}
    for name in sorted(set(enabled) | set(scoped.stats)):
        stats = scoped.stats.get(name)
        entry: dict[str, Any] = {
            "total_requests": 0,
            "success_rate": None,
            "average_latency": None,
            "average_cost": None,
            "p50_latency": None,
            "p95_latency": None,
            "score": None,
            "last_updated": None,
        }
        if stats is not None:
            entry.update(
                total_requests=stats.total_requests,
                success_rate=stats.success_rate,
                average_latency=stats.average_latency,
                average_cost=stats.average_cost,
                p50_latency=percentile(bins.get(name, {}), 0.50),
                p95_latency=percentile(bins.get(name, {}), 0.95),
                score=scores[name].score,
                last_updated=scoped.last_updated[name],
            )
        entry["enabled"] = enabled.get(name, True)
        entry["window"] = scope.window.name
        if scope.task is not None:
            entry["task"] = scope.task
            entry["task_fallback"] = name in scoped.task_fallback
        summary[name] = entry
    return summary


def metrics_summary(ctx: Context, scope: Scope) -> dict[str, dict[str, Any]]:
    """Return the metrics of every registered model in ``scope`` under the weights in force.

    Answers are reused for up to AUREA_CACHE_SECONDS (see aurea.storage.cache).
    """
    at = ctx.now()  # one moment for the key and the whole answer: every part reads one window
    return ctx.cache.get_or_compute(
        cache_key("metrics", scope, at), lambda: _summary(ctx, scope, at)
    )


def _summary(ctx: Context, scope: Scope, at: datetime) -> dict[str, dict[str, Any]]:
    session, config = ctx.session, ctx.config
    roll_up(session)
    weights = weights_in_force(session).weights
    scoped = load_scoped_stats(session, scope, at, with_latency_bins=True)
    summary = summarize(load_registry(session, config, at), scoped, weights, scope)
    if config["AUREA_OBJECTIVE"] == UTILITY:
        add_expected_utility(summary, session, scope, config, at)
    return summary


def add_expected_utility(summary: dict, session, scope: Scope, config, at: datetime) -> None:
    """Utility mode: each model's expected utility in USD at ``at`` (null without data) and
    the 90 % interval of its P(success), from the estimates select uses."""
    rows = load_hourly_rows(session, scope.window.start(at))
    degraded = load_degraded(session, rule_from_config(config), scope.task, at)
    estimates = estimate_models(
        rows, scope.task, at, objectives.estimator_settings(config), degraded
    )
    objective = objectives.objective_for(config, scope.task)
    for name, entry in summary.items():
        e = estimates.get(name)
        if e is None or e.cost is None or e.latency is None:
            entry["expected_utility"] = entry["p_success_interval"] = None
            continue
        entry["expected_utility"] = utility_parts(
            objective, e.posterior.mean, e.cost, e.latency
        ).as_dict()
        entry["p_success_interval"] = list(e.posterior.interval())
