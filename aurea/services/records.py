"""Recording the outcome of LLM calls, one at a time or in batches, idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from aurea.clock import now
from aurea.database import write_session
from aurea.errors import AureaError
from aurea.models import RegisteredModel, RequestMetric, UTCDateTime
from aurea.services.aggregates import add_to_aggregates, sum_rows
from aurea.services.cooldown import add_health
from aurea.services.group_commit import Job, group_commit

RECORDED = "recorded"
DUPLICATE = "duplicate"

RAW_TABLE = RequestMetric.__table__
# Core statements on the tables (not the ORM classes): compiled once and cached.
RAW_INSERT = sa.insert(RAW_TABLE)
# Rows per INSERT of rows with request ids (7 bind parameters each).
INSERT_CHUNK = 1000
# Batches without request ids this large go to PostgreSQL through COPY (much cheaper per row).
COPY_FROM = 20
COPY_COLUMNS = ("model", "task", "latency", "cost", "success", "created_at")
COPY_RAW = f"COPY request_metrics ({', '.join(COPY_COLUMNS)}) FROM STDIN"
# Same SQL on PostgreSQL and SQLite; see aggregates.STATS_UPSERT for why it is text.
REGISTER_MODEL = sa.text(
    "INSERT INTO models (name, created_at) VALUES (:name, :created_at) "
    "ON CONFLICT (name) DO NOTHING"
).bindparams(sa.bindparam("created_at", type_=UTCDateTime))


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


def register_models(session: Session, names: set[str]) -> None:
    """Register models not registered yet (safe under concurrency), in name order."""
    at = now()
    session.execute(REGISTER_MODEL, [{"name": n, "created_at": at} for n in sorted(names)])


def refuse_unregistered(session: Session, records: list[Record], batch: bool) -> None:
    names = {r.model for r in records}
    known = set(
        session.scalars(sa.select(RegisteredModel.name).where(RegisteredModel.name.in_(names)))
    )
    unknown = names - known
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


def _insert_raw(session: Session, rows: list[dict]) -> set[str | None]:
    """Insert raw rows; return the request_ids actually inserted (None: rows without one).

    Rows whose request_id is already stored are skipped by ON CONFLICT DO NOTHING,
    which also settles two copies racing on different workers: one insert wins.
    """
    on_postgres = session.get_bind().dialect.name == "postgresql"
    if all(row["request_id"] is None for row in rows):
        if on_postgres and len(rows) >= COPY_FROM:
            _copy_raw(session, rows)
        else:
            session.execute(RAW_INSERT, rows)
        return {None}
    dialect = postgresql if on_postgres else sqlite
    inserted: set[str | None] = set()
    # In chunks: a group of large batches would pass the databases' limits on bind parameters.
    for start in range(0, len(rows), INSERT_CHUNK):
        statement = (
            dialect.insert(RAW_TABLE)
            .values(rows[start : start + INSERT_CHUNK])
            .on_conflict_do_nothing(index_elements=["request_id"])
            .returning(RAW_TABLE.c.request_id)
        )
        inserted.update(session.scalars(statement))
    return inserted


def _copy_raw(session: Session, rows: list[dict]) -> None:
    """PostgreSQL's COPY: one stream for many rows, instead of one INSERT per row."""
    with session.connection().connection.driver_connection.cursor() as cursor:
        with cursor.copy(COPY_RAW) as copy:
            for row in rows:
                copy.write_row([row[column] for column in COPY_COLUMNS])


def record_requests(records: list[Record], batch: bool = True) -> list[str]:
    """Store records in one transaction and add them to the hourly aggregates.

    Returns each record's status: ``recorded``, or ``duplicate`` when its request_id
    was stored before (or earlier in the same batch); duplicates are counted once.
    Unknown models are registered on the way. Only inserts and atomic upserts:
    concurrent workers never overwrite each other's counts. Requests of the same worker
    that write at the same time share one transaction and one commit (group commit);
    this returns once the commit holding these records is done.
    """
    return group_commit().submit(Job(records, batch), _write_group)


def _write_group(jobs: list[Job]) -> None:
    """Store the records of every acceptable job in one transaction; finish each job."""
    session = write_session()
    try:
        accepted = []
        for job in jobs:
            if current_app.config["AUREA_STRICT_MODELS"]:
                try:
                    refuse_unregistered(session, list(job.records), job.batch)
                except UnknownModel as refused:
                    job.finish(error=refused)
                    continue
            accepted.append(job)
        statuses, present = _store(session, [r for job in accepted for r in job.records])
        session.commit()
    except BaseException:
        session.rollback()
        raise
    # Registered for good (Aurea never deletes a model): later records skip the insert.
    registered_models().update(present)
    start = 0
    for job in accepted:
        job.finish(statuses[start : start + len(job.records)])
        start += len(job.records)


def _store(session: Session, records: list[Record]) -> tuple[list[str], set[str]]:
    """Insert ``records`` in the session's write transaction.

    Returns their statuses, and the models now known to be in ``models`` (those of the
    records inserted or registered: a duplicate's model is not registered on its behalf).
    """
    at = now()
    seen: set[str] = set()
    fresh: list[Record] = []
    for r in records:
        if r.request_id is not None and r.request_id in seen:
            continue
        if r.request_id is not None:
            seen.add(r.request_id)
        fresh.append(r)
    if not fresh:
        return [], set()
    when = {id(r): at if r.at is None else r.at.astimezone(UTC) for r in fresh}

    if not current_app.config["AUREA_STRICT_MODELS"]:
        unknown = {r.model for r in fresh} - registered_models()
        if unknown:
            register_models(session, unknown)
    inserted = _insert_raw(
        session,
        [
            {
                "model": r.model,
                "task": r.task,
                "latency": r.latency,
                "cost": r.cost,
                "success": r.success,
                "created_at": when[id(r)],
                "request_id": r.request_id,
            }
            for r in fresh
        ],
    )
    stored = [r for r in fresh if r.request_id in inserted]
    if stored:
        add_to_aggregates(
            session,
            sum_rows((r.model, r.task, r.latency, r.cost, r.success, when[id(r)]) for r in stored),
        )
        add_health(session, [(r.model, r.success, when[id(r)]) for r in stored], at)

    stored_ids = {id(r) for r in stored}
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
