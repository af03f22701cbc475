"""Choosing the model to use now, with the caller's constraints, and saying why."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from http import HTTPStatus

from flask import current_app

from aurea import routing
from aurea.cache import read_cache
from aurea.clock import now
from aurea.errors import AureaError
from aurea.extensions import db
from aurea.histogram import percentile
from aurea.scoring import Weights
from aurea.services.registry import ModelInfo, load_registry
from aurea.services.scope import Scope, ScopedStats, cache_key, load_scoped_stats
from aurea.services.weights import WeightRecord, weights_in_force


class NoModelQualifies(AureaError):
    status_code = HTTPStatus.UNPROCESSABLE_ENTITY


@dataclass(frozen=True)
class SelectionInputs:
    """What a selection reads from the database; reused for AUREA_CACHE_SECONDS."""

    registry: list[ModelInfo]
    scoped: ScopedStats
    weights: WeightRecord


@dataclass(frozen=True)
class Selection:
    selected_model: str
    score: float | None
    weights: Weights
    weights_version: int | None
    reason: str
    explored: bool
    window: str
    task: str | None
    task_fallback: list[str]
    ranking: list[routing.RankEntry]
    # Monotonic time until which the inputs it was made from stay cached (None: not cached).
    reusable_until: float | None = None


def load_inputs(session, scope: Scope) -> SelectionInputs:
    """Read what a selection in ``scope`` needs, in the session's transaction."""
    return SelectionInputs(
        registry=load_registry(session),
        scoped=load_scoped_stats(session, scope, with_latency_bins=True),
        weights=weights_in_force(session),
    )


def candidates(inputs: SelectionInputs, wanted: tuple[str, ...] | None) -> list[routing.Candidate]:
    at = now()
    registry = {m.name: m for m in inputs.registry}
    bins = inputs.scoped.latency_bins or {}
    chosen = []
    for name in wanted if wanted is not None else sorted(registry):
        info = registry.get(name)
        if info is None:
            chosen.append(routing.Candidate(name, registered=False))
            continue
        chosen.append(
            routing.Candidate(
                model=name,
                enabled=info.enabled,
                cooling_until=info.cooling_until(at),
                stats=inputs.scoped.stats.get(name),
                p95_latency=percentile(bins.get(name, {}), 0.95),
            )
        )
    return chosen


def _rng() -> random.Random:
    return current_app.extensions.setdefault(
        "aurea_rng", random.Random(current_app.config["AUREA_RANDOM_SEED"])
    )


def select_model(
    scope: Scope,
    constraints: routing.Constraints | None = None,
    weights: Weights | None = None,
) -> Selection:
    """Pick a model in ``scope`` under ``constraints``, with the weights in force or ``weights``.

    What it reads is reused for up to AUREA_CACHE_SECONDS (see aurea.cache); the decision
    itself (with its exploration draw) is made per request.
    """
    cache, key = read_cache(), cache_key("select", scope)
    inputs = cache.get_or_compute(key, lambda: load_inputs(db.session, scope))
    chosen = choose(scope, inputs, constraints, weights)
    # An answer built from these inputs may be reused only as long as they are kept.
    return dataclasses.replace(chosen, reusable_until=cache.expires_at(key))


def warms_up(mode: str, constraints: routing.Constraints) -> bool:
    """AUREA_WARMUP: ``all`` candidates, only those the caller ``listed`` in models=, or ``off``.

    ``listed`` is the default because only a caller's list says which models it can call: the
    registry also holds models nobody may use here (the five seed models, from the migration).
    """
    return mode == "all" or (mode == "listed" and constraints.models is not None)


def choose(
    scope: Scope,
    inputs: SelectionInputs,
    constraints: routing.Constraints | None = None,
    weights: Weights | None = None,
) -> Selection:
    """Decide from inputs already read; raise NoModelQualifies when nothing qualifies."""
    constraints = constraints or routing.Constraints(min_requests=scope.min_requests)
    used = weights or inputs.weights.weights
    try:
        decision = routing.decide(
            candidates(inputs, constraints.models),
            constraints,
            used,
            exploration=current_app.config["AUREA_EXPLORATION"],
            rng=_rng(),
            warmup=warms_up(current_app.config["AUREA_WARMUP"], constraints),
        )
    except routing.NoModelQualifies as exc:
        raise NoModelQualifies(
            "No model satisfies the constraints.",
            errors={"candidates": {e.candidate.model: e.excluded_by for e in exc.ranking}},
        ) from None
    return Selection(
        selected_model=decision.selected_model,
        score=decision.score,
        weights=used,
        weights_version=inputs.weights.id,
        reason=decision.reason,
        explored=decision.explored,
        window=scope.window.name,
        task=scope.task,
        task_fallback=sorted(inputs.scoped.task_fallback),
        ranking=decision.ranking,
    )
