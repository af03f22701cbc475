"""Per-model statistics of a window, read from the hourly aggregates only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.domain.estimators import HourRow
from aurea.domain.scoring import ModelStats
from aurea.storage.models import LatencyHistogramHourly, ModelStatsHourly
from aurea.trends import HourBin


@dataclass(frozen=True)
class WindowStats:
    """Statistics of the models with data in a window, for all tasks or one."""

    stats: dict[str, ModelStats]
    last_updated: dict[str, datetime]


def _in_window(query, model, since: datetime | None, task: str | None):
    if since is not None:
        query = query.where(model.bucket_start >= since)
    if task is not None:
        query = query.where(model.task == task)
    return query


def load_window_stats(
    session: Session, since: datetime | None, task: str | None = None
) -> WindowStats:
    """Sum the hourly aggregates from ``since`` (None: all), for one task or all."""
    s = ModelStatsHourly
    query = sa.select(
        s.model,
        sa.func.sum(s.requests),
        sa.func.sum(s.successes),
        sa.func.sum(s.latency_sum),
        sa.func.sum(s.cost_sum),
        sa.func.max(s.last_recorded_at),
    ).group_by(s.model)
    stats, last_updated = {}, {}
    for model, requests, successes, latency_sum, cost_sum, newest in session.execute(
        _in_window(query, s, since, task)
    ):
        stats[model] = ModelStats(
            model=model,
            total_requests=int(requests),
            successes=int(successes),
            average_latency=float(latency_sum) / int(requests),
            average_cost=float(cost_sum) / int(requests),
        )
        last_updated[model] = newest
    return WindowStats(stats, last_updated)


def load_latency_bins(
    session: Session, since: datetime | None, task: str | None = None
) -> dict[str, dict[int, int]]:
    """Sum the hourly latency histograms from ``since``: model -> bin -> requests."""
    h = LatencyHistogramHourly
    query = sa.select(h.model, h.bin, sa.func.sum(h.requests)).group_by(h.model, h.bin)
    bins: dict[str, dict[int, int]] = defaultdict(dict)
    for model, k, requests in session.execute(_in_window(query, h, since, task)):
        bins[model][int(k)] = int(requests)
    return bins


def load_hourly_rows(session: Session, since: datetime | None) -> list[HourRow]:
    """Every hourly aggregate row from ``since`` (None: all), oldest first."""
    s = ModelStatsHourly
    query = sa.select(
        s.bucket_start,
        s.model,
        s.task,
        s.requests,
        s.successes,
        s.latency_sum,
        s.cost_sum,
        s.last_recorded_at,
    ).order_by(s.bucket_start, s.model, s.task)
    if since is not None:
        query = query.where(s.bucket_start >= since)
    return [
        HourRow(start, model, task, int(n), int(ok), float(lat), float(cost), last)
        for start, model, task, n, ok, lat, cost, last in session.execute(query)
    ]


def load_hourly_bins(
    session: Session, since: datetime | None, task: str | None = None
) -> list[HourBin]:
    """Every hourly latency histogram row from ``since`` (None: all), for one task or all."""
    h = LatencyHistogramHourly
    query = sa.select(h.bucket_start, h.model, h.task, h.bin, h.requests)
    return [
        HourBin(start, model, t, int(k), int(n))
        for start, model, t, k, n in session.execute(_in_window(query, h, since, task))
    ]
