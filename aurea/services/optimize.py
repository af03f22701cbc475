"""The weekly re-tuning of weights from how much each criterion varies across models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aurea.domain.scoring import Weights, limit_step, propose_weights
from aurea.services.aggregates import roll_up
from aurea.services.context import Context
from aurea.services.metrics import summarize
from aurea.services.registry import load_registry
from aurea.services.scope import Scope, load_scoped_stats
from aurea.services.weights import append_weights, weights_in_force
from aurea.storage.database import write_session

OPTIMIZED = "optimized"
UNCHANGED = "unchanged"
PROPOSED = "proposed"
# Weights closer than this in every criterion are the same weights (float rounding).
SAME_WEIGHTS = 1e-9


@dataclass(frozen=True)
class OptimizeResult:
    status: str
    weights: Weights
    previous_weights: Weights
    reason: str
    variation: dict[str, float]
    metrics_summary: dict[str, dict[str, Any]]
    history_id: int | None
    window: str


def same_weights(a: Weights, b: Weights) -> bool:
    pairs = ((a.cost, b.cost), (a.quality, b.quality), (a.latency, b.latency))
    return all(abs(x - y) <= SAME_WEIGHTS for x, y in pairs)


def optimize_weights(
    ctx: Context, scope: Scope, dry_run: bool = False, actor: str | None = None
) -> OptimizeResult:
    """Propose weights from the window's data and, unless ``dry_run``, append them."""
    floor = ctx.config["AUREA_MIN_WEIGHT"]
    roll_up(ctx.session)
    session = ctx.session if dry_run else write_session(ctx.session)
    previous = weights_in_force(session)
    at = ctx.now()  # one moment for the window, the cooldowns and the new row
    scoped = load_scoped_stats(session, scope, at, with_latency_bins=True)
    stats = scoped.ordered()
    registered = load_registry(session, ctx.config, at)
    proposal = propose_weights(stats, floor)
    max_step = ctx.config["AUREA_MAX_WEIGHT_STEP"]
    target = proposal.weights
    reason = proposal.reason
    if target is not None:
        target = limit_step(previous.weights, target, max_step)
        if same_weights(target, previous.weights):  # a row would record no change
            target, reason = None, "the weights in force already match the proposal; weights kept"

    if target is None:
        status, weights, history_id = UNCHANGED, previous.weights, previous.id
    elif dry_run:
        status, weights, history_id = PROPOSED, target, previous.id
    else:
        inputs = {
            "floor": floor,
            "max_step": max_step,
            "unlimited_proposal": proposal.weights.as_dict(),
            "window": scope.window.name,
            "variation": proposal.variation,
            "previous_weights_id": previous.id,
            "models": {
                s.model: {
                    "total_requests": s.total_requests,
                    "success_rate": s.success_rate,
                    "average_latency": s.average_latency,
                    "average_cost": s.average_cost,
                }
                for s in stats
            },
        }
        row = append_weights(session, target, "optimize", inputs, actor, at)
        session.commit()
        status, weights, history_id = OPTIMIZED, target, row.id
    if status != OPTIMIZED:
        session.rollback()
    return OptimizeResult(
        status=status,
        weights=weights,
        previous_weights=previous.weights,
        reason=reason,
        variation=proposal.variation,
        metrics_summary=summarize(registered, scoped, weights, scope),
        history_id=history_id,
        window=scope.window.name,
    )
