"""Add API tokens, the actor of each weight change, and idempotency keys on records.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.CheckConstraint(
            "role IN ('recorder', 'reader', 'admin')", name=op.f("ck_api_tokens_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    with op.batch_alter_table("request_metrics") as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=128), nullable=True))
    op.create_index(
        "uq_request_metrics_request_id", "request_metrics", ["request_id"], unique=True
    )
    with op.batch_alter_table("weight_history") as batch_op:
        batch_op.add_column(sa.Column("actor", sa.String(length=128), nullable=True))


def downgrade():
    with op.batch_alter_table("weight_history") as batch_op:
        batch_op.drop_column("actor")
    op.drop_index("uq_request_metrics_request_id", table_name="request_metrics")
    with op.batch_alter_table("request_metrics") as batch_op:
        batch_op.drop_column("request_id")
    op.drop_table("api_tokens")
