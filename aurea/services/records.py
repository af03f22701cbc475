"""Recording the outcome of LLM calls, one at a time or in batches, idempotently."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app

from aurea.cache import read_cache
from aurea.clock import now
from aurea.database import (
    UnflushedCommit,
    end_any_read_transaction,
    time_left,
    write_transaction,
)
from aurea.errors import AureaError
from aurea.extensions import db
from aurea.services.aggregates import add_to_aggregates, sum_rows
from aurea.services.cooldown import add_health
from aurea.services.driver_sql import DriverCursor
from aurea.services.group_commit import GroupWaitTimeout, Job, group_commit
from aurea.services.write_relay import write_relay
from aurea.write_metrics import observe_group

RECORDED = "recorded"
DUPLICATE = "duplicate"

RAW_COLUMNS = ("model", "task", "latency", "cost", "success", "created_at", "request_id")
# Driver-level SQL (aurea.services.driver_sql), the same on PostgreSQL and SQLite.
RAW_INSERT = f"INSERT INTO request_metrics ({', '.join(RAW_COLUMNS)}) VALUES {{values}}"
REGISTER_MODEL = (
    "INSERT INTO models (name, created_at) VALUES {values} ON CONFLICT (name) DO NOTHING"
)
# Rows whose request_id is already stored are skipped; the inserted ones' ids come back.
# The conflict target names the partial unique index (rows with a request id).
RAW_INSERT_NEW_REQUEST_IDS = (
    f"{RAW_INSERT} ON CONFLICT (request_id) WHERE request_id IS NOT NULL DO NOTHING"
    " RETURNING request_id"
)
# Batches without request ids this large go to PostgreSQL through COPY (much cheaper per row).
COPY_FROM = 20
COPY_COLUMNS = RAW_COLUMNS[:-1]
COPY_RAW = f"COPY request_metrics ({', '.join(COPY_COLUMNS)}) FROM STDIN"


class UnknownModel(AureaError):
    """Strict mode (AUREA_STRICT_MODELS) and a record names an unregistered model."""

    status_code = 422


@dataclass(frozen=True)
class Record:
    model: str
    latency: float
    cost: float
    success: bool
    task: str | None = None
    request_id: str | None = None
    # When the call happened (aware); None: now. Back-filled records land in their own hour.
    at: datetime | None = None


def registered_models() -> set[str]:
    """Names this process has seen committed in ``models``: their records skip registering."""
    return current_app.extensions.setdefault("aurea_registered_models", set())


def register_models(cursor: DriverCursor, names: set[str]) -> None:
    """Register models not registered yet (safe under concurrency), in name order."""
    at = cursor.timestamp(now())
    cursor.insert_rows(REGISTER_MODEL, [(n, at) for n in sorted(names)])


def refuse_unregistered(cursor: DriverCursor, records: list[Record], batch: bool) -> None:
    names = sorted({r.model for r in records})
    placeholders = ", ".join(["%s"] * len(names))
    known = {
        name
        for (name,) in cursor.query(
            f"SELECT name FROM models WHERE name IN ({placeholders})", tuple(names)
        )
    }
    unknown = set(names) - known
    if not unknown:
        return
    message = "Unknown model (AUREA_STRICT_MODELS is on: register it with POST /router/models)."
    if batch:
        errors = {
            "records": {
                str(i): {"model": [message]} for i, r in enumerate(records) if r.model in unknown
            }
        }
    else:
        errors = {"model": [message]}
    raise UnknownModel(f"Unregistered model(s): {', '.join(sorted(unknown))}.", {"json": errors})


def _insert_raw(cursor: DriverCursor, rows: list[tuple]) -> set[str | None]:
    """Insert raw rows (RAW_COLUMNS tuples); return the request_ids actually inserted
    (None: rows without one).

    Rows whose request_id is already stored are skipped by ON CONFLICT DO NOTHING,
    which also settles two copies racing on different workers: one insert wins.
    """
    if all(row[-1] is None for row in rows):
        if cursor.on_postgresql and len(rows) >= COPY_FROM:
            _copy_raw(cursor, rows)
        else:
            cursor.insert_rows(RAW_INSERT, rows)
        return {None}
    return {request_id for (request_id,) in cursor.insert_rows(RAW_INSERT_NEW_REQUEST_IDS, rows)}


def _copy_raw(cursor: DriverCursor, rows: list[tuple]) -> None:
    """PostgreSQL's COPY: one stream for many rows, instead of one INSERT per row."""
    with cursor.raw.copy(COPY_RAW) as copy:
        for row in rows:
            copy.write_row(row[:-1])


