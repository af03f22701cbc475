"""Day partitions of request_metrics on PostgreSQL; SQLite keeps one table.

PostgreSQL's declarative partitioning by range of ``created_at``: one partition per UTC day,
``request_metrics_pYYYYMMDD``, and ``request_metrics_default`` for rows of a day that has
none (a back-filled record, or a day nobody created ahead), so an insert never fails for
lack of a partition. Partitions for the coming days are created ahead: by migration 0008,
when a gunicorn worker starts, by ``flask aurea prune`` and ``optimize``, and by
``flask aurea partitions`` (run it daily from cron). Rows of that day already in the default
partition are moved into the new one. Pruning drops whole days (:func:`drop_days_before`).

Partition maintenance is serialised by an advisory lock, so hosts starting together do not
race to create the same partition.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.storage.database import write_session

log = logging.getLogger(__name__)

DAYS_AHEAD = 7
PREFIX = "request_metrics_p"
DEFAULT = "request_metrics_default"
DAY_NAME = re.compile(rf"{PREFIX}(\d{{8}})")
# pg_advisory_xact_lock key of partition maintenance (any constant unique to Aurea).
LOCK_KEY = 0x41_75_72_65_61_50  # "AureaP"

PARTITIONS = sa.text(
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = 'request_metrics'::regclass"
)


def is_partitioned(session: Session) -> bool:
    """Whether request_metrics is a partitioned table (PostgreSQL, after migration 0008)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    kind = session.scalar(
        sa.text("SELECT relkind FROM pg_class WHERE oid = to_regclass('request_metrics')")
    )
    return kind == "p"


def start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _literal(moment: datetime) -> str:
    # Partition bounds are literals in DDL; this one is built from a date, never from input.
    return f"'{moment.isoformat(sep=' ')}'"


def day_partitions(session: Session) -> dict[date, str]:
    """The day partitions that exist: day -> table name."""
    found = {}
    for name in session.scalars(PARTITIONS):
        match = DAY_NAME.fullmatch(name)
        if match:
            found[datetime.strptime(match.group(1), "%Y%m%d").date()] = name
    return found


def ensure_partitions(session: Session, first: date, last: date | None = None) -> list[str]:
    """Create the missing day partitions from ``first`` (usually today) to ``last``
    (default: DAYS_AHEAD days later), committing; return their names. Nothing on SQLite,
    and no lock is taken when every partition exists."""
    if not is_partitioned(session):
        return []
    last = last or first + timedelta(days=DAYS_AHEAD)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    if all(day in day_partitions(session) for day in days):
        return []
    session = write_session(session)
    session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    existing = day_partitions(session)  # again: another host may have created them meanwhile
    created = [_create_day(session, day) for day in days if day not in existing]
    session.commit()
    return created


def _create_day(session: Session, day: date) -> str:
    name = f"{PREFIX}{day:%Y%m%d}"
    low, high = start_of(day), start_of(day + timedelta(days=1))
    bounds = f"FOR VALUES FROM ({_literal(low)}) TO ({_literal(high)})"
    in_range = "created_at >= :low AND created_at < :high"
    window = {"low": low, "high": high}
    waiting = session.scalar(
        sa.text(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT} WHERE {in_range})"), window
    )
    if not waiting:
        session.execute(sa.text(f"CREATE TABLE {name} PARTITION OF request_metrics {bounds}"))
        return name
    # The default partition holds rows of this day: a new partition would overlap them.
    # Move them into a table that is then attached (which adds the indexes and keys).
    session.execute(
        sa.text(
            f"CREATE TABLE {name} (LIKE request_metrics INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
    )
    session.execute(sa.text(f"INSERT INTO {name} SELECT * FROM {DEFAULT} WHERE {in_range}"), window)
    session.execute(sa.text(f"DELETE FROM {DEFAULT} WHERE {in_range}"), window)
    session.execute(sa.text(f"ALTER TABLE request_metrics ATTACH PARTITION {name} {bounds}"))
    return name


def drop_days_before(session: Session, cutoff: datetime) -> tuple[int, int]:
    """Drop the day partitions that end at or before ``cutoff``, in the caller's transaction
    (which must hold request_metrics locked: see aurea.services.aggregates.prune_raw_rows).
    Returns (partitions dropped, rows they held)."""
    dropped = rows = 0
    for day, name in sorted(day_partitions(session).items()):
        if start_of(day + timedelta(days=1)) > cutoff:
            continue
        rows += session.scalar(sa.text(f"SELECT count(*) FROM {name}"))
        session.execute(sa.text(f"ALTER TABLE request_metrics DETACH PARTITION {name}"))
        session.execute(sa.text(f"DROP TABLE {name}"))
        dropped += 1
    return dropped, rows
