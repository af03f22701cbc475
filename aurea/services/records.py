"""Recording the outcome of LLM calls, one at a time or in batches, idempotently.

One transaction per request, through the ordinary session: register unknown models, keep
the new request ids, insert the raw rows, commit. Nothing else is written: the aggregates
are rolled up from the raw rows when they are read (aurea.services.aggregates), so
concurrent writers never wait for each other on a shared row. Acknowledged means committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.errors import AureaError
from aurea.services.context import Context
from aurea.storage.database import upsert_insert, write_session
from aurea.storage.models import RegisteredModel, RequestId, RequestMetric

RAW_INSERT = sa.insert(RequestMetric.__table__)
RECORDED = "recorded"
DUPLICATE = "duplicate"


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


def keep_new_request_ids(session: Session, request_ids: list[str], at: datetime) -> set[str]:
    """Insert ``request_ids`` into request_ids; return those that were not stored before.

    ON CONFLICT DO NOTHING on the primary key: of two copies racing in two transactions,
    the second waits for the first to commit (or roll back), then inserts nothing.
    """
    if not request_ids:
        return set()
    statement = (
        upsert_insert(session)(RequestId).on_conflict_do_nothing().returning(RequestId.request_id)
    )
    rows = [{"request_id": request_id, "recorded_at": at} for request_id in request_ids]
    return set(session.execute(statement, rows).scalars())


def insert_raw_rows(session: Session, rows: list[dict]) -> None:
    """Append raw rows to request_metrics (one multi-row INSERT per thousand rows).

    A Core insert of the table: the ORM's bulk insert of the entity does the same, with more
    work per statement (it was a fifth of a single record's CPU time, ``bench.spy``)."""
    session.execute(RAW_INSERT, rows)


def record_requests(ctx: Context, records: list[Record], batch: bool = True) -> list[str]:
    """Store records in one transaction; all are stored or none.

    Returns each record's status: ``recorded``, or ``duplicate`` when its request_id
    was stored before (or earlier in the same batch); duplicates are counted once.
    Unknown models are registered on the way (refused in strict mode). Returns once
    the transaction is committed.
    """
    session = write_session(ctx.session)
    try:
        statuses, present = _store(ctx, session, records, batch)
        session.commit()  # also clears this worker's read cache (aurea.storage.cache)
    except BaseException:
        session.rollback()
        raise
    # Registered for good (Aurea never deletes a model): later records skip the insert.
    ctx.registered.update(present)
    return statuses


def _store(
    ctx: Context, session: Session, records: list[Record], batch: bool
) -> tuple[list[str], set[str]]:
    """Write ``records`` in the session's transaction; return their statuses and the models
    now known to be registered (``ctx.registered``: this process has seen them committed, so
    their records skip registering)."""
    strict = ctx.config["AUREA_STRICT_MODELS"]
    if strict:
        refuse_unregistered(session, records, batch)
    at = ctx.now()
    seen: set[str] = set()
    fresh: list[Record] = []
    for r in records:
        if r.request_id is not None:
            if r.request_id in seen:
                continue
            seen.add(r.request_id)
        fresh.append(r)

    if not strict:
        unknown = sorted({r.model for r in fresh} - ctx.registered)
        if unknown:  # in name order: concurrent registrations lock rows in the same order
            session.execute(
                upsert_insert(session)(RegisteredModel).on_conflict_do_nothing(
                    index_elements=["name"]
                ),
                [{"name": name, "created_at": at} for name in unknown],
            )
    new_ids = keep_new_request_ids(session, sorted(seen), at)
    stored = [r for r in fresh if r.request_id is None or r.request_id in new_ids]
    if stored:
        insert_raw_rows(
            session,
            [
                {
                    "model": r.model,
                    "task": r.task,
                    "latency": r.latency,
                    "cost": r.cost,
                    "success": r.success,
                    "created_at": at if r.at is None else r.at.astimezone(UTC),
                    "request_id": r.request_id,
                }
                for r in stored
            ],
        )
    kept = {id(r) for r in stored}
    return [RECORDED if id(r) in kept else DUPLICATE for r in records], {r.model for r in fresh}


def record_request(
    ctx: Context,
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
        ctx, [Record(model, latency, cost, success, task, request_id, at)], batch=False
    )
    return status
