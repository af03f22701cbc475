"""Engine set-up that makes SQLite safe for several gunicorn workers.

SQLite runs in WAL mode (readers never block the writer) with ``synchronous=FULL``
(a commit is on disk before it is acknowledged, also across power loss) and a
``busy_timeout`` so a writer waits for the lock instead of failing at once.

Python's sqlite3 module opens transactions lazily and in DEFERRED mode, so a
transaction that reads and then writes can fail with "database is locked" when
another worker commits in between. Write transactions therefore start with
``BEGIN IMMEDIATE``: the service layer asks for them with :func:`write_session`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from aurea.extensions import db

WRITE_OPTION = "aurea_write"


def engine_options(uri: str, timeout: float) -> dict[str, Any]:
    """Return SQLAlchemy engine options suited to the database in ``uri``."""
    if uri.startswith("sqlite"):
        return {"connect_args": {"timeout": timeout}}
    return {
        "pool_pre_ping": True,
        "connect_args": {"connect_timeout": max(1, int(timeout))},
    }


def install_sqlite_pragmas(engine: Engine, timeout: float) -> None:
    """Apply durability pragmas and explicit BEGIN handling to an SQLite engine."""
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - driver hook
        # Let SQLAlchemy's "begin" event emit BEGIN instead of the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):  # pragma: no cover - driver hook
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def init_database(app: Flask) -> None:
    """Install engine hooks once the engine for ``app`` exists."""
    with app.app_context():
        install_sqlite_pragmas(db.engine, app.config["AUREA_DB_TIMEOUT"])


def write_session() -> Session:
    """Return the session with a fresh transaction opened for writing.

    Call it before the first statement of a write use case. A read-only
    transaction left open by earlier reads is ended first, so the write
    transaction really starts with BEGIN IMMEDIATE on SQLite.
    """
    session = db.session()
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("write_session() called with unflushed changes pending")
        session.rollback()
    session.connection(execution_options={WRITE_OPTION: True})
    return session
