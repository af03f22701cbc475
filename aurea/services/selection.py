"""Choosing the model to use now, with the caller's constraints and objective, and saying why.

Two objective modes (docs/decisions.md): ``utility`` ranks candidates by expected utility in
USD from posterior estimates and samples among them (aurea.domain.decide); ``weighted`` is
the seed's weighted min-max score (aurea.domain.routing). Both skip models cooling down on the task.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus

from aurea.domain import decide as utility
from aurea.domain import routing
from aurea.domain.errors import NothingEligible
from aurea.domain.estimators import UNIFORM, HourRow, ModelEstimate, estimate_models
from aurea.domain.histogram import percentile
from aurea.domain.objective import UTILITY, WEIGHTED, Objective, UtilityParts
from aurea.domain.scoring import Weights
from aurea.errors import AureaError
from aurea.services import objectives
from aurea.services.aggregates import roll_up
from aurea.services.context import Context
from aurea.services.cooldown import load_degraded, rule_from_config
from aurea.services.registry import ModelInfo, load_registry
from aurea.services.scope import Scope, ScopedStats, cache_key, load_scoped_stats
from aurea.services.statistics import load_hourly_rows, load_latency_bins
from aurea.services.weights import WeightRecord, weights_in_force

MAX_PRICE = "max_price"


class NoModelQualifies(AureaError):
    status_code = HTTPStatus.UNPROCESSABLE_ENTITY


@dataclass(frozen=True)
class SelectionInputs:
    """What a weighted selection reads from the database; reused for AUREA_CACHE_SECONDS."""

    registry: list[ModelInfo]
    scoped: ScopedStats
    weights: WeightRecord


@dataclass(frozen=True)
class UtilityInputs:
    """What a utility selection reads: the registry, the window's hourly rows, the latency
    histograms of the scope, the weights in force (reported, not used)."""

    registry: list[ModelInfo]
    rows: list[HourRow]
    bins: dict[str, dict[int, int]]
    weights: WeightRecord
    # Per model: when a cooldown in the scope tripped that its calls since do not yet show
    # is over (aurea.services.cooldown.load_degraded); the estimates count it as a drop.
    degraded: dict[str, datetime] = field(default_factory=dict)


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
    mode: str = WEIGHTED
    objective: Objective | None = None
    utility_ranking: list[utility.Ranked] = field(default_factory=list)
    estimates: dict[str, ModelEstimate] = field(default_factory=dict)
    p95: dict[str, float | None] = field(default_factory=dict)
    # Draws another selection from the same cached inputs (see Selection.redrawn).
    redraw: Callable[[], Selection] | None = field(default=None, compare=False, repr=False)
    # The cached object the selection was drawn from: two selections with the same source
    # differ only by their draw.
    source: object = field(default=None, compare=False, repr=False)

    @property
    def parts(self) -> UtilityParts | None:
        for r in self.utility_ranking:
            if r.estimate.model == self.selected_model:
                return r.parts
        return None

    @property
    def p_best(self) -> float | None:
        for r in self.utility_ranking:
            if r.estimate.model == self.selected_model:
                return r.p_best
        return None


def load_inputs(session, config, scope: Scope, at: datetime) -> SelectionInputs:
    """Read what a selection in ``scope`` at ``at`` needs (rolled up first:
    aurea.services.aggregates)."""
    roll_up(session)
    return SelectionInputs(
        registry=load_registry(session, config, at),
        scoped=load_scoped_stats(session, scope, at, with_latency_bins=True),
        weights=weights_in_force(session),
    )


def load_utility_inputs(session, config, scope: Scope, at: datetime) -> UtilityInputs:
    """Read what a utility selection in ``scope`` at ``at`` needs (rolled up first:
    aurea.services.aggregates)."""
    roll_up(session)
    since = scope.window.start(at)
    bins = load_latency_bins(session, since)
    if scope.task is not None:
        task_bins = load_latency_bins(session, since, scope.task)
        bins = {m: task_bins.get(m) or b for m, b in bins.items()}
    return UtilityInputs(
        registry=load_registry(session, config, at),
        rows=load_hourly_rows(session, since),
        bins=bins,
        weights=weights_in_force(session),
        degraded=load_degraded(session, rule_from_config(config), scope.task, at),
    )


def candidates(
    inputs: SelectionInputs, wanted: tuple[str, ...] | None, at: datetime, task: str | None = None
) -> list[routing.Candidate]:
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
                cooling_until=info.cooling_until(at, task),
                stats=inputs.scoped.stats.get(name),
                p95_latency=percentile(bins.get(name, {}), 0.95),
            )
        )
    return chosen


def select_model(
    ctx: Context,
    scope: Scope,
    constraints: routing.Constraints | None = None,
    weights: Weights | None = None,
    mode: str | None = None,
    objective_overrides: dict | None = None,
) -> Selection:
    """Pick a model in ``scope`` under ``constraints``.

    ``mode`` (default AUREA_OBJECTIVE): ``utility`` under the configured objective with
    ``objective_overrides``, or ``weighted`` with the weights in force or ``weights`` (which
    imply weighted mode). What it reads is reused for up to AUREA_CACHE_SECONDS (see
    aurea.storage.cache); the decision's random draws are made per request.
    """
    config, session, cache = ctx.config, ctx.session, ctx.cache
    mode = WEIGHTED if weights is not None else objectives.mode_for(config, mode)
    constraints = constraints or routing.Constraints(min_requests=scope.min_requests)
    at = ctx.now()  # one moment for the keys, the window read and the estimates
    if mode == WEIGHTED:
        key = cache_key("select", scope, at)
        inputs = cache.get_or_compute(key, lambda: load_inputs(session, config, scope, at))
        redraw = functools.partial(choose, ctx, scope, inputs, constraints, weights)
        source = inputs
    else:
        objective = objectives.objective_for(config, scope.task, objective_overrides)
        inputs_key = cache_key("select-utility", scope, at)
        key = (inputs_key, objective, constraints)
        # Not nested: the cache computes one key per lock stripe at a time.
        inputs = cache.get_or_compute(
            inputs_key, lambda: load_utility_inputs(session, config, scope, at)
        )
        prepared = cache.get_or_compute(
            key, lambda: prepare_utility(ctx, scope, inputs, constraints, objective, at)
        )
        redraw = functools.partial(choose_utility, ctx, scope, prepared)
        source = prepared
    # An answer built from these inputs may be reused only as long as they are kept; a later
    # request for the same query draws again with ``redraw`` (the draw is per request).
    return dataclasses.replace(
        redraw(), reusable_until=cache.expires_at(key), redraw=redraw, source=source
    )


@dataclass(frozen=True)
class PreparedUtility:
    prepared: utility.Prepared | None
    nothing: list[utility.Ranked] | None  # set when nothing qualifies
    objective: Objective
    inputs: UtilityInputs
    estimates: dict[str, ModelEstimate]
    p95: dict[str, float | None]


def utility_exclusion(
    info: ModelInfo | None,
    estimate: ModelEstimate | None,
    p95: float | None,
    k: routing.Constraints,
    objective: Objective,
    task: str | None,
    at,
) -> str | None:
    """The first check a candidate fails in utility mode, or None."""
    if info is None:
        return routing.NOT_REGISTERED
    if info.name in k.exclude:
        return routing.EXCLUDED
    if not info.enabled:
        return routing.DISABLED
    if info.cooling_until(at, task) is not None:
        return routing.COOLING_DOWN
    if estimate is not None and estimate.cost is not None:
        if objective.max_price is not None and estimate.cost > objective.max_price:
            return MAX_PRICE
        if k.max_cost is not None and estimate.cost > k.max_cost:
            return routing.MAX_COST
    if k.max_latency is not None and p95 is not None and p95 > k.max_latency:
        return routing.MAX_LATENCY
    if (
        k.min_success_rate is not None
        and estimate is not None
        and estimate.posterior.mean < k.min_success_rate
    ):
        return routing.MIN_SUCCESS_RATE
    return None


def prepare_utility(
    ctx: Context,
    scope: Scope,
    inputs: UtilityInputs,
    constraints: routing.Constraints,
    objective: Objective,
    at: datetime,
) -> PreparedUtility:
    """Estimate every candidate at ``at`` and compute the decision's shares (cached with the
    inputs)."""
    config = ctx.config
    estimates = estimate_models(
        inputs.rows, scope.task, at, objectives.estimator_settings(config), inputs.degraded
    )
    registry = {m.name: m for m in inputs.registry}
    wanted = constraints.models if constraints.models is not None else sorted(registry)
    p95 = {name: percentile(inputs.bins.get(name, {}), 0.95) for name in wanted}
    entries = []
    for name in wanted:
        e = estimates.get(name)
        excluded = utility_exclusion(
            registry.get(name), e, p95[name], constraints, objective, scope.task, at
        )
        entries.append(
            utility.Estimate(
                model=name,
                posterior=e.posterior if e else UNIFORM,
                cost=e.cost if e else None,
                latency=e.latency if e else None,
                requests=e.model_requests if e else 0,
                last_seen_hours=e.last_seen_hours if e else None,
                excluded_by=excluded,
            )
        )
    policy = objectives.decision_policy(config)
    try:
        prepared = utility.prepare(entries, objective, policy, ctx.rng)
    except NothingEligible as exc:
        return PreparedUtility(None, exc.ranking, objective, inputs, estimates, p95)
    return PreparedUtility(prepared, None, objective, inputs, estimates, p95)


def choose_utility(ctx: Context, scope: Scope, p: PreparedUtility) -> Selection:
    """Draw this request's selection from a prepared utility decision."""
    if p.prepared is None:
        raise NoModelQualifies(
            "No model satisfies the constraints.",
            errors={"candidates": {r.estimate.model: r.estimate.excluded_by for r in p.nothing}},
        )
    decision = utility.choose(p.prepared, objectives.decision_policy(ctx.config), ctx.rng)
    selected = decision.selected
    return Selection(
        selected_model=decision.selected_model,
        score=selected.parts.expected_utility,
        weights=p.inputs.weights.weights,
        weights_version=p.inputs.weights.id,
        reason=decision.reason,
        explored=decision.explored,
        window=scope.window.name,
        task=scope.task,
        task_fallback=[],
        ranking=[],
        mode=UTILITY,
        objective=p.objective,
        utility_ranking=decision.ranking,
        estimates=p.estimates,
        p95=p.p95,
    )