def record_requests(records: list[Record], batch: bool = True) -> list[str]:
    """Store records in one transaction and add them to the hourly aggregates.

    Returns each record's status: ``recorded``, or ``duplicate`` when its request_id
    was stored before (or earlier in the same batch); duplicates are counted once.
    Unknown models are registered on the way. Only inserts and atomic upserts:
    concurrent workers never overwrite each other's counts. Requests of the same worker
    that write at the same time share one transaction and one commit (group commit);
    this returns once the commit holding these records is done.
    """
    end_any_read_transaction()  # reads made after this write must see it
    relay = write_relay()
    if relay is not None:
        statuses = relay.forward(records, batch)
        if statuses is not None:
            read_cache().clear()  # committed by the leader: answers here must not predate it
            return statuses
    try:
        return group_commit().submit(Job(records, batch), write_group, timeout=time_left())
    except GroupWaitTimeout as error:  # answered like a database that did not answer in time
        raise sa.exc.OperationalError("group commit", None, error) from error


def write_group(take: Callable[[], list[Job]]) -> None:
    """Store the records of every acceptable queued job in one transaction; finish each job.

    The queue is taken once the transaction holds the database's write lock: requests
    that arrive while this worker waits for it are written in the same commit.
    """
    strict = current_app.config["AUREA_STRICT_MODELS"]
    engine = db.engine
    registered = registered_models()
    present: set[str] = set()
    try:
        with write_transaction(engine) as raw:
            cursor = DriverCursor(raw, engine.dialect)
            jobs = take()
            accepted = []
            for job in jobs:
                if strict:
                    try:
                        refuse_unregistered(cursor, list(job.records), job.batch)
                    except UnknownModel as refused:
                        job.finish(error=refused)
                        continue
                accepted.append(job)
            group = [r for job in accepted for r in job.records]
            statuses, present = _store(cursor, group, strict, registered)
    except UnflushedCommit:
        _committed(present, registered)  # stored, though not acknowledged
        raise
    observe_group(len(group))
    _committed(present, registered)
    start = 0
    for job in accepted:
        job.finish(statuses[start : start + len(job.records)])
        start += len(job.records)


def _committed(present: set[str], registered: set[str]) -> None:
    # This worker's cached answers must not predate its own writes.
    read_cache().clear()
    # Registered for good (Aurea never deletes a model): later records skip the insert.
    registered.update(present)


def _store(
    cursor: DriverCursor, records: list[Record], strict: bool, registered: set[str]
) -> tuple[list[str], set[str]]:
    """Insert ``records`` in the cursor's write transaction.

    Returns their statuses, and the models now known to be in ``models`` (those of the
    records inserted or registered: a duplicate's model is not registered on its behalf);
    ``registered``: the models this process knows to be registered (:func:`registered_models`).
    """
    at = now()
    seen: set[str] = set()
    fresh: list[Record] = []
    for r in records:
        if r.request_id is not None:
            if r.request_id in seen:
                continue
            seen.add(r.request_id)
        fresh.append(r)
    if not fresh:
        return [], set()
    when = [at if r.at is None else r.at.astimezone(UTC) for r in fresh]

    if not strict:
        unknown = {r.model for r in fresh} - registered
        if unknown:
            register_models(cursor, unknown)
    timestamp = cursor.timestamp
    stamp = timestamp(at)  # the moment of all but back-filled records: converted once
    inserted = _insert_raw(
        cursor,
        [
            (
                r.model,
                r.task,
                r.latency,
                r.cost,
                r.success,
                stamp if w is at else timestamp(w),
                r.request_id,
            )
            for r, w in zip(fresh, when, strict=True)
        ],
    )
    stored = [(r, w) for r, w in zip(fresh, when, strict=True) if r.request_id in inserted]
    if stored:
        add_to_aggregates(
            cursor, sum_rows((r.model, r.task, r.latency, r.cost, r.success, w) for r, w in stored)
        )
        add_health(cursor, [(r.model, r.task, r.success, w) for r, w in stored])

    stored_ids = {id(r) for r, _ in stored}
    statuses = [RECORDED if id(r) in stored_ids else DUPLICATE for r in records]
    return statuses, {r.model for r in fresh}


def record_request(
    model: str,
    latency: float,
    cost: float,
    success: bool,
    task: str | None = None,
    request_id: str | None = None,
    at: datetime | None = None,
) -> str:
    """Store one request's outcome; return ``recorded`` or ``duplicate``."""
    (status,) = record_requests(
        [Record(model, latency, cost, success, task, request_id, at)], batch=False
    )
    return status
