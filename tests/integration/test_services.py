"""The service layer on SQLite and PostgreSQL: what is stored, and how it is read back."""

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.app_context import service_context
from aurea.clock import FrozenClock
from aurea.domain.routing import Constraints
from aurea.domain.scoring import Weights
from aurea.errors import InvalidWeights
from aurea.services.context import Context
from aurea.services.dashboard import dashboard
from aurea.services.metrics import metrics_summary
from aurea.services.optimize import optimize_weights
from aurea.services.records import record_request
from aurea.services.scope import Scope
from aurea.services.selection import select_model
from aurea.services.weights import current_weights, set_weights
from aurea.storage.extensions import db
from aurea.storage.models import RegisteredModel, RequestMetric, WeightHistory


def history() -> list[WeightHistory]:
    return db.session.scalars(sa.select(WeightHistory).order_by(WeightHistory.id)).all()


def test_record_stores_one_row_with_aware_utc_timestamp(ctx):
    record_request(ctx, "gpt-4", 0.5, 0.02, True)
    db.session.remove()
    row = db.session.scalars(sa.select(RequestMetric)).one()
    assert (row.model, row.latency, row.cost, row.success) == ("gpt-4", 0.5, 0.02, True)
    assert row.created_at.tzinfo == UTC


def test_record_registers_unknown_model_once(ctx):
    record_request(ctx, "new-model", 0.5, 0.02, True)
    record_request(ctx, "new-model", 0.7, 0.02, False)
    names = db.session.scalars(
        sa.select(RegisteredModel.name).where(RegisteredModel.name == "new-model")
    ).all()
    assert names == ["new-model"]
    assert metrics_summary(ctx, Scope.from_request(ctx.config))["new-model"]["total_requests"] == 2


def test_set_weights_appends_manual_row_pointing_at_previous(ctx):
    set_weights(ctx, Weights(0.5, 0.3, 0.2))
    rows = history()
    assert [r.source for r in rows] == ["default", "manual"]
    assert rows[1].inputs["previous_weights_id"] == rows[0].id
    assert current_weights(ctx).weights == Weights(0.5, 0.3, 0.2)


def test_set_weights_not_summing_to_one_stores_nothing(ctx):
    with pytest.raises(InvalidWeights):
        set_weights(ctx, Weights(0.5, 0.5, 0.5))
    assert [r.source for r in history()] == ["default"]


def test_optimize_stores_its_inputs_for_auditors(ctx):
    record_request(ctx, "a", 1.0, 0.01, True)
    record_request(ctx, "b", 1.0, 0.03, False)
    result = optimize_weights(ctx, Scope.from_request(ctx.config))
    row = history()[-1]
    assert row.source == "optimize"
    assert row.id == result.history_id
    assert row.inputs["floor"] == 0.1
    assert row.inputs["variation"]["cost"] == pytest.approx(0.5)
    assert row.inputs["models"]["b"]["success_rate"] == 0.0
    assert row.inputs["previous_weights_id"] == history()[0].id


def test_optimize_dry_run_and_unchanged_store_nothing(ctx):
    optimize_weights(ctx, Scope.from_request(ctx.config))  # no data: unchanged
    record_request(ctx, "a", 1.0, 0.01, True)
    record_request(ctx, "b", 1.0, 0.03, False)
    assert optimize_weights(ctx, Scope.from_request(ctx.config), dry_run=True).status == "proposed"
    assert len(history()) == 1


def test_optimize_respects_configured_floor(app):
    app.config["AUREA_MIN_WEIGHT"] = 0.2
    with app.app_context():
        record_request(service_context(), "a", 1.0, 0.01, True)
        record_request(service_context(), "b", 1.0, 0.03, True)
        # only cost varies: cost gets everything above the floors
        weights = optimize_weights(
            service_context(), Scope.from_request(service_context().config)
        ).weights
    assert weights.cost == pytest.approx(0.6)
    assert weights.quality == pytest.approx(0.2)
    assert weights.latency == pytest.approx(0.2)


@pytest.mark.weighted_objective
def test_select_breaks_score_ties_by_name(ctx):
    record_request(ctx, "zeta", 1.0, 0.01, True)
    record_request(ctx, "alpha", 1.0, 0.01, True)
    chosen = select_model(ctx, Scope.from_request(ctx.config))
    assert chosen.selected_model == "alpha"
    assert chosen.score == pytest.approx(1.0)


@pytest.mark.weighted_objective
def test_models_without_data_do_not_compete_once_any_model_has_data(ctx):
    record_request(ctx, "only-one", 5.0, 1.0, False)
    chosen = select_model(ctx, Scope.from_request(ctx.config))
    assert chosen.selected_model == "only-one"
    # alone it gets full cost and latency scores, and quality 0
    assert chosen.score == pytest.approx(0.33 + 0.33)


