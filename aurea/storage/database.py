"""Engine set-up: SQLite safe for several gunicorn workers, PostgreSQL waits bounded.

SQLite runs in WAL mode (readers never block the writer) with ``synchronous=FULL``
(a commit is on disk before it is acknowledged, also across power loss) and a
``busy_timeout`` so a writer waits for the lock instead of failing at once.

Python's sqlite3 module opens transactions lazily and in DEFERRED mode, so a
transaction that reads and then writes can fail with "database is locked" when
another worker commits in between. Write transactions therefore start with
``BEGIN IMMEDIATE``: the service layer asks for them with :func:`write_session`.

On PostgreSQL every request has a budget of ``AUREA_DB_TIMEOUT`` seconds for the
database: connecting (``connect_timeout``), the pool's pre-ping, each statement,
the commit and the final rollback. psycopg itself waits for an answer without
limit, which is forever when the network dies under an open connection, so the
connections are :class:`DeadlineConnection`: a wait past the budget closes the
connection and raises ``OperationalError``, which the app answers with a 503.
Outside requests (CLI, migrations) nothing is cut short; TCP keepalives and
``tcp_user_timeout`` still detect a dead peer there.
"""

from __future__ import annotations

import logging
import math
import time
from contextvars import ContextVar
from typing import Any

import psycopg
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session

from aurea.storage.extensions import db

log = logging.getLogger(__name__)

WRITE_OPTION = "aurea_write"

# Monotonic time by which the current request must be done with the database (None: no limit).
_deadline: ContextVar[float | None] = ContextVar("aurea_db_deadline", default=None)


def engine_options(uri: str, timeout: float) -> dict[str, Any]:
    """Return SQLAlchemy engine options suited to the database in ``uri``."""
    if uri.startswith("sqlite"):
        return {"connect_args": {"timeout": timeout}}
    seconds = max(1, math.ceil(timeout))
    return {
        "pool_pre_ping": True,
        # Waiting for a free pooled connection (only with threaded workers).
        "pool_timeout": timeout,
        "connect_args": {
            "connect_timeout": seconds,
            # A peer that stops answering (cable cut, host gone) is detected by TCP even
            # when no request deadline applies: idle connections are probed every
            # `seconds`, and unacknowledged data or probes drop the connection.
            "keepalives": 1,
            "keepalives_idle": seconds,
            "keepalives_interval": seconds,
            "keepalives_count": 3,
            "tcp_user_timeout": int(timeout * 1000),
        },
    }


def time_left() -> float | None:
    """Seconds the current request may still wait for the database (None: no limit)."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


class DeadlineConnection(psycopg.Connection):
    """A psycopg connection whose round trips give up when the request's budget is spent."""

    def wait(self, gen, *args, **kwargs):
        left = time_left()
        if left is None or kwargs.get("timeout") is not None:
            return super().wait(gen, *args, **kwargs)
        try:
            return super().wait(gen, *args, **{**kwargs, "timeout": max(left, 0.0)})
        except psycopg.errors._WaitTimeout:
            # The protocol stopped half-way: the connection is unusable. Closed, it is
            # seen as a disconnect and discarded by the pool.
            self.pgconn.finish()
            raise psycopg.OperationalError("the database did not answer in time") from None


def install_postgres_deadline(engine: Engine) -> None:
    """Connect through DeadlineConnection, within what is left of the request's budget."""
    if engine.dialect.driver != "psycopg":
        return

    @sa.event.listens_for(engine, "do_connect")
    def _connect(_dialect, _record, cargs, cparams):  # pragma: no cover - driver hook
        left = time_left()
        if left is not None:
            if left <= 0:
                raise psycopg.OperationalError("no time left to connect to the database")
            cparams["connect_timeout"] = max(1, math.ceil(left))
        return DeadlineConnection.connect(*cargs, **cparams)


SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")


def install_sqlite_pragmas(engine: Engine, timeout: float, synchronous: str = "FULL") -> None:
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
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):  # pragma: no cover - driver hook
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def init_database(app: Flask) -> None:
    """Install engine hooks once the engine for ``app`` exists, and the end of each request's
    session (create_app installs the request budget, :class:`DatabaseBudget`)."""
    timeout = app.config["AUREA_DB_TIMEOUT"]
    with app.app_context():
        install_sqlite_pragmas(db.engine, timeout, app.config["AUREA_SQLITE_SYNCHRONOUS"])
        install_postgres_deadline(db.engine)

    # Registered after Flask-SQLAlchemy's teardown, so it runs first.
    @app.teardown_appcontext
    def _end_session(_exc):
        if _deadline.get() is not None:
            # The final rollback gets a budget of its own: the request may have spent its own.
            _deadline.set(time.monotonic() + timeout)
        try:
            db.session.remove()
        except sa.exc.SQLAlchemyError as error:
            # The response is decided; a connection lost now is discarded by the pool.
            log.warning("database session cleanup failed: %s", error)


class DatabaseBudget:
    """WSGI middleware: the whole request, teardown included, runs under a database budget."""

    def __init__(self, wsgi_app, seconds: float) -> None:
        self.wsgi_app = wsgi_app
        self.seconds = seconds

    def __call__(self, environ, start_response):
        token = _deadline.set(time.monotonic() + self.seconds)
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            _deadline.reset(token)


def write_session(session: Session | None = None) -> Session:
    """Return the session (default: the app's) with a fresh transaction opened for writing.

    Call it before the first statement of a write use case. A read-only
    transaction left open by earlier reads is ended first, so the write
    transaction really starts with BEGIN IMMEDIATE on SQLite.
    """
    session = end_read_transaction(session)
    session.connection(execution_options={WRITE_OPTION: True})
    return session


def end_read_transaction(session: Session | None = None) -> Session:
    """End the session's read-only transaction, if one is open; return the session.

    Before a write: on SQLite an open read transaction keeps its snapshot, so reads made
    after the write through it would not see the write.
    """
    if session is None or isinstance(session, scoped_session):
        session = (session or db.session)()  # flask-sqlalchemy's db.session is a scoped_session
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("a write started with unflushed changes pending")
        session.rollback()
    return session


def upsert_insert(session: Session):
    """The dialect's ``insert``, which has ON CONFLICT: PostgreSQL's or SQLite's."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
