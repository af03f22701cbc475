"""Count health per model and task, and derive cooldowns from the counts when reading.

``model_health_minutely`` gains ``task`` in its key (the empty string for records without
one), so that a model failing on one task is cooled down for that task only; the counts only
serve the cooldown's lookback of minutes, so the table is recreated empty. ``models.
cooldown_until`` goes: cooldowns are computed from the counts at read time (aurea.domain.
cooldown), never written by a record.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def _health_table(with_task: bool):
    columns = [
        sa.Column("bucket_start", Timestamp, nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
    ]
    key = ["bucket_start", "model"]
    if with_task:
        columns.append(sa.Column("task", sa.String(length=64), nullable=False))
        key.append("task")
    op.create_table(
        "model_health_minutely",
        *columns,
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model"], ["models.name"], name=op.f("fk_model_health_minutely_model_models")
        ),
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_model_health_minutely")),
    )


def upgrade():
    op.drop_table("model_health_minutely")
    _health_table(with_task=True)
    op.drop_column("models", "cooldown_until")  # SQLite 3.35+ drops columns in place


def downgrade():
    op.add_column("models", sa.Column("cooldown_until", Timestamp, nullable=True))
    op.drop_table("model_health_minutely")
    _health_table(with_task=False)
