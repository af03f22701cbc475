"""What the dashboard shows: metrics, score components, the selection, the weight history,
trends per model, model states, a table per task and the recent decisions.

One read of the same statistics that metrics and select use, so the page agrees with
``GET /router/metrics`` and ``GET /router/select`` at the same moment. Trends and the task
table come from the window's hourly aggregate rows (the ones utility mode's estimates read)
and hourly latency histograms, summed here rather than in more SQL.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.charts import HistoryPoint
from aurea.domain.estimators import HourRow
from aurea.domain.histogram import percentile
from aurea.domain.scoring import ModelScore, ModelStats, Weights, score_models, stats_for_task
from aurea.domain.windows import floor_to_hour
from aurea.services.context import Context
from aurea.services.decisions import Decision
from aurea.services.metrics import summarize
from aurea.services.registry import ModelInfo
from aurea.services.scope import Scope, ScopedStats
from aurea.services.selection import (
    NoModelQualifies,
    Selection,
    SelectionInputs,
    choose,
    load_inputs,
)
from aurea.services.statistics import load_hourly_bins, load_hourly_rows
from aurea.services.weights import WeightRecord
from aurea.storage.models import NO_TASK, WeightHistory
from aurea.trends import Chip, HourBin, Style, Trends, build_trends, model_styles, state_chips

HISTORY_LIMIT = 500  # newest weight_history rows drawn; older ones are counted, not drawn


@dataclass(frozen=True)
class ModelRow:
    """A registered model's metrics (as GET /router/metrics has them) and score components."""

    name: str
    metrics: dict[str, Any]
    components: ModelScore | None  # None without data in the window
    selected: bool
    chips: tuple[Chip, ...] = ()
    style: Style | None = None  # its line on the trend charts (None: no data in the window)


@dataclass(frozen=True)
class TaskRow:
    """One task of the window (``task`` is NO_TASK for records without one)."""

    task: str
    requests: int
    success_rate: float
    p95_latency: float | None
    cost: float
    chosen_model: str | None  # what weighted select picks for the task now (None: nothing)


@dataclass(frozen=True)
class Dashboard:
    scope: Scope
    generated_at: datetime
    models: list[ModelRow]
    selection: Selection | None  # None when no model may be selected now
    weights: WeightRecord
    history: list[HistoryPoint]  # oldest first
    history_total: int
    trends: Trends | None = None
    styles: dict[str, Style] | None = None
    tasks: list[TaskRow] | None = None
    decisions: list[Decision] | None = None  # newest first, this worker's only


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


def dashboard(ctx: Context, scope: Scope) -> Dashboard:
    """Read everything the dashboard shows in one read transaction (never cached)."""
    session = ctx.session
    at = ctx.now()
    inputs = load_inputs(session, ctx.config, scope, at)
    in_force = inputs.weights
    summary = summarize(inputs.registry, inputs.scoped, in_force.weights, scope)
    components = score_models(inputs.scoped.ordered(), in_force.weights)
    try:
        selection = choose(ctx, scope, inputs, at=at)
    except NoModelQualifies:
        selection = None  # every model is disabled or cooling down
    history, total = load_history(session)
    since = scope.window.start(at)
    rows = load_hourly_rows(session, since)
    bins = load_hourly_bins(session, since)
    trends = build_trends(rows, bins, since, floor_to_hour(at), scope.task)
    styles = model_styles(s.model for s in trends.series)
    registry = {m.name: m for m in inputs.registry}
    picked = selection.selected_model if selection else None
    models = [
        ModelRow(
            name,
            entry,
            components.get(name),
            name == picked,
            chips_of(registry[name], entry["total_requests"], scope, at)
            if name in registry
            else (),
            styles.get(name),
        )
        for name, entry in summary.items()
    ]
    tasks = task_rows(ctx, scope, inputs, rows, bins, at)
    return Dashboard(
        scope,
        at,
        models,
        selection,
        in_force,
        history,
        total,
        trends,
        styles,
        tasks,
        ctx.decisions.newest_first(),
    )


def chips_of(info: ModelInfo, rows: int, scope: Scope, at: datetime) -> tuple[Chip, ...]:
    """The state chips of a registered model with ``rows`` rows in the scope."""
    return state_chips(
        info.enabled, info.cooling_tasks(at), rows, scope.task, info.cooling_until(at, scope.task)
    )


def _stats(rows: list[HourRow]) -> dict[str, ModelStats]:
    sums: dict[str, list] = defaultdict(lambda: [0, 0, 0.0, 0.0])
    for r in rows:
        s = sums[r.model]
        s[0] += r.requests
        s[1] += r.successes
        s[2] += r.latency_sum
        s[3] += r.cost_sum
    return {
        m: ModelStats(m, n, ok, latency / n, cost / n)
        for m, (n, ok, latency, cost) in sums.items()
        if n
    }


def _bins(bins: list[HourBin]) -> dict[str, dict[int, int]]:
    out: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for b in bins:
        out[b.model][b.bin] += b.requests
    return out


def task_rows(
    ctx: Context,
    scope: Scope,
    inputs: SelectionInputs,
    rows: list[HourRow],
    bins: list[HourBin],
    at: datetime,
) -> list[TaskRow]:
    """Per task of the window: its rows, success rate, p95, cost, and the model weighted
    select picks for it at ``at``, scored as select would (task statistics, global ones standing
    in below min_requests). Busiest task first."""
    overall, overall_bins = _stats(rows), _bins(bins)
    by_task: dict[str, list[HourRow]] = defaultdict(list)
    bins_by_task: dict[str, list[HourBin]] = defaultdict(list)
    for r in rows:
        by_task[r.task].append(r)
    for b in bins:
        bins_by_task[b.task].append(b)
    out = []
    for task, task_rows_ in by_task.items():
        specific = _stats(task_rows_)
        requests = sum(s.total_requests for s in specific.values())
        if not requests:
            continue
        task_bins = _bins(bins_by_task[task])
        merged: dict[int, int] = defaultdict(int)
        for counts in task_bins.values():
            for k, n in counts.items():
                merged[k] += n
        if task == NO_TASK:
            # Select without a task scores every row of the window, whatever its task.
            scoped = ScopedStats(overall, {}, frozenset(), overall_bins)
            task_scope = Scope(scope.window, None, scope.min_requests)
        else:
            stats, fallback = stats_for_task(overall, specific, scope.min_requests)
            scoped = ScopedStats(
                stats,
                {},
                fallback,
                {m: (overall_bins if m in fallback else task_bins).get(m, {}) for m in stats},
            )
            task_scope = Scope(scope.window, task, scope.min_requests)
        try:
            chosen = choose(
                ctx, task_scope, SelectionInputs(inputs.registry, scoped, inputs.weights), at=at
            )
            chosen_model = chosen.selected_model
        except NoModelQualifies:
            chosen_model = None
        out.append(
            TaskRow(
                task=task,
                requests=requests,
                success_rate=sum(s.successes for s in specific.values()) / requests,
                p95_latency=percentile(merged, 0.95),
                cost=sum(r.cost_sum for r in task_rows_),
                chosen_model=chosen_model,
            )
        )
    out.sort(key=lambda t: (-t.requests, t.task))
    return out
