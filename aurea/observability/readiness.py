"""Readiness: the database answers, and its schema is at the head of the migrations.

The head revision is read from the migration scripts once, when the application is created;
the database's revision is read at every probe, through the impatient probe engine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from aurea.observability.probe_database import probe_engine
from aurea.settings import MIGRATIONS_DIR

log = logging.getLogger(__name__)

HEADS_KEY = "aurea_migration_heads"


@dataclass(frozen=True)
class Readiness:
    ready: bool
    message: str
    revision: str | None = None


def migration_heads(directory: str = str(MIGRATIONS_DIR)) -> frozenset[str]:
    """Return the head revision(s) of the Alembic scripts in ``directory``."""
    return frozenset(ScriptDirectory(directory).get_heads())


def describe_revisions(revisions: Iterable[str]) -> str:
    return ", ".join(sorted(revisions)) or "none"


def database_heads(engine: Engine) -> frozenset[str]:
    """Return the revision(s) stamped in the database (empty when it was never migrated)."""
    with engine.connect() as connection:
        return frozenset(MigrationContext.configure(connection).get_current_heads())


def assess(engine: Engine, heads: frozenset[str]) -> Readiness:
    try:
        current = database_heads(engine)
    except sa_exc.SQLAlchemyError as error:
        log.warning("readiness probe: database unreachable: %s", getattr(error, "orig", error))
        return Readiness(False, "database unreachable")
    if current != heads:
        return Readiness(
            False,
            f"migrations not at head (db: {describe_revisions(current)}, "
            f"head: {describe_revisions(heads)})",
        )
    return Readiness(True, "ok", describe_revisions(current))


def register_readiness(app: Flask) -> None:
    """Cache the head revision of the migrations for ``app``."""
    app.extensions[HEADS_KEY] = migration_heads()


def check_readiness() -> Readiness:
    """Probe the database of the current application."""
    return assess(probe_engine(), current_app.extensions[HEADS_KEY])
