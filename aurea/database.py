"""Engine set-up: SQLite safe for several gunicorn workers, PostgreSQL waits bounded.

SQLite runs in WAL mode (readers never block the writer) with ``synchronous=FULL``
(a commit is on disk before it is acknowledged, also across power loss) and a
``busy_timeout`` so a writer waits for the lock instead of failing at once. The record
path gets the same durability another way (:func:`write_transaction`): it commits with
``synchronous=NORMAL`` and flushes the WAL itself once it has let go of the writer lock,
before it acknowledges anything.

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

import fcntl
import logging
import math
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from aurea.extensions import db
from aurea.write_metrics import (
    observe_commit,
    observe_wal_flush,
    observe_writer_lock_held,
    observe_writer_lock_wait,
)

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
# Per pooled SQLite connection (its record's info): the synchronous setting in force, and
# the WAL file the record path flushes after committing with NORMAL (None: it does not).
SYNCHRONOUS_INFO = "aurea_synchronous"
FLUSHED_WAL_INFO = "aurea_flushed_wal"


def install_sqlite_pragmas(engine: Engine, timeout: float, synchronous: str = "FULL") -> None:
    """Apply durability pragmas and explicit BEGIN handling to an SQLite engine."""
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, record):  # pragma: no cover - driver hook
        # Let SQLAlchemy's "begin" event emit BEGIN instead of the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        journal = wal = None
        if engine.url.database not in (None, "", ":memory:"):
            journal = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            # The file SQLite opened (symbolic links resolved): its WAL lies beside it.
            main = [row[2] for row in cursor.execute("PRAGMA database_list") if row[1] == "main"]
            wal = f"{main[0]}-wal" if main and main[0] else None
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()
        record.info[SYNCHRONOUS_INFO] = synchronous
        flushed = synchronous == "FULL" and str(journal).lower() == "wal"
        record.info[FLUSHED_WAL_INFO] = wal if flushed else None

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):  # pragma: no cover - driver hook
        # The record path may have left this connection committing without a flush.
        set_synchronous(connection.connection, synchronous)
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class UnflushedCommit(sa.exc.OperationalError):
    """The transaction committed, but flushing the WAL failed: its records are stored (and
    visible) but perhaps not on disk, so they are not acknowledged (a 503)."""


def set_synchronous(connection, setting: str) -> None:
    """Make ``setting`` the pooled SQLite ``connection``'s synchronous mode, if it is not."""
    if connection.info.get(SYNCHRONOUS_INFO) != setting:
        connection.dbapi_connection.execute(f"PRAGMA synchronous = {setting}")
        connection.info[SYNCHRONOUS_INFO] = setting


