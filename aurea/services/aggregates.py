"""Aggregates rolled up from append-only raw rows, rebuilt on demand; raw rows pruned.

The scheme: a record only appends its raw row to ``request_metrics``. The aggregates
(``model_stats_hourly``, ``latency_histogram_hourly``, ``model_health_minutely``) are rolled
up incrementally from the raw rows by :func:`roll_up`, which every read service calls
before it reads them, with a watermark: ``rollup_watermark.last_id``, the highest raw row id
already added. Why this scheme: writers share no row (with per-record upserts, every record
of a model and hour updated the same aggregate row, and concurrent writers queued on its
lock), a record costs one insert, and reads still see every committed record.

The watermark is safe under concurrency:

- Roll-ups take the watermark row FOR UPDATE (SQLite: BEGIN IMMEDIATE), so two readers, on
  one host or several, never add the same rows twice: the second waits, then starts where
  the first stopped.
- On PostgreSQL ids can commit out of order (a transaction holding id 100 may commit after
  one holding 101). The roll-up reads the sequence's last value E first, then briefly takes
  ``LOCK request_metrics IN EXCLUSIVE MODE`` in a savepoint that it rolls back at once:
  the lock waits for every transaction that has inserted (they hold ROW EXCLUSIVE until they
  end), so every row with id <= E has committed or rolled back; it is released before the
  roll-up reads anything, so writers wait only for that moment. (Citus' "incremental
  rollups" use the same lock.) On SQLite one writer runs at a time and AUTOINCREMENT ids
  are never reused.
- Before a roll-up, a cheap check (the watermark against the sequence, or max(id)) finds
  most reads with nothing to add: no write transaction, no lock.

Rows are added in Python (:func:`sum_rows`: one code for both engines and for the rebuild)
and upserted into the aggregates. Raw rows are pruned only once rolled up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, scoped_session

from aurea.domain.histogram import bin_of
from aurea.domain.windows import floor_to_hour
from aurea.services import partitions
from aurea.services.cooldown import add_health, prune_health
from aurea.storage.cache import KEEP_READ_CACHE
from aurea.storage.database import upsert_insert, write_session
from aurea.storage.models import (
    NO_TASK,
    LatencyHistogramHourly,
    ModelStatsHourly,
    RequestId,
    RequestMetric,
    RollupWatermark,
)

HEALTH_RETENTION = timedelta(days=1)
INSERT_CHUNK = 1000
CHUNK_ROWS = 10_000  # raw rows read (and held in memory) at a time
WATERMARK = "request_metrics"  # rollup_watermark.name


@dataclass
class BucketSums:
    """What one (hour, model, task) bucket adds up to."""

    requests: int = 0
    successes: int = 0
    latency_sum: float = 0.0
    cost_sum: float = 0.0
    last_recorded_at: datetime | None = None
    bins: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, latency: float, cost: float, success: bool, at: datetime) -> None:
        self.requests += 1
        self.successes += int(success)
        self.latency_sum += latency
        self.cost_sum += cost
        if self.last_recorded_at is None or at > self.last_recorded_at:
            self.last_recorded_at = at
        self.bins[bin_of(latency)] += 1


Key = tuple[datetime, str, str]


def sum_rows(
    rows: Iterable[tuple[str, str | None, float, float, bool, datetime]],
    buckets: dict[Key, BucketSums] | None = None,
) -> dict[Key, BucketSums]:
    """Group (model, task, latency, cost, success, created_at) rows into hourly buckets
    (added to ``buckets`` if given)."""
    buckets = defaultdict(BucketSums) if buckets is None else buckets
    last_at = hour = None
    for model, task, latency, cost, success, at in rows:
        if at is not last_at:  # a batch's rows share one moment: floor (and hash) it once
            last_at, hour = at, floor_to_hour(at)
        buckets[(hour, model, task or NO_TASK)].add(latency, cost, success, at)
    return buckets


def stats_rows(buckets: dict[Key, BucketSums]) -> list[dict]:
    """model_stats_hourly rows, in key order (concurrent upserts lock rows in one order)."""
    return [
        {
            "bucket_start": bucket_start,
            "model": model,
            "task": task,
            "requests": sums.requests,
            "successes": sums.successes,
            "latency_sum": sums.latency_sum,
            "cost_sum": sums.cost_sum,
            "last_recorded_at": sums.last_recorded_at,
        }
        for (bucket_start, model, task), sums in sorted(buckets.items())
    ]


def histogram_rows(buckets: dict[Key, BucketSums]) -> list[dict]:
    """latency_histogram_hourly rows, in key order."""
    return [
        {"bucket_start": bucket_start, "model": model, "task": task, "bin": k, "requests": n}
        for (bucket_start, model, task), sums in sorted(buckets.items())
        for k, n in sorted(sums.bins.items())
    ]


def upsert_buckets(session: Session, buckets: dict[Key, BucketSums]) -> None:
    """Add bucket sums to the stored hourly aggregates (the caller commits)."""
    insert = upsert_insert(session)
    s, h = ModelStatsHourly, LatencyHistogramHourly
    stats = insert(s)
    new = stats.excluded
    stats = stats.on_conflict_do_update(
        index_elements=[s.bucket_start, s.model, s.task],
        set_={
            "requests": s.requests + new.requests,
            "successes": s.successes + new.successes,
            "latency_sum": s.latency_sum + new.latency_sum,
            "cost_sum": s.cost_sum + new.cost_sum,
            "last_recorded_at": sa.case(
                (new.last_recorded_at > s.last_recorded_at, new.last_recorded_at),
                else_=s.last_recorded_at,
            ),
        },
    )
    bins = insert(h)
    bins = bins.on_conflict_do_update(
        index_elements=[h.bucket_start, h.model, h.task, h.bin],
        set_={"requests": h.requests + bins.excluded.requests},
    )
    for statement, rows in ((stats, stats_rows(buckets)), (bins, histogram_rows(buckets))):
        for start in range(0, len(rows), INSERT_CHUNK):
            session.execute(statement, rows[start : start + INSERT_CHUNK])


def _newest_id(session: Session) -> sa.TextClause:
    """The highest raw row id handed out so far (None: none yet)."""
    if session.get_bind().dialect.name == "postgresql":
        # The sequence, not max(id): O(1), and it also counts ids of uncommitted rows.
        return sa.text(
            "pg_sequence_last_value(pg_get_serial_sequence('request_metrics', 'id')::regclass)"
        )
    return sa.text("(SELECT max(id) FROM request_metrics)")


def pending(session: Session) -> bool:
    """Whether raw rows may exist beyond the watermark (a read, no lock)."""
    last_id, newest = session.execute(
        sa.select(RollupWatermark.last_id, _newest_id(session)).where(
            RollupWatermark.name == WATERMARK
        )
    ).one()
    return newest is not None and newest > last_id


def roll_up(session: Session) -> int:
    """Add every committed raw row not yet in the aggregates to them; return how many.

    Call it at the start of every read of model_stats_hourly, latency_histogram_hourly or
    model_health_minutely (select, metrics, optimize, the dashboard, the model registry's
    cooldown states): the read then sees every record committed before it. Ends the
    session's transaction when there is something to add (it commits), else leaves it open.
    """
    if isinstance(session, scoped_session):
        session = session()  # flask-sqlalchemy's db.session
    if not pending(session):
        return 0
    session = write_session(session)
    try:
        added = _roll_up(session)
        # The read cache may keep its answers: the records added are committed already, and
        # their own commits cleared it (aurea.storage.cache).
        session.info[KEEP_READ_CACHE] = True
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop(KEEP_READ_CACHE, None)
    return added


def _watermark(session: Session, for_update: bool = False) -> int:
    query = sa.select(RollupWatermark.last_id).where(RollupWatermark.name == WATERMARK)
    return session.scalar(query.with_for_update() if for_update else query)


def _roll_up(session: Session, hold: bool = False) -> int:
    """Roll up in the session's write transaction (the caller commits); return rows added.

    ``hold``: on PostgreSQL, keep request_metrics locked against inserts until the
    transaction ends (to drop partitions knowing every row in them is rolled up).
    """
    last_id = _watermark(session, for_update=True)  # roll-ups queue here, one at a time
    if session.get_bind().dialect.name == "postgresql":
        lock = sa.text("LOCK TABLE request_metrics IN EXCLUSIVE MODE")
        if hold:
            session.execute(lock)
        newest = session.scalar(sa.select(_newest_id(session)))
        if not hold and newest is not None and newest > last_id:
            # Waits for every transaction that inserted: all ids up to `newest` are then
            # committed or rolled back. Rolling back to the savepoint releases the lock.
            savepoint = session.begin_nested()
            session.execute(lock)
            savepoint.rollback()
    else:  # BEGIN IMMEDIATE: no other writer runs, every row is committed
        newest = session.scalar(sa.select(_newest_id(session)))
    if newest is None or newest <= last_id:
        return 0
    added = 0
    buckets: dict[Key, BucketSums] = defaultdict(BucketSums)
    for chunk in raw_chunks(session, last_id, newest):
        added += len(chunk)
        sum_rows((row[1:] for row in chunk), buckets)
        add_health(session, [(model, task, ok, when) for _, model, task, _, _, ok, when in chunk])
    upsert_buckets(session, buckets)
    session.execute(
        sa.update(RollupWatermark).where(RollupWatermark.name == WATERMARK).values(last_id=newest)
    )
    return added


def raw_chunks(session: Session, after: int, through: int) -> Iterable[list]:
    """Raw rows (id, model, task, latency, cost, success, created_at) with ``after`` < id <=
    ``through``, CHUNK_ROWS at a time, in id order."""
    r = RequestMetric
    while True:
        chunk = session.execute(
            sa.select(r.id, r.model, r.task, r.latency, r.cost, r.success, r.created_at)
            .where(r.id > after, r.id <= through)
            .order_by(r.id)
            .limit(CHUNK_ROWS)
        ).all()
        if not chunk:
            return
        yield chunk
        after = chunk[-1][0]


@dataclass(frozen=True)
class RebuildReport:
    raw_rows: int
    since: datetime | None
    stats_rows: int
    histogram_rows: int


def rebuild_aggregates(session: Session) -> RebuildReport:
    """Recompute the hourly aggregates of every hour that still has raw rows.

    Hours older than the oldest raw row keep their aggregates: their raw rows were
    pruned, and the aggregates are all that is left of them. Rolls up first, and keeps the
    watermark locked while it recomputes: the aggregates then hold exactly the raw rows up
    to it. Writers are not held up; the per-minute health counts are left as they are.
    """
    session = write_session(session)
    try:
        _roll_up(session)
        last_id = _watermark(session)
        first = session.scalar(
            sa.select(sa.func.min(RequestMetric.created_at)).where(RequestMetric.id <= last_id)
        )
        if first is None:
            session.rollback()
            return RebuildReport(0, None, 0, 0)
        since = floor_to_hour(first)
        buckets: dict[Key, BucketSums] = defaultdict(BucketSums)
        raw_rows = 0
        for chunk in raw_chunks(session, 0, last_id):
            raw_rows += len(chunk)
            sum_rows((row[1:] for row in chunk), buckets)
        for model in (ModelStatsHourly, LatencyHistogramHourly):
            session.execute(sa.delete(model).where(model.bucket_start >= since))
        upsert_buckets(session, buckets)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return RebuildReport(raw_rows, since, len(stats_rows(buckets)), len(histogram_rows(buckets)))


@dataclass(frozen=True)
class PruneReport:
    cutoff: datetime
    deleted: int
    batches: int
    partitions: int = 0


def prune_raw_rows(
    session: Session, older_than: timedelta, at: datetime, batch_size: int = 5_000
) -> PruneReport:
    """Delete raw rows recorded before the hour ``older_than`` before ``at``; aggregates stay.

    On PostgreSQL whole day partitions before the cutoff are dropped; the rest (the day
    the cutoff falls in, the default partition, SQLite's table) is deleted a batch per
    transaction. Only rows already rolled up are removed. The cutoff is a whole hour, so
    every hourly aggregate either keeps all its raw rows or none, and a later rebuild
    recomputes whole hours only. Request ids recorded before the cutoff are forgotten, and
    partitions for the coming days are created.
    """
    cutoff = floor_to_hour(at - older_than)
    if isinstance(session, scoped_session):
        session = session()
    roll_up(session)  # most of the way, without holding writers up
    dropped = deleted = 0
    if partitions.is_partitioned(session):
        session = write_session(session)
        try:
            _roll_up(session, hold=True)  # the rest; no insert until the partitions are gone
            dropped, deleted = partitions.drop_days_before(session, cutoff)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    r = RequestMetric
    old = sa.and_(r.created_at < cutoff, r.id <= _watermark(session))
    batches = _delete_in_batches(
        session,
        sa.select(r.id).where(old).order_by(r.id),
        lambda ids: sa.delete(r).where(old, r.id.in_(ids)),
        batch_size,
    )
    deleted += batches[0]
    _delete_in_batches(
        session,
        sa.select(RequestId.request_id).where(RequestId.recorded_at < cutoff),
        lambda ids: sa.delete(RequestId).where(RequestId.request_id.in_(ids)),
        batch_size,
    )
    session = write_session(session)
    # Per-minute health counts only serve the cooldown's minutes-long lookback.
    prune_health(session, at - HEALTH_RETENTION)
    session.commit()
    partitions.ensure_partitions(session, at.date())
    return PruneReport(cutoff, deleted, batches[1], dropped)


def _delete_in_batches(session: Session, select_keys, delete, batch_size: int) -> tuple[int, int]:
    """Delete the rows ``select_keys`` finds, ``batch_size`` per transaction; return
    (rows deleted, batches)."""
    deleted = batches = 0
    while True:
        session = write_session(session)
        keys = session.scalars(select_keys.limit(batch_size)).all()
        if not keys:
            session.rollback()
            return deleted, batches
        session.execute(delete(keys))
        session.commit()
        deleted += len(keys)
        batches += 1
