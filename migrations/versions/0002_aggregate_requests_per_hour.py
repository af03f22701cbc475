"""Aggregate requests per model, task and hour; add the task label; backfill from raw rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

"""

import math
from collections import defaultdict
from datetime import UTC

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)

# The histogram bins as of this revision (aurea/domain/histogram.py): frozen here so that
# this migration always backfills the same way.
BASE_SECONDS = 0.001
LOG_RATIO = math.log(1.1)
BIN_COUNT = 200


def bin_of(latency):
    if latency < BASE_SECONDS:
        return 0
    return min(int(math.floor(math.log(latency / BASE_SECONDS) / LOG_RATIO)) + 1, BIN_COUNT - 1)


def as_utc(moment):
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def upgrade():
    stats = op.create_table(
        "model_stats_hourly",
        sa.Column("bucket_start", Timestamp, nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("successes", sa.BigInteger(), nullable=False),
        sa.Column("latency_sum", sa.Double(), nullable=False),
        sa.Column("cost_sum", sa.Double(), nullable=False),
        sa.Column("last_recorded_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["model"], ["models.name"], name=op.f("fk_model_stats_hourly_model_models")
        ),
        sa.PrimaryKeyConstraint(
            "bucket_start", "model", "task", name=op.f("pk_model_stats_hourly")
        ),
    )
    histogram = op.create_table(
        "latency_histogram_hourly",
        sa.Column("bucket_start", Timestamp, nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("bin", sa.SmallInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model"], ["models.name"], name=op.f("fk_latency_histogram_hourly_model_models")
        ),
        sa.PrimaryKeyConstraint(
            "bucket_start", "model", "task", "bin", name=op.f("pk_latency_histogram_hourly")
        ),
    )
    with op.batch_alter_table("request_metrics") as batch_op:
        batch_op.add_column(sa.Column("task", sa.String(length=64), nullable=True))
    op.create_index("ix_request_metrics_created_at", "request_metrics", ["created_at"])
    backfill(stats, histogram)


def backfill(stats, histogram):
    """Aggregate every existing raw row (all of them have no task yet)."""
    raw = sa.table(
        "request_metrics",
        sa.column("model", sa.String),
        sa.column("latency", sa.Double),
        sa.column("cost", sa.Double),
        sa.column("success", sa.Boolean),
        sa.column("created_at", Timestamp),
    )
    sums = defaultdict(lambda: [0, 0, 0.0, 0.0, None])
    bins = defaultdict(int)
    rows = op.get_bind().execute(
        sa.select(
            raw.c.model, raw.c.latency, raw.c.cost, raw.c.success, raw.c.created_at
        ).execution_options(yield_per=10_000)
    )
    for model, latency, cost, success, created_at in rows:
        at = as_utc(created_at)
        key = (at.replace(minute=0, second=0, microsecond=0), model, "")
        bucket = sums[key]
        bucket[0] += 1
        bucket[1] += int(success)
        bucket[2] += latency
        bucket[3] += cost
        bucket[4] = at if bucket[4] is None or at > bucket[4] else bucket[4]
        bins[(*key, bin_of(latency))] += 1
    stats_rows = [
        {
            "bucket_start": start,
            "model": model,
            "task": task,
            "requests": n,
            "successes": ok,
            "latency_sum": latency_sum,
            "cost_sum": cost_sum,
            "last_recorded_at": last,
        }
        for (start, model, task), (n, ok, latency_sum, cost_sum, last) in sorted(sums.items())
    ]
    histogram_rows = [
        {"bucket_start": start, "model": model, "task": task, "bin": k, "requests": n}
        for (start, model, task, k), n in sorted(bins.items())
    ]
    for table, values in ((stats, stats_rows), (histogram, histogram_rows)):
        for i in range(0, len(values), 1000):
            op.bulk_insert(table, values[i : i + 1000])


def downgrade():
    op.drop_index("ix_request_metrics_created_at", table_name="request_metrics")
    with op.batch_alter_table("request_metrics") as batch_op:
        batch_op.drop_column("task")
    op.drop_table("latency_histogram_hourly")
    op.drop_table("model_stats_hourly")
