"""Create models, request_metrics and weight_history; register the seed models.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SEED_MODELS = ["gpt-4", "gpt-3.5-turbo", "claude-3-opus", "claude-3-sonnet", "llama-2-70b"]
DEFAULT_WEIGHTS = {"cost_weight": 0.33, "quality_weight": 0.34, "latency_weight": 0.33}

Timestamp = sa.DateTime(timezone=True)


def upgrade():
    models = op.create_table(
        "models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("name", name=op.f("uq_models_name")),
    )
    weight_history = op.create_table(
        "weight_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cost_weight", sa.Double(), nullable=False),
        sa.Column("quality_weight", sa.Double(), nullable=False),
        sa.Column("latency_weight", sa.Double(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column(
            "inputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "source IN ('default', 'manual', 'optimize')", name=op.f("ck_weight_history_source")
        ),
        sa.CheckConstraint(
            "cost_weight >= 0 AND cost_weight <= 1 AND quality_weight >= 0 AND "
            "quality_weight <= 1 AND latency_weight >= 0 AND latency_weight <= 1",
            name=op.f("ck_weight_history_weights_in_unit_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_weight_history")),
    )
    op.create_index("ix_weight_history_created_at", "weight_history", ["created_at"])
    op.create_table(
        "request_metrics",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("latency", sa.Double(), nullable=False),
        sa.Column("cost", sa.Double(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.CheckConstraint("cost >= 0", name=op.f("ck_request_metrics_cost_non_negative")),
        sa.CheckConstraint(
            "latency >= 0", name=op.f("ck_request_metrics_latency_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["model"], ["models.name"], name=op.f("fk_request_metrics_model_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_metrics")),
    )
    op.create_index(
        "ix_request_metrics_model_created_at", "request_metrics", ["model", "created_at"]
    )

    now = datetime.now(UTC)
    op.bulk_insert(models, [{"name": name, "created_at": now} for name in SEED_MODELS])
    op.bulk_insert(
        weight_history,
        [
            {
                **DEFAULT_WEIGHTS,
                "source": "default",
                "created_at": now,
                "inputs": {"reason": "initial weights of the seed contract"},
            }
        ],
    )


def downgrade():
    op.drop_index("ix_request_metrics_model_created_at", table_name="request_metrics")
    op.drop_table("request_metrics")
    op.drop_index("ix_weight_history_created_at", table_name="weight_history")
    op.drop_table("weight_history")
    op.drop_table("models")
