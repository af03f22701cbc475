"""Bulk-load synthetic request_metrics rows (and their aggregates) without going through HTTP.

On PostgreSQL the days loaded get their partitions first; the aggregates are computed here
and the roll-up watermark set past the loaded rows, as if a roll-up had added them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.services.aggregates import histogram_rows, stats_rows, sum_rows
from aurea.services.partitions import ensure_partitions
from aurea.storage.models import LatencyHistogramHourly, ModelStatsHourly

MODELS = {
    # model: (median latency s, cost USD, success rate)
    "gpt-4": (0.9, 0.03, 0.98),
    "gpt-3.5-turbo": (0.35, 0.002, 0.95),
    "claude-3-opus": (1.1, 0.045, 0.985),
    "claude-3-sonnet": (0.6, 0.009, 0.97),
    "llama-2-70b": (0.5, 0.001, 0.9),
}
TASKS = [None, None, "code", "summarize"]


def synthetic_rows(count: int, days: int = 90, seed: int = 1):
    """Yield (model, task, latency, cost, success, created_at), spread over the last ``days``."""
    rng = random.Random(seed)
    end = datetime.now(UTC)
    span = timedelta(days=days).total_seconds()
    names = list(MODELS)
    for _ in range(count):
        model = rng.choice(names)
        median, cost, success = MODELS[model]
        yield (
            model,
            rng.choice(TASKS),
            rng.lognormvariate(0, 0.5) * median,
            cost * rng.uniform(0.5, 1.5),
            rng.random() < success,
            end - timedelta(seconds=rng.uniform(0, span)),
        )


def bulk_load(engine: sa.Engine, count: int, chunk: int = 50_000) -> None:
    """Insert ``count`` raw rows and the matching hourly aggregates."""
    rows = list(synthetic_rows(count))
    if rows:
        with Session(engine) as session:
            ensure_partitions(session, min(r[5] for r in rows).date(), datetime.now(UTC).date())
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cursor.copy(
                "COPY request_metrics (model, task, latency, cost, success, created_at) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.execute("BEGIN")  # the engine's connections run in autocommit mode
            sql = (
                "INSERT INTO request_metrics (model, task, latency, cost, success, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)"
            )
            for start in range(0, len(rows), chunk):
                cursor.executemany(
                    sql,
                    [
                        (m, t, lat, c, int(s), at.strftime("%Y-%m-%d %H:%M:%S.%f"))
                        for m, t, lat, c, s, at in rows[start : start + chunk]
                    ],
                )
        raw.commit()
    finally:
        raw.close()
    buckets = sum_rows(rows)
    with engine.begin() as conn:
        for model, values in (
            (ModelStatsHourly, stats_rows(buckets)),
            (LatencyHistogramHourly, histogram_rows(buckets)),
        ):
            for start in range(0, len(values), 5000):
                conn.execute(sa.insert(model.__table__), values[start : start + 5000])
        conn.execute(
            sa.text(
                "UPDATE rollup_watermark SET last_id = "
                "(SELECT COALESCE(MAX(id), 0) FROM request_metrics)"
            )
        )
