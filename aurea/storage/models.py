"""SQLAlchemy models: the tables auditors query. No queries and no commits here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects import postgresql

from aurea.clock import now
from aurea.storage.extensions import db

MODEL_NAME_LENGTH = 128
REQUEST_ID_LENGTH = 128
TOKEN_ROLES = ("recorder", "reader", "admin")
TASK_LENGTH = 64
NO_TASK = ""  # aggregates key records without a task label under the empty string
WEIGHT_SOURCES = ("default", "manual", "optimize", "rollback")


class UTCDateTime(sa.TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware.

    PostgreSQL keeps the offset (``timestamptz``); SQLite stores the UTC wall time
    and the offset is restored when reading.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# BIGINT on PostgreSQL; INTEGER on SQLite, where only INTEGER PRIMARY KEY autoincrements.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class RegisteredModel(db.Model):
    """A model that select may choose: the five seed models, and any model recorded."""

    __tablename__ = "models"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(MODEL_NAME_LENGTH), unique=True)
    description: so.Mapped[str | None] = so.mapped_column(sa.String(1024))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=now)
    # Disabled models are never selected but keep their history.
    enabled: so.Mapped[bool] = so.mapped_column(sa.Boolean(), server_default=sa.true())
    # USD per million tokens: the cost of records that carry token counts but no cost
    # (aurea.services.pricing). Null: not priced.
    input_usd_per_million_tokens: so.Mapped[float | None] = so.mapped_column(sa.Double())
    output_usd_per_million_tokens: so.Mapped[float | None] = so.mapped_column(sa.Double())


class RequestMetric(db.Model):
    """One recorded LLM call: which model, how long it took, what it cost, whether it worked.

    Append-only: rows are inserted, never updated; the aggregates are rolled up from them
    (aurea.services.aggregates). On PostgreSQL the table is partitioned by day on
    ``created_at`` (migration 0008, aurea.services.partitions), and its primary key there
    is (id, created_at); on SQLite ids are AUTOINCREMENT, so never reused after pruning.
    """

    __tablename__ = "request_metrics"
    __table_args__ = (
        sa.CheckConstraint("latency >= 0", name="latency_non_negative"),
        sa.CheckConstraint("cost >= 0", name="cost_non_negative"),
        # Pruning and the audit recipes select by time; reads are served by the aggregates.
        # Every index costs each record an insert: no other is kept. Request ids are kept
        # unique in request_ids (a unique index here would have to include created_at).
        sa.Index("ix_request_metrics_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True)
    model: so.Mapped[str] = so.mapped_column(
        sa.String(MODEL_NAME_LENGTH), sa.ForeignKey("models.name")
    )
    latency: so.Mapped[float] = so.mapped_column(sa.Double())
    cost: so.Mapped[float] = so.mapped_column(sa.Double())
    success: so.Mapped[bool] = so.mapped_column(sa.Boolean())
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=now)
    task: so.Mapped[str | None] = so.mapped_column(sa.String(TASK_LENGTH))
    # Client-chosen idempotency key: a repeat with the same id is counted once (request_ids).
    request_id: so.Mapped[str | None] = so.mapped_column(sa.String(REQUEST_ID_LENGTH))


class RequestId(db.Model):
    """Every stored request_id, once: the idempotency keys, unique on both engines.

    A record with a request id inserts it here first (ON CONFLICT DO NOTHING), and stores
    its raw row only if that insert did: two copies racing on different workers or hosts
    meet on this primary key, and one waits for the other's commit. Pruned with the raw
    rows: a repeat older than the retention is a new record.
    """

    __tablename__ = "request_ids"
    __table_args__ = (sa.Index("ix_request_ids_recorded_at", "recorded_at"),)

    request_id: so.Mapped[str] = so.mapped_column(sa.String(REQUEST_ID_LENGTH), primary_key=True)
    recorded_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)


class RollupWatermark(db.Model):
    """How far the aggregates have been rolled up: every raw row with id <= last_id is in
    model_stats_hourly, latency_histogram_hourly and model_health_minutely."""

    __tablename__ = "rollup_watermark"

    name: so.Mapped[str] = so.mapped_column(sa.String(64), primary_key=True)
    last_id: so.Mapped[int] = so.mapped_column(sa.BigInteger())


class WeightHistory(db.Model):
    """Append-only log of selection weights; the newest row is the weights in force."""

    __tablename__ = "weight_history"
    __table_args__ = (
        sa.CheckConstraint(
            "source IN ('default', 'manual', 'optimize', 'rollback')", name="source"
        ),
        sa.CheckConstraint(
            "cost_weight >= 0 AND cost_weight <= 1 AND quality_weight >= 0 AND "
            "quality_weight <= 1 AND latency_weight >= 0 AND latency_weight <= 1",
            name="weights_in_unit_range",
        ),
        sa.Index("ix_weight_history_created_at", "created_at"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    cost_weight: so.Mapped[float] = so.mapped_column(sa.Double())
    quality_weight: so.Mapped[float] = so.mapped_column(sa.Double())
    latency_weight: so.Mapped[float] = so.mapped_column(sa.Double())
    source: so.Mapped[str] = so.mapped_column(sa.String(16))
    # Who made the change: an API token's name, or cli:<user> for the CLI.
    actor: so.Mapped[str | None] = so.mapped_column(sa.String(128))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=now)
    # What produced this row: the optimize statistics, or the manual request.
    inputs: so.Mapped[dict[str, Any]] = so.mapped_column(JsonDocument, default=dict)


class ModelStatsHourly(db.Model):
    """Per model, task and UTC hour: the sums that scores are computed from.

    Rolled up from request_metrics before every read (aurea.services.aggregates.roll_up);
    ``flask aurea rebuild-aggregates`` recomputes it from request_metrics.
    """

    __tablename__ = "model_stats_hourly"

    bucket_start: so.Mapped[datetime] = so.mapped_column(UTCDateTime, primary_key=True)
    model: so.Mapped[str] = so.mapped_column(
        sa.String(MODEL_NAME_LENGTH), sa.ForeignKey("models.name"), primary_key=True
    )
    task: so.Mapped[str] = so.mapped_column(sa.String(TASK_LENGTH), primary_key=True)
    requests: so.Mapped[int] = so.mapped_column(sa.BigInteger())
    successes: so.Mapped[int] = so.mapped_column(sa.BigInteger())
    latency_sum: so.Mapped[float] = so.mapped_column(sa.Double())
    cost_sum: so.Mapped[float] = so.mapped_column(sa.Double())
    last_recorded_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)


class LatencyHistogramHourly(db.Model):
    """Per model, task and UTC hour: how many requests fell in each latency bin."""

    __tablename__ = "latency_histogram_hourly"

    bucket_start: so.Mapped[datetime] = so.mapped_column(UTCDateTime, primary_key=True)
    model: so.Mapped[str] = so.mapped_column(
        sa.String(MODEL_NAME_LENGTH), sa.ForeignKey("models.name"), primary_key=True
    )
    task: so.Mapped[str] = so.mapped_column(sa.String(TASK_LENGTH), primary_key=True)
    bin: so.Mapped[int] = so.mapped_column(sa.SmallInteger(), primary_key=True)
    requests: so.Mapped[int] = so.mapped_column(sa.BigInteger())


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is stored. Revoked tokens stay for the audit trail."""

    __tablename__ = "api_tokens"
    __table_args__ = (sa.CheckConstraint("role IN ('recorder', 'reader', 'admin')", name="role"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    role: so.Mapped[str] = so.mapped_column(sa.String(16))
    token_sha256: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=now)
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)


class ModelHealthMinutely(db.Model):
    """Per model, task and UTC minute: requests and failures, for the cooldown's lookback.

    Cooldowns are derived from these counts when reading (aurea.domain.cooldown).
    """

    __tablename__ = "model_health_minutely"

    bucket_start: so.Mapped[datetime] = so.mapped_column(UTCDateTime, primary_key=True)
    model: so.Mapped[str] = so.mapped_column(
        sa.String(MODEL_NAME_LENGTH), sa.ForeignKey("models.name"), primary_key=True
    )
    task: so.Mapped[str] = so.mapped_column(sa.String(TASK_LENGTH), primary_key=True)
    requests: so.Mapped[int] = so.mapped_column(sa.BigInteger())
    failures: so.Mapped[int] = so.mapped_column(sa.BigInteger())