def warms_up(mode: str, constraints: routing.Constraints) -> bool:
    """AUREA_WARMUP: ``all`` candidates, only those the caller ``listed`` in models=, or ``off``.

    ``listed`` is the default because only a caller's list says which models it can call: the
    registry also holds models nobody may use here (the five seed models, from the migration).
    """
    return mode == "all" or (mode == "listed" and constraints.models is not None)


def choose(
    ctx: Context,
    scope: Scope,
    inputs: SelectionInputs,
    constraints: routing.Constraints | None = None,
    weights: Weights | None = None,
    at: datetime | None = None,
) -> Selection:
    """Decide in weighted mode from inputs already read, with cooldowns as at ``at`` (default:
    now, as a reused answer's redraw wants); raise NoModelQualifies when nothing qualifies."""
    constraints = constraints or routing.Constraints(min_requests=scope.min_requests)
    used = weights or inputs.weights.weights
    config = ctx.config
    try:
        decision = routing.decide(
            candidates(inputs, constraints.models, at or ctx.now(), scope.task),
            constraints,
            used,
            exploration=objectives.exploration_for(config, WEIGHTED),
            rng=ctx.rng,
            warmup=warms_up(config["AUREA_WARMUP"], constraints),
        )
    except NothingEligible as exc:
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
