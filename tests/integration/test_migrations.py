"""Alembic brings an empty database to head, and the models match the migrations."""

from datetime import UTC, datetime

import sqlalchemy as sa
from flask_migrate import check, downgrade, upgrade

from aurea.extensions import db
from aurea.models import LatencyHistogramHourly, ModelStatsHourly, UTCDateTime
from config import MIGRATIONS_DIR

DIRECTORY = str(MIGRATIONS_DIR)


def table_names() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_upgrade_from_empty_creates_tables_and_seed_rows(empty_app):
    with empty_app.app_context():
        assert "request_metrics" not in table_names()
        upgrade(directory=DIRECTORY)
        assert {
            "models",
            "request_metrics",
            "weight_history",
            "model_stats_hourly",
            "latency_histogram_hourly",
            "alembic_version",
        } <= table_names()
        names = db.session.scalars(sa.text("SELECT name FROM models ORDER BY name")).all()
        assert names == [
            "claude-3-opus",
            "claude-3-sonnet",
            "gpt-3.5-turbo",
            "gpt-4",
            "llama-2-70b",
        ]
        row = db.session.execute(
            sa.text(
                "SELECT cost_weight, quality_weight, latency_weight, source FROM weight_history"
            )
        ).one()
        assert tuple(row) == (0.33, 0.34, 0.33, "default")


def test_models_and_migrations_have_no_drift(app):
    with app.app_context():
        # Raises (exits) if autogenerate would emit any operation.
        check(directory=DIRECTORY)


def test_downgrade_to_base_removes_every_table(app):
    with app.app_context():
        downgrade(directory=DIRECTORY, revision="base")
        assert table_names() <= {"alembic_version"}


def test_upgrade_from_first_revision_aggregates_existing_rows(empty_app):
    with empty_app.app_context():
        upgrade(directory=DIRECTORY, revision="0001")
        db.session.execute(
            sa.text(
                "INSERT INTO request_metrics (model, latency, cost, success, created_at) VALUES "
                "('gpt-4', 0.5, 0.01, :yes, :t1), ('gpt-4', 1.5, 0.03, :no, :t2), "
                "('gpt-3.5-turbo', 0.2, 0.001, :yes, :t3)"
            ).bindparams(
                sa.bindparam("t1", type_=UTCDateTime),
                sa.bindparam("t2", type_=UTCDateTime),
                sa.bindparam("t3", type_=UTCDateTime),
            ),
            {
                "yes": True,
                "no": False,
                "t1": datetime(2026, 6, 15, 9, 10, tzinfo=UTC),
                "t2": datetime(2026, 6, 15, 9, 50, tzinfo=UTC),
                "t3": datetime(2026, 6, 15, 11, 0, tzinfo=UTC),
            },
        )
        db.session.commit()
        upgrade(directory=DIRECTORY)

        rows = db.session.execute(
            sa.select(
                ModelStatsHourly.bucket_start,
                ModelStatsHourly.model,
                ModelStatsHourly.task,
                ModelStatsHourly.requests,
                ModelStatsHourly.successes,
                ModelStatsHourly.latency_sum,
                ModelStatsHourly.last_recorded_at,
            ).order_by(ModelStatsHourly.bucket_start)
        ).all()
        assert [tuple(r) for r in rows] == [
            (
                datetime(2026, 6, 15, 9, tzinfo=UTC),
                "gpt-4",
                "",
                2,
                1,
                2.0,
                datetime(2026, 6, 15, 9, 50, tzinfo=UTC),
            ),
            (
                datetime(2026, 6, 15, 11, tzinfo=UTC),
                "gpt-3.5-turbo",
                "",
                1,
                1,
                0.2,
                datetime(2026, 6, 15, 11, 0, tzinfo=UTC),
            ),
        ]
        bins = db.session.scalar(sa.select(sa.func.sum(LatencyHistogramHourly.requests)))
        assert bins == 3
