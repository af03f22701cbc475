"""Slim request_metrics' indexes: every record pays for each index on every insert.

- ``ix_request_metrics_model_created_at`` goes: no query uses it (reads are served by the
  hourly aggregates; the raw rows are read whole by a rebuild, and by ``created_at`` alone
  by pruning and the audit recipes, which ``ix_request_metrics_created_at`` serves).
- ``uq_request_metrics_request_id`` only indexes rows that have a request id: most records
  have none, and each of those used to add a NULL entry to it. Request ids stay unique.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

HAS_REQUEST_ID = sa.text("request_id IS NOT NULL")


def upgrade():
    op.drop_index("ix_request_metrics_model_created_at", table_name="request_metrics")
    op.drop_index("uq_request_metrics_request_id", table_name="request_metrics")
    op.create_index(
        "uq_request_metrics_request_id",
        "request_metrics",
        ["request_id"],
        unique=True,
        sqlite_where=HAS_REQUEST_ID,
        postgresql_where=HAS_REQUEST_ID,
    )


def downgrade():
    op.drop_index("uq_request_metrics_request_id", table_name="request_metrics")
    op.create_index(
        "uq_request_metrics_request_id", "request_metrics", ["request_id"], unique=True
    )
    op.create_index(
        "ix_request_metrics_model_created_at", "request_metrics", ["model", "created_at"]
    )
