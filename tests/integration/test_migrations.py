"""Alembic brings an empty database to head, and the models match the migrations."""

import sqlalchemy as sa
from flask_migrate import check, downgrade, upgrade

from aurea.extensions import db
from config import MIGRATIONS_DIR

DIRECTORY = str(MIGRATIONS_DIR)


def table_names() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_upgrade_from_empty_creates_tables_and_seed_rows(empty_app):
    with empty_app.app_context():
        assert "request_metrics" not in table_names()
        upgrade(directory=DIRECTORY)
        assert {"models", "request_metrics", "weight_history", "alembic_version"} <= table_names()
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
