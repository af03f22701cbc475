"""Hourly aggregates: kept up to date on every write, rebuilt from raw rows on demand,
and the raw rows pruned once old enough."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from aurea.clock import floor_to_hour, now
from aurea.database import write_session
from aurea.histogram import bin_of
from aurea.models import (
    NO_TASK,
    LatencyHistogramHourly,
    ModelStatsHourly,
    RequestMetric,
)
from aurea.services.cooldown import prune_health
from aurea.services.driver_sql import DriverCursor

HEALTH_RETENTION = timedelta(days=1)
INSERT_CHUNK = 1000
STATS_COLUMNS = (
    "bucket_start",
    "model",
    "task",
    "requests",
    "successes",
    "latency_sum",
    "cost_sum",
    "last_recorded_at",
)
HISTOGRAM_COLUMNS = ("bucket_start", "model", "task", "bin", "requests")


@dataclass
class BucketSums:
    """What one (hour, model, task) bucket adds up to."""

    requests: int = 0
    successes: int = 0
    latency_sum: float = 0.0
    cost_sum: float = 0.0
    last_recorded_at: datetime | None = None
    bins: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, latency: float, cost: float, success: bool, at: datetime) -> None:
        self.requests += 1
        self.successes += int(success)
        self.latency_sum += latency
        self.cost_sum += cost
        if self.last_recorded_at is None or at > self.last_recorded_at:
            self.last_recorded_at = at
        self.bins[bin_of(latency)] += 1


Key = tuple[datetime, str, str]


def sum_rows(rows: Iterable[tuple[str, str | None, float, float, bool, datetime]]) -> dict:
    """Group (model, task, latency, cost, success, created_at) rows into hourly buckets."""
    buckets: dict[Key, BucketSums] = defaultdict(BucketSums)
    last_at = hour = None
    for model, task, latency, cost, success, at in rows:
        if at is not last_at:  # a batch's rows share one moment: floor (and hash) it once
            last_at, hour = at, floor_to_hour(at)
        buckets[(hour, model, task or NO_TASK)].add(latency, cost, success, at)
    return buckets


def _unchanged(moment: datetime) -> datetime:
    return moment


def stats_rows(
    buckets: dict[Key, BucketSums], timestamp: Callable[[datetime], Any] = _unchanged
) -> Iterator[tuple]:
    """STATS_COLUMNS tuples in key order; ``timestamp`` converts the timestamps."""
    for (bucket_start, model, task), sums in sorted(buckets.items()):
        yield (
            timestamp(bucket_start),
            model,
            task,
            sums.requests,
            sums.successes,
            sums.latency_sum,
            sums.cost_sum,
            timestamp(sums.last_recorded_at),
        )


def histogram_rows(
    buckets: dict[Key, BucketSums], timestamp: Callable[[datetime], Any] = _unchanged
) -> Iterator[tuple]:
    """HISTOGRAM_COLUMNS tuples in key order; ``timestamp`` converts the timestamps."""
    for (bucket_start, model, task), sums in sorted(buckets.items()):
        start = timestamp(bucket_start)
        for k, count in sorted(sums.bins.items()):
            yield (start, model, task, k, count)


def as_dicts(columns: tuple[str, ...], rows: Iterable[tuple]) -> list[dict]:
    """Rows as the dictionaries an ORM/Core ``insert()`` takes."""
    return [dict(zip(columns, row, strict=True)) for row in rows]


# Plain SQL that PostgreSQL and SQLite (3.24+) both accept, run at driver level
# (see aurea.services.driver_sql): SQLAlchemy cannot even cache the compiled form of its
# dialect ON CONFLICT constructs, and compiling them on every record doubled its cost.
STATS_UPSERT = f"""
    INSERT INTO model_stats_hourly ({", ".join(STATS_COLUMNS)})
    VALUES {{values}}
    ON CONFLICT (bucket_start, model, task) DO UPDATE SET
        requests = model_stats_hourly.requests + excluded.requests,
        successes = model_stats_hourly.successes + excluded.successes,
        latency_sum = model_stats_hourly.latency_sum + excluded.latency_sum,
        cost_sum = model_stats_hourly.cost_sum + excluded.cost_sum,
        last_recorded_at = CASE
            WHEN excluded.last_recorded_at > model_stats_hourly.last_recorded_at
            THEN excluded.last_recorded_at
            ELSE model_stats_hourly.last_recorded_at
        END
