"""Let models be disabled and cooled down, count failures per minute, allow rollback weights.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade():
    # Plain ADD COLUMN: a batch copy would drop `models`, which other tables reference.
    op.add_column(
        "models", sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
    )
    op.add_column("models", sa.Column("cooldown_until", Timestamp, nullable=True))
    op.create_table(
        "model_health_minutely",
        sa.Column("bucket_start", Timestamp, nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model"], ["models.name"], name=op.f("fk_model_health_minutely_model_models")
        ),
        sa.PrimaryKeyConstraint("bucket_start", "model", name=op.f("pk_model_health_minutely")),
    )
    with op.batch_alter_table("weight_history") as batch_op:
        batch_op.drop_constraint(op.f("ck_weight_history_source"), type_="check")
        batch_op.create_check_constraint(
            "source", "source IN ('default', 'manual', 'optimize', 'rollback')"
        )


def downgrade():
    op.execute("DELETE FROM weight_history WHERE source = 'rollback'")
    with op.batch_alter_table("weight_history") as batch_op:
        batch_op.drop_constraint(op.f("ck_weight_history_source"), type_="check")
        batch_op.create_check_constraint("source", "source IN ('default', 'manual', 'optimize')")
    op.drop_table("model_health_minutely")
    op.drop_column("models", "cooldown_until")  # SQLite 3.35+ drops columns in place
    op.drop_column("models", "enabled")
