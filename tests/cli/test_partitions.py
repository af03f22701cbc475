"""request_metrics' day partitions on PostgreSQL: created ahead, filled from the default
partition, dropped whole by prune; SQLite keeps one table."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from aurea.services.aggregates import roll_up
from aurea.services.partitions import DEFAULT, day_partitions, ensure_partitions
from aurea.storage.extensions import db

postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def partition_days(app) -> set:
    with app.app_context():
        days = set(day_partitions(db.session))
        db.session.remove()
    return days


def rows_in(app, table: str) -> int:
    with app.app_context():
        count = db.session.scalar(sa.text(f"SELECT count(*) FROM {table}"))
        db.session.remove()
    return count


def aggregated(app) -> int:
    with app.app_context():
        roll_up(db.session)
        total = db.session.scalar(sa.text("SELECT sum(requests) FROM model_stats_hourly"))
        db.session.remove()
    return total


@postgres_only
def test_the_command_creates_the_coming_days_and_moves_their_rows_out_of_the_default(
    app, runner, clock, record
):
    today = clock.current.date()  # 2026-06-15: no partition yet, its rows go to the default
    assert today not in partition_days(app)
    record("gpt-4", 1.0, 0.01, True)
    assert rows_in(app, DEFAULT) == 1

    result = runner.invoke(args=["aurea", "partitions", "--days-ahead", "3"])
    assert result.exit_code == 0, result.output
    assert "created 4 partitions" in result.output
    assert {today + timedelta(days=n) for n in range(4)} <= partition_days(app)
    assert rows_in(app, DEFAULT) == 0
    assert rows_in(app, f"request_metrics_p{today:%Y%m%d}") == 1
    record("gpt-4", 1.0, 0.01, True)  # straight into today's partition now
    assert rows_in(app, f"request_metrics_p{today:%Y%m%d}") == 2
    assert runner.invoke(args=["aurea", "partitions", "--days-ahead", "3"]).output.startswith(
        "created 0 partitions"
    )


@postgres_only
def test_prune_drops_whole_old_days_and_deletes_the_rest_in_batches(app, runner, clock, record):
    now = clock.current
    with app.app_context():
        ensure_partitions(db.session, (now - timedelta(days=100)).date(), now.date())
        db.session.remove()
    for days, count in ((100, 3), (99, 2), (10, 1)):
        clock.current = now - timedelta(days=days)
        for _ in range(count):
            record("gpt-4", 1.0, 0.01, True)
    clock.current = now - timedelta(days=200)  # a day without a partition: the default one
    record("gpt-4", 1.0, 0.01, True)
    clock.current = now

    result = runner.invoke(args=["aurea", "prune", "--older-than", "90d"])
    assert result.exit_code == 0, result.output
    assert "deleted 6 raw rows" in result.output
    assert "in 1 batches and 10 day partitions" in result.output  # days 100 to 91 ago
    days = partition_days(app)
    assert (now - timedelta(days=91)).date() not in days
    assert (now - timedelta(days=90)).date() in days  # the cutoff's day: rows after it stay
    assert rows_in(app, "request_metrics") == 1
    assert aggregated(app) == 7  # the aggregates keep every pruned record


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_the_partitions_command_does_nothing(runner):
    result = runner.invoke(args=["aurea", "partitions"])
    assert result.exit_code == 0
    assert "not partitioned" in result.output
