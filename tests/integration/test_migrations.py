"""Alembic brings an empty database to head, and the models match the migrations."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import check, downgrade, upgrade

from aurea.services.partitions import day_partitions
from aurea.storage.extensions import db
from aurea.storage.models import LatencyHistogramHourly, ModelStatsHourly, UTCDateTime
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


def request_metrics_indexes() -> dict[str, dict]:
    return {index["name"]: index for index in sa.inspect(db.engine).get_indexes("request_metrics")}


def index_predicate(name: str) -> str | None:
    """The WHERE clause of index ``name`` as the database stores it (None: a full index)."""
    if db.engine.dialect.name == "sqlite":
        sql = db.session.scalar(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"),
            {"name": name},
        )
    else:
        sql = db.session.scalar(
            sa.text(
                "SELECT indexdef FROM pg_indexes "
                "WHERE indexname = :name AND schemaname = current_schema()"
            ),
            {"name": name},
        )
    _, where, predicate = sql.upper().partition(" WHERE ")
    return predicate.strip() or None if where else None


def test_request_metrics_keep_only_the_index_queries_use_and_request_ids_stay_unique(app):
    with app.app_context():
        assert set(request_metrics_indexes()) == {"ix_request_metrics_created_at"}
        assert sa.inspect(db.engine).get_pk_constraint("request_ids")["constrained_columns"] == [
            "request_id"
        ]


def test_slimming_the_indexes_keeps_stored_request_ids_unique_and_downgrades(empty_app):
    insert = sa.text(
        "INSERT INTO request_metrics (model, latency, cost, success, created_at, request_id) "
        "VALUES ('gpt-4', 0.5, 0.01, :yes, :at, :request_id)"
    ).bindparams(sa.bindparam("at", type_=UTCDateTime))
    at = datetime(2026, 6, 15, 9, 10, tzinfo=UTC)
    with empty_app.app_context():
        upgrade(directory=DIRECTORY, revision="0004")
        for request_id in ("a", None, None):
            db.session.execute(insert, {"yes": True, "at": at, "request_id": request_id})
        db.session.commit()
        upgrade(directory=DIRECTORY, revision="0005")
        db.session.execute(insert, {"yes": True, "at": at, "request_id": None})
        db.session.commit()
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(insert, {"yes": True, "at": at, "request_id": "a"})
        db.session.rollback()
        downgrade(directory=DIRECTORY, revision="0004")
        assert set(request_metrics_indexes()) == {
            "ix_request_metrics_created_at",
            "ix_request_metrics_model_created_at",
            "uq_request_metrics_request_id",
        }
        assert index_predicate("uq_request_metrics_request_id") is None
        assert db.session.scalar(sa.text("SELECT COUNT(*) FROM request_metrics")) == 4


PRICE_COLUMNS = {"input_usd_per_million_tokens", "output_usd_per_million_tokens"}


def models_columns() -> set[str]:
    return {column["name"] for column in sa.inspect(db.engine).get_columns("models")}


def test_token_prices_start_unset_on_existing_models_and_downgrade(empty_app):
    with empty_app.app_context():
        upgrade(directory=DIRECTORY, revision="0005")
        db.session.execute(sa.text("UPDATE models SET description = 'kept' WHERE name = 'gpt-4'"))
        db.session.commit()
        upgrade(directory=DIRECTORY, revision="0007_token_prices")
        rows = db.session.execute(
            sa.text(
                "SELECT name, description, input_usd_per_million_tokens, "
                "output_usd_per_million_tokens FROM models ORDER BY name"
            )
        ).all()
        assert len(rows) == 5
        assert {(r[2], r[3]) for r in rows} == {(None, None)}
        assert ("gpt-4", "kept") in {(r[0], r[1]) for r in rows}
        db.session.execute(
            sa.text("UPDATE models SET input_usd_per_million_tokens = 2.5 WHERE name = 'gpt-4'")
        )
        db.session.commit()
        downgrade(directory=DIRECTORY, revision="0005")
        assert not PRICE_COLUMNS & models_columns()
        assert db.session.scalar(sa.text("SELECT COUNT(*) FROM models")) == 5
        db.session.rollback()  # PostgreSQL: the read's lock would hold up ALTER TABLE
        upgrade(directory=DIRECTORY)
        assert PRICE_COLUMNS <= models_columns()


def test_partitioning_moves_every_row_keeps_ids_and_request_ids_and_downgrades(empty_app):
    insert = sa.text(
        "INSERT INTO request_metrics (model, latency, cost, success, created_at, request_id) "
        "VALUES ('gpt-4', 0.5, 0.01, :yes, :at, :request_id)"
    ).bindparams(sa.bindparam("at", type_=UTCDateTime))
    now = datetime.now(UTC)
    moments = [now - timedelta(days=days) for days in (0, 1, 3, 200)]
    with empty_app.app_context():
        upgrade(directory=DIRECTORY, revision="0005")
        for n, at in enumerate(moments):
            db.session.execute(insert, {"yes": True, "at": at, "request_id": f"id-{n}"})
        db.session.execute(insert, {"yes": True, "at": now, "request_id": None})
        db.session.commit()
        before = db.session.execute(
            sa.text("SELECT id, created_at, request_id FROM request_metrics ORDER BY id")
        ).all()
        db.session.rollback()
        upgrade(directory=DIRECTORY, revision="0008_partitions")

        after = db.session.execute(
            sa.text("SELECT id, created_at, request_id FROM request_metrics ORDER BY id")
        ).all()
        assert after == before
        stored_ids = db.session.scalars(sa.text("SELECT request_id FROM request_ids")).all()
        assert sorted(stored_ids) == [f"id-{n}" for n in range(4)]
        assert db.session.scalar(sa.text("SELECT last_id FROM rollup_watermark")) == before[-1][0]
        if db.engine.dialect.name == "postgresql":
            days = {day for day in day_partitions(db.session)}
            assert {m.date() for m in moments[:3]} <= days
            assert moments[3].date() not in days  # older than 90 days: the default partition
            in_default = db.session.scalar(sa.text("SELECT count(*) FROM request_metrics_default"))
            assert in_default == 1
        else:  # ids are never reused, even once the newest rows are pruned
            table_sql = db.session.scalar(
                sa.text("SELECT sql FROM sqlite_master WHERE name = 'request_metrics'")
            )
            assert "AUTOINCREMENT" in table_sql
        db.session.execute(insert, {"yes": True, "at": now, "request_id": None})
        newest = db.session.scalar(sa.text("SELECT max(id) FROM request_metrics"))
        assert newest == before[-1][0] + 1  # the ids go on
        db.session.commit()

        downgrade(directory=DIRECTORY, revision="0005")
        db.session.rollback()
        assert db.session.scalar(sa.text("SELECT count(*) FROM request_metrics")) == 6
        assert "request_ids" not in table_names()
        assert "REQUEST_ID IS NOT NULL" in index_predicate("uq_request_metrics_request_id")
