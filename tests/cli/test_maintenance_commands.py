"""`flask aurea prune` and `flask aurea rebuild-aggregates`."""

from datetime import timedelta

import sqlalchemy as sa

from aurea.services.aggregates import roll_up
from aurea.storage.extensions import db
from aurea.storage.models import ModelStatsHourly, RequestMetric


def raw_count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(RequestMetric))


def aggregated_requests(app) -> int:
    with app.app_context():
        roll_up(db.session)
        return db.session.scalar(sa.select(sa.func.sum(ModelStatsHourly.requests)))


def record_days_ago(clock, record, days: int, count: int = 1) -> None:
    now = clock.current
    clock.current = now - timedelta(days=days)
    for _ in range(count):
        record("gpt-4", 1.0, 0.01, True)
    clock.current = now


def test_prune_deletes_old_raw_rows_in_batches_and_keeps_aggregates(app, runner, clock, record):
    record_days_ago(clock, record, 120, count=7)
    record_days_ago(clock, record, 95, count=3)
    record_days_ago(clock, record, 10, count=2)
    result = runner.invoke(args=["aurea", "prune", "--older-than", "90d", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert "deleted 10 raw rows" in result.output
    assert "in 3 batches" in result.output
    assert raw_count(app) == 2
    assert aggregated_requests(app) == 12
    all_time = app.test_client().get("/router/metrics?window=all").get_json()
    assert all_time["gpt-4"]["total_requests"] == 12


def test_prune_cutoff_is_the_start_of_the_hour(app, runner, clock, record):
    # now 10:20; --older-than 1h cuts at 09:00: 09:05 stays, 08:55 goes.
    now = clock.current
    for minutes in (85, 75):
        clock.current = now - timedelta(minutes=minutes)
        record("gpt-4", 1.0, 0.01, True)
    clock.current = now
    result = runner.invoke(args=["aurea", "prune", "--older-than", "1h"])
    assert "deleted 1 raw rows recorded before 2026-06-15T09:00:00+00:00" in result.output
    assert raw_count(app) == 1


def test_prune_refuses_a_malformed_age(runner):
    result = runner.invoke(args=["aurea", "prune", "--older-than", "ninety days"])
    assert result.exit_code != 0
    assert "90d" in result.output


def test_rebuild_after_prune_keeps_aggregates_of_pruned_hours(app, runner, clock, record):
    record_days_ago(clock, record, 120, count=3)
    record_days_ago(clock, record, 1, count=2)
    runner.invoke(args=["aurea", "prune", "--older-than", "90d"])
    result = runner.invoke(args=["aurea", "rebuild-aggregates"])
    assert result.exit_code == 0, result.output
    assert "rebuilt from 2 raw rows" in result.output
    assert aggregated_requests(app) == 5


def test_rebuild_with_no_raw_rows_changes_nothing(runner):
    result = runner.invoke(args=["aurea", "rebuild-aggregates"])
    assert result.exit_code == 0
    assert "no raw rows" in result.output


def test_optimize_command_accepts_a_window(runner, clock, record):
    record_days_ago(clock, record, 20)
    result = runner.invoke(args=["aurea", "optimize", "--window", "24h", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "window:    24h" in result.output
    assert "fewer than two models" in result.output