def test_a_service_runs_outside_flask_on_a_plain_session_and_a_dict_of_settings(app):
    # No application context: the use cases read only what their Context gives them.
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with Session(engine) as session:
            ctx = Context(session=session, config=dict(app.config))
            record_request(ctx, "plain-a", 0.5, 0.001, True)
            record_request(ctx, "plain-b", 0.5, 0.001, False)
            scope = Scope.from_request(ctx.config)
            summary = metrics_summary(ctx, scope)
            chosen = select_model(ctx, scope, Constraints(models=("plain-a", "plain-b")))
        assert summary["plain-a"]["total_requests"] == 1
        assert summary["plain-b"]["success_rate"] == 0.0
        assert chosen.selected_model in ("plain-a", "plain-b")
        assert "plain-a" in ctx.registered  # the registration this process has seen
    finally:
        engine.dispose()


class CountingClock(FrozenClock):
    """A frozen clock that counts how often it is read."""

    reads = 0

    def __call__(self) -> datetime:
        self.reads += 1
        return super().__call__()


@contextmanager
def counted(app, **settings):
    """A Context outside Flask whose AUREA_CLOCK counts its reads, a second before an hour ends
    (two reads could straddle the hour)."""
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    clock = CountingClock(datetime(2020, 3, 1, 12, 59, 59, tzinfo=UTC))
    try:
        with Session(engine) as session:
            config = {**app.config, "AUREA_CLOCK": clock, **settings}
            yield Context(session=session, config=config), clock
    finally:
        engine.dispose()


@pytest.mark.parametrize("mode", ["utility", "weighted"])
def test_a_select_reads_the_clock_once_for_its_cache_keys_window_and_estimates(app, mode):
    with counted(app, AUREA_OBJECTIVE=mode) as (ctx, clock):
        record_request(ctx, "clocked", 0.5, 0.001, True)
        clock.reads = 0
        scope = Scope.from_request(ctx.config)
        chosen = select_model(ctx, scope, Constraints(models=("clocked",)))
    assert chosen.selected_model == "clocked"
    # The weighted mode's draw checks cooldowns at its own moment, once more: a reused
    # answer is drawn again later, when a cooldown may have ended.
    assert clock.reads == (1 if mode == "utility" else 2)


def test_a_metrics_answer_reads_the_clock_once_for_its_cache_key_and_window(app):
    with counted(app) as (ctx, clock):
        record_request(ctx, "clocked", 0.5, 0.001, True)
        clock.reads = 0
        summary = metrics_summary(ctx, Scope.from_request(ctx.config, window="1h"))
    assert summary["clocked"]["total_requests"] == 1
    assert clock.reads == 1


@pytest.mark.parametrize("dry_run", [True, False])
def test_optimize_reads_the_clock_once_for_its_window_cooldowns_and_history_row(app, dry_run):
    with counted(app) as (ctx, clock):
        for model, latency, cost in (("fast", 0.2, 0.01), ("cheap", 2.0, 0.001)):
            for ok in (True, True, False):
                record_request(ctx, model, latency, cost, ok)
        clock.reads = 0
        scope = Scope.from_request(ctx.config, window="1h")
        result = optimize_weights(ctx, scope, actor="clocked", dry_run=dry_run)
    assert result.status == ("proposed" if dry_run else "optimized")
    assert clock.reads == 1


def test_the_dashboard_reads_the_clock_once_for_every_part(app):
    with counted(app) as (ctx, clock):
        record_request(ctx, "clocked", 0.5, 0.001, True, task="code")
        clock.reads = 0
        board = dashboard(ctx, Scope.from_request(ctx.config, window="1h"))
    assert [t.task for t in board.tasks] == ["code"]
    assert clock.reads == 1


def test_outside_flask_the_clock_in_the_settings_stamps_records_weights_and_windows(app):
    # Services ask the Context's settings for the time (AUREA_CLOCK), never the app.
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    clock = FrozenClock(datetime(2020, 3, 1, 12, 30, tzinfo=UTC))
    try:
        with Session(engine) as session:
            ctx = Context(session=session, config={**app.config, "AUREA_CLOCK": clock})
            record_request(ctx, "clocked", 0.5, 0.001, True)
            stamped = session.scalar(
                sa.select(RequestMetric.created_at).where(RequestMetric.model == "clocked")
            )
            in_hour = metrics_summary(ctx, Scope.from_request(ctx.config, window="1h"))
            changed = set_weights(ctx, Weights(0.5, 0.25, 0.25), actor="clocked")
            clock.advance(hours=3)
            later = metrics_summary(ctx, Scope.from_request(ctx.config, window="1h"))
        assert stamped.replace(tzinfo=UTC) == clock.current - timedelta(hours=3)
        assert changed.created_at.replace(tzinfo=UTC) == clock.current - timedelta(hours=3)
        assert in_hour["clocked"]["total_requests"] == 1
        assert later["clocked"]["total_requests"] == 0  # three hours on: out of the window
    finally:
        engine.dispose()
