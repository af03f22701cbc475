"""Hourly aggregates: maintained on write, equal to a rebuild, the only thing reads use."""

import random
from datetime import timedelta

import pytest
import sqlalchemy as sa

from aurea.app_context import service_context
from aurea.domain.windows import floor_to_hour
from aurea.services.aggregates import rebuild_aggregates, roll_up
from aurea.services.metrics import metrics_summary
from aurea.services.optimize import optimize_weights
from aurea.services.records import record_request
from aurea.services.scope import Scope
from aurea.services.selection import select_model
from aurea.storage.extensions import db
from aurea.storage.models import LatencyHistogramHourly, ModelStatsHourly, RequestMetric

MODELS = ["gpt-4", "gpt-3.5-turbo", "claude-3-opus", "local-llama"]
TASKS = [None, "code", "summarize"]


def aggregate_tables() -> tuple[dict, dict]:
    roll_up(db.session)
    stats = {
        (r.bucket_start, r.model, r.task): (
            r.requests,
            r.successes,
            r.latency_sum,
            r.cost_sum,
            r.last_recorded_at,
        )
        for r in db.session.scalars(sa.select(ModelStatsHourly))
    }
    bins = {
        (r.bucket_start, r.model, r.task, r.bin): r.requests
        for r in db.session.scalars(sa.select(LatencyHistogramHourly))
    }
    return stats, bins


def record_random_rows(clock, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for _ in range(count):
        clock.advance(seconds=rng.uniform(0, 90))  # ~50 hours for 4,000 rows
        record_request(
            service_context(),
            rng.choice(MODELS),
            latency=rng.lognormvariate(-0.5, 0.8),
            cost=rng.uniform(0, 0.05),
            success=rng.random() < 0.9,
            task=rng.choice(TASKS),
        )


def test_incremental_aggregates_equal_a_rebuild_from_raw_rows(ctx, clock):
    record_random_rows(clock, 2500)
    incremental_stats, incremental_bins = aggregate_tables()
    assert len({key[0] for key in incremental_stats}) > 24, "rows should span many hours"

    report = rebuild_aggregates(db.session)
    db.session.remove()
    rebuilt_stats, rebuilt_bins = aggregate_tables()

    assert report.raw_rows == 2500
    assert rebuilt_bins == incremental_bins
    assert rebuilt_stats.keys() == incremental_stats.keys()
    for key, (n, ok, latency_sum, cost_sum, last) in rebuilt_stats.items():
        inc = incremental_stats[key]
        assert (n, ok, last) == (inc[0], inc[1], inc[4]), key
        # Floating sums added in another order differ in the last bits only.
        assert latency_sum == pytest.approx(inc[2], rel=1e-9)
        assert cost_sum == pytest.approx(inc[3], rel=1e-9)
    assert sum(v[0] for v in rebuilt_stats.values()) == 2500


def test_rebuild_restores_aggregates_that_were_lost(ctx, clock):
    record_random_rows(clock, 200)
    before = aggregate_tables()
    db.session.execute(sa.delete(ModelStatsHourly))
    db.session.execute(sa.delete(LatencyHistogramHourly))
    db.session.commit()
    rebuild_aggregates(db.session)
    db.session.remove()
    after = aggregate_tables()
    assert after[1] == before[1]
    assert {k: v[:2] for k, v in after[0].items()} == {k: v[:2] for k, v in before[0].items()}


@pytest.mark.weighted_objective
def test_reads_with_nothing_to_roll_up_read_no_raw_row(ctx, clock):
    record_request(ctx, "gpt-4", 0.8, 0.03, True)
    record_request(ctx, "gpt-3.5-turbo", 0.3, 0.002, True, task="code")
    scope = Scope.from_request(ctx.config, task="code")
    expected = (select_model(ctx, scope), metrics_summary(ctx, scope))  # rolls the two rows up

    statements = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    # With the raw rows gone, reads must answer exactly as before.
    db.session.execute(sa.delete(RequestMetric))
    db.session.commit()
    statements.clear()
    assert (select_model(ctx, scope), metrics_summary(ctx, scope)) == expected
    optimize_weights(ctx, Scope.from_request(ctx.config), dry_run=True)
    raw = [s for s in statements if "request_metrics" in s]
    # Only the check against the watermark (the newest id handed out) names the raw rows.
    assert raw and all("rollup_watermark" in s and "GROUP BY" not in s for s in raw)
    assert not any("FROM request_metrics WHERE" in " ".join(s.split()) for s in statements)


def test_a_read_rolls_up_only_the_rows_recorded_since_the_last_roll_up(ctx, clock):
    record_request(ctx, "gpt-4", 1.0, 0.01, True)
    assert metrics_summary(ctx, Scope.from_request(ctx.config))["gpt-4"]["total_requests"] == 1
    db.session.execute(sa.delete(RequestMetric))  # rolled up: no longer needed by reads
    db.session.commit()
    record_request(ctx, "gpt-4", 3.0, 0.03, False)
    summary = metrics_summary(ctx, Scope.from_request(ctx.config))["gpt-4"]
    assert summary["total_requests"] == 2
    assert summary["average_latency"] == pytest.approx(2.0)
    assert summary["success_rate"] == pytest.approx(0.5)
    assert roll_up(db.session) == 0  # nothing new: nothing added twice
    assert aggregate_tables()[0][(floor_to_hour(clock.current), "gpt-4", "")][0] == 2


def test_record_adds_to_the_hour_bucket_of_its_timestamp(ctx, clock):
    record_request(ctx, "gpt-4", 0.5, 0.01, True, task="code")
    clock.advance(minutes=30)  # 10:50, same hour
    record_request(ctx, "gpt-4", 1.5, 0.03, False, task="code")
    clock.advance(minutes=15)  # 11:05, next hour
    record_request(ctx, "gpt-4", 1.0, 0.02, True)
    stats, _ = aggregate_tables()
    hour = clock.current.replace(minute=0, second=0, microsecond=0)
    assert stats[(hour - timedelta(hours=1), "gpt-4", "code")][:4] == (2, 1, 2.0, 0.04)
    assert stats[(hour, "gpt-4", "")][:2] == (1, 1)