"""
HISTOGRAM_UPSERT = f"""
    INSERT INTO latency_histogram_hourly ({", ".join(HISTOGRAM_COLUMNS)})
    VALUES {{values}}
    ON CONFLICT (bucket_start, model, task, bin) DO UPDATE SET
        requests = latency_histogram_hourly.requests + excluded.requests
"""


def add_to_aggregates(cursor: DriverCursor, buckets: dict[Key, BucketSums]) -> None:
    """Add bucket sums to the stored aggregates with atomic upserts (the caller commits).

    Keys are applied in sorted order, so concurrent writers lock rows in the same
    order and cannot deadlock.
    """
    cursor.insert_rows(STATS_UPSERT, list(stats_rows(buckets, cursor.timestamp)))
    cursor.insert_rows(HISTOGRAM_UPSERT, list(histogram_rows(buckets, cursor.timestamp)))


@dataclass(frozen=True)
class RebuildReport:
    raw_rows: int
    since: datetime | None
    stats_rows: int
    histogram_rows: int


def rebuild_aggregates(chunk_rows: int = 10_000) -> RebuildReport:
    """Recompute the aggregates of every hour that still has raw rows.

    Hours older than the oldest raw row keep their aggregates: their raw rows were
    pruned, and the aggregates are all that is left of them.
    """
    session = write_session()
    first = session.scalar(sa.select(sa.func.min(RequestMetric.created_at)))
    if first is None:
        session.rollback()
        return RebuildReport(0, None, 0, 0)
    since = floor_to_hour(first)
    rows = session.execute(
        sa.select(
            RequestMetric.model,
            RequestMetric.task,
            RequestMetric.latency,
            RequestMetric.cost,
            RequestMetric.success,
            RequestMetric.created_at,
        ).execution_options(yield_per=chunk_rows)
    )
    raw_rows = 0

    def counted(rows):
        nonlocal raw_rows
        for row in rows:
            raw_rows += 1
            yield row

    buckets = sum_rows(counted(rows))
    for model in (ModelStatsHourly, LatencyHistogramHourly):
        session.execute(sa.delete(model).where(model.bucket_start >= since))
    new_stats = as_dicts(STATS_COLUMNS, stats_rows(buckets))
    new_bins = as_dicts(HISTOGRAM_COLUMNS, histogram_rows(buckets))
    for model, values in ((ModelStatsHourly, new_stats), (LatencyHistogramHourly, new_bins)):
        for start in range(0, len(values), INSERT_CHUNK):
            session.execute(sa.insert(model), values[start : start + INSERT_CHUNK])
    session.commit()
    return RebuildReport(raw_rows, since, len(new_stats), len(new_bins))


@dataclass(frozen=True)
class PruneReport:
    cutoff: datetime
    deleted: int
    batches: int


def prune_raw_rows(older_than: timedelta, batch_size: int = 5_000) -> PruneReport:
    """Delete raw rows recorded before the hour ``older_than`` ago, a batch per transaction.

    The cutoff is a whole hour, so every hourly aggregate either keeps all its raw
    rows or none, and a later rebuild recomputes whole hours only. Aggregates stay.
    """
    cutoff = floor_to_hour(now() - older_than)
    deleted = batches = 0
    while True:
        session = write_session()
        ids = session.scalars(
            sa.select(RequestMetric.id)
            .where(RequestMetric.created_at < cutoff)
            .order_by(RequestMetric.id)
            .limit(batch_size)
        ).all()
        if not ids:
            # Per-minute health counts only serve the cooldown's minutes-long lookback.
            prune_health(session, now() - HEALTH_RETENTION)
            session.commit()
            return PruneReport(cutoff, deleted, batches)
        session.execute(sa.delete(RequestMetric).where(RequestMetric.id.in_(ids)))
        session.commit()
        deleted += len(ids)
        batches += 1