def flush_wal(path: str) -> None:
    """Flush the WAL file at ``path`` to disk (fdatasync): the commits appended to it are
    then durable. Call it while the committing connection is open: SQLite removes the WAL
    only when the last connection closes, so a missing file is an error (OSError), never
    taken for a flushed one."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


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


@contextmanager
def write_transaction(engine: Engine | None = None) -> Iterator[Any]:
    """A driver-level (DB-API) cursor in a write transaction, committed when the block ends
    without error; rolled back otherwise.

    For the record path, whose few statements run on every request: SQLAlchemy's
    Connection and its events cost more than the statements themselves. The pool still
    provides the connection (with its pre-ping and connect-time set-up), and driver errors
    are translated to SQLAlchemy's (a lost connection is invalidated), so the app answers
    them like any other database error. On SQLite the transaction starts with BEGIN
    IMMEDIATE under this host's writer lock (:func:`sqlite_writer_lock`). No session event
    sees this commit: the caller clears the read cache. ``engine``: the application's by
    default (a caller that has it already saves looking it up: it costs more than a statement).

    Durable on return. On an SQLite file in WAL mode with ``synchronous=FULL`` (the
    default), the commit itself does not flush: the connection commits with NORMAL, and the
    WAL is flushed (:func:`flush_wal`) once the writer lock is released. The next writer
    does not wait for this flush, and flushes of several workers can overlap; the records are
    on disk before this returns, as FULL would have them. Other readers may see them a
    little earlier, before the flush.
    """
    engine = engine if engine is not None else db.engine
    dialect = engine.dialect
    connection = cursor = None
    try:
        connection = engine.raw_connection()
        wal = connection.info.get(FLUSHED_WAL_INFO)
        if wal is not None:
            set_synchronous(connection, "NORMAL")
        cursor = connection.cursor()
        # The writer lock covers the transaction only: checking the connection out and
        # back into the pool happen outside it, while another worker may be writing.
        with sqlite_writer_lock(engine):
            try:
                if dialect.name == "sqlite":
                    cursor.execute("BEGIN IMMEDIATE")
                yield cursor
                started = time.perf_counter()
                connection.commit()
                committed = time.perf_counter() - started
            except BaseException:
                _quietly(connection.rollback)
                raise
        observe_commit(committed)  # once the lock is released: not part of its hold
        if wal is not None:
            started = time.perf_counter()
            try:
                flush_wal(wal)
            except OSError as error:
                log.error("flushing %s failed after a commit: %s", wal, error)
                raise UnflushedCommit("flush the WAL", None, error) from error
            observe_wal_flush(time.perf_counter() - started)
    except dialect.loaded_dbapi.Error as error:
        # Also when connecting failed: the database is down, or the budget is spent.
        disconnected = connection is not None and dialect.is_disconnect(
            error, connection.dbapi_connection, cursor
        )
        if disconnected:
            connection.invalidate(error)
        raise sa.exc.DBAPIError.instance(
            None,
            None,
            error,
            dialect.loaded_dbapi.Error,
            connection_invalidated=disconnected,
            dialect=dialect,
        ) from error
    finally:
        if cursor is not None:
            _quietly(cursor.close)
        if connection is not None:
            connection.close()  # back to the pool


def _quietly(action) -> None:
    try:
        action()
    except Exception as error:  # noqa: BLE001 - cleanup of an already failed write
        log.warning("cleanup after a write failed: %s", error)


# Waiting for another process's write: first retry after this long, then twice as long
# each time, up to the cap.
LOCK_RETRY_FIRST = 0.00002
LOCK_RETRY_CAP = 0.0002


@contextmanager
def sqlite_writer_lock(engine: Engine) -> Iterator[None]:
    """Serialize the record path's write transactions across this host's processes.

    Only one SQLite writer runs at a time anyway. A writer that finds the database
    locked is put to sleep by SQLite's busy handler for 1, 2, 5, 10 ms and more before it
    tries again, however soon the lock is released: with two gunicorn workers recording
    at once, that waiting, not the work, bounded the throughput (``make bench``). Writers
    of the record path take an advisory lock on a file beside the database first, and
    retry it every 0.02 to 0.2 ms, so the next writer starts almost as soon as the last
    one commits. Other writers (optimize, the CLI) still meet SQLite's own busy handling.
    Waiting is bounded like a statement: by the request's budget, or AUREA_DB_TIMEOUT.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        yield
        return
    left = time_left()
    deadline = time.monotonic() + (left if left is not None else _db_timeout())
    try:
        fd = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o666)  # umask applies
    except OSError as error:  # e.g. created by another user: answered like a lost database
        raise sa.exc.OperationalError("open writer lock", None, error) from error
    asked = time.perf_counter()
    locked = None
    try:
        delay = LOCK_RETRY_FIRST
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    observe_writer_lock_wait(time.perf_counter() - asked)
                    raise sa.exc.OperationalError(
                        "flock", None, sqlite3.OperationalError("database is locked")
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, LOCK_RETRY_CAP)
        locked = time.perf_counter()
        yield
    finally:
        os.close(fd)  # releases the lock
        if locked is not None:
            observe_writer_lock_wait(locked - asked)
            observe_writer_lock_held(time.perf_counter() - locked)


def _db_timeout() -> float:
    return current_app.config["AUREA_DB_TIMEOUT"] if has_app_context() else 10.0


def write_session() -> Session:
    """Return the session with a fresh transaction opened for writing.

    Call it before the first statement of a write use case. A read-only
    transaction left open by earlier reads is ended first, so the write
    transaction really starts with BEGIN IMMEDIATE on SQLite.
    """
    session = end_read_transaction()
    session.connection(execution_options={WRITE_OPTION: True})
    return session


def end_read_transaction() -> Session:
    """End the session's read-only transaction, if one is open; return the session.

    Before a write: on SQLite an open read transaction keeps its snapshot, so reads made
    after the write through it would not see the write.
    """
    session = db.session()
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("a write started with unflushed changes pending")
        session.rollback()
    return session


def end_any_read_transaction() -> None:
    """:func:`end_read_transaction` if this context has a session; none is created for it
    (the record path writes on its own connection and needs no session)."""
    if db.session.registry.has():
        end_read_transaction()
