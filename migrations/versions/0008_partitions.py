"""Append-only raw rows: request_metrics partitioned by day on PostgreSQL, request ids kept
unique in their own table, and the watermark the aggregates are rolled up to.

- PostgreSQL: request_metrics becomes a table partitioned by range of created_at, one
  partition per UTC day (request_metrics_pYYYYMMDD) for the last 90 days that have rows and
  the next 7, and request_metrics_default for every other row. Existing rows are moved into it,
  ids are kept (the same sequence goes on). Its primary key is (id, created_at): a key of a
  partitioned table must include the partition key.
- SQLite keeps one table; its ids become AUTOINCREMENT (never reused after pruning), which
  copies the table once.
- request_ids: every stored request_id, unique; a unique index on request_metrics.request_id
  would have to include created_at on a partitioned table, and a retry sent a second later
  would then not be a duplicate. The unique index on request_metrics goes.
- rollup_watermark: the highest raw row id in the aggregates; the existing rows are in them
  already (they were maintained on every write until now).

After a downgrade, run ``flask aurea rebuild-aggregates``: rows recorded since the last
roll-up are not in the aggregates, which the earlier code expects to be maintained on write.

Revision ID: 0008_partitions
Revises: 0007_token_prices
Create Date: 2026-12-04

"""

import sqlalchemy as sa
from alembic import op

revision = "0008_partitions"
down_revision = "0007_token_prices"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)
HAS_REQUEST_ID = sa.text("request_id IS NOT NULL")
DAYS_BACK = 90
DAYS_AHEAD = 7


def upgrade():
    op.drop_index("uq_request_metrics_request_id", table_name="request_metrics")
    if op.get_bind().dialect.name == "postgresql":
        partition_request_metrics()
    else:
        with op.batch_alter_table(
            "request_metrics", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
    op.create_table(
        "request_ids",
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_ids")),
    )
    op.create_index("ix_request_ids_recorded_at", "request_ids", ["recorded_at"])
    op.execute(
        "INSERT INTO request_ids (request_id, recorded_at) "
        "SELECT request_id, MIN(created_at) FROM request_metrics "
        "WHERE request_id IS NOT NULL GROUP BY request_id"
    )
    op.create_table(
        "rollup_watermark",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_watermark")),
    )
    op.execute(
        "INSERT INTO rollup_watermark (name, last_id) "
        "SELECT 'request_metrics', COALESCE(MAX(id), 0) FROM request_metrics"
    )


def partition_request_metrics():
    op.execute("ALTER TABLE request_metrics RENAME TO request_metrics_unpartitioned")
    op.execute("ALTER INDEX pk_request_metrics RENAME TO pk_request_metrics_unpartitioned")
    op.drop_index("ix_request_metrics_created_at", table_name="request_metrics_unpartitioned")
    op.execute(
        "CREATE TABLE request_metrics (LIKE request_metrics_unpartitioned "
        "INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (created_at)"
    )
    op.execute("ALTER SEQUENCE request_metrics_id_seq OWNED BY request_metrics.id")
    op.execute(
        "ALTER TABLE request_metrics ADD CONSTRAINT pk_request_metrics "
        "PRIMARY KEY (id, created_at)"
    )
    op.create_foreign_key(
        "fk_request_metrics_model_models", "request_metrics", "models", ["model"], ["name"]
    )
    op.create_index("ix_request_metrics_created_at", "request_metrics", ["created_at"])
    op.execute("CREATE TABLE request_metrics_default PARTITION OF request_metrics DEFAULT")
    days = op.get_bind().execute(
        sa.text(
            "SELECT day FROM ("
            "  SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date AS day"
            "  FROM request_metrics_unpartitioned"
            "  WHERE created_at >= now() - make_interval(days => :back)"
            "  UNION SELECT (now() AT TIME ZONE 'UTC')::date + n"
            "  FROM generate_series(0, :ahead) AS n"
            ") AS days ORDER BY day"
        ),
        {"back": DAYS_BACK, "ahead": DAYS_AHEAD},
    ).scalars()
    for day in days:
        op.execute(
            f"CREATE TABLE request_metrics_p{day:%Y%m%d} PARTITION OF request_metrics "
            f"FOR VALUES FROM ('{day.isoformat()} 00:00:00+00') "
            f"TO ('{day.isoformat()} 00:00:00+00'::timestamptz + interval '1 day')"
        )
    op.execute("INSERT INTO request_metrics SELECT * FROM request_metrics_unpartitioned")
    op.execute("DROP TABLE request_metrics_unpartitioned")


def downgrade():
    op.drop_table("rollup_watermark")
    op.drop_index("ix_request_ids_recorded_at", table_name="request_ids")
    op.drop_table("request_ids")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE request_metrics_unpartitioned (LIKE request_metrics "
            "INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        op.execute("INSERT INTO request_metrics_unpartitioned SELECT * FROM request_metrics")
        op.execute("ALTER SEQUENCE request_metrics_id_seq OWNED BY request_metrics_unpartitioned.id")
        op.execute("DROP TABLE request_metrics")  # and its partitions
        op.execute("ALTER TABLE request_metrics_unpartitioned RENAME TO request_metrics")
        op.execute(
            "ALTER TABLE request_metrics ADD CONSTRAINT pk_request_metrics PRIMARY KEY (id)"
        )
        op.create_foreign_key(
            "fk_request_metrics_model_models", "request_metrics", "models", ["model"], ["name"]
        )
        op.create_index("ix_request_metrics_created_at", "request_metrics", ["created_at"])
    else:
        with op.batch_alter_table(
            "request_metrics", recreate="always", table_kwargs={"sqlite_autoincrement": False}
        ):
            pass
    op.create_index(
        "uq_request_metrics_request_id",
        "request_metrics",
        ["request_id"],
        unique=True,
        sqlite_where=HAS_REQUEST_ID,
        postgresql_where=HAS_REQUEST_ID,
    )
