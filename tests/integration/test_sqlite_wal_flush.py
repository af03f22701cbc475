"""SQLite single records: committed without a flush, the WAL flushed once the writer lock is
free and before the answer; every other write still commits with ``synchronous=FULL``."""

import errno
import fcntl
import os
import sqlite3

import pytest
import sqlalchemy as sa

import aurea.database
from aurea.database import flush_wal, write_session, write_transaction
from aurea.extensions import db
from tests.conftest import migrated_app
from tests.support.counts import stored_counts

RECORD = {"model": "gpt-4", "latency": 0.5, "cost": 0.01, "success": True}


def sqlite_path(app) -> str:
    return app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")


@pytest.fixture
def sqlite_app(app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the WAL and its flush are SQLite's")
    return app


@pytest.fixture
def flushes(sqlite_app, monkeypatch):
    """What each WAL flush saw: (writer lock free, raw rows another connection sees, file)."""
    database = sqlite_path(sqlite_app)
    seen = []
    real_fdatasync = os.fdatasync

    def spy(fd):
        lock = os.open(f"{database}-writer.lock", os.O_RDWR)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            free = True
        except BlockingIOError:
            free = False
        finally:
            os.close(lock)  # releases it, if taken
        other = sqlite3.connect(database)
        try:
            (rows,) = other.execute("SELECT count(*) FROM request_metrics").fetchone()
        finally:
            other.close()
        seen.append((free, rows, os.readlink(f"/proc/self/fd/{fd}")))
        real_fdatasync(fd)

    monkeypatch.setattr(aurea.database.os, "fdatasync", spy)
    return seen


def test_a_record_is_committed_then_flushed_outside_the_writer_lock_before_its_answer(
    sqlite_app, flushes
):
    client = sqlite_app.test_client()
    wal = f"{sqlite_path(sqlite_app)}-wal"
    assert client.post("/router/record", json=RECORD).status_code == 200
    assert flushes == [(True, 1, wal)]
    assert client.post("/router/records", json={"records": [RECORD] * 3}).status_code == 200
    assert flushes == [(True, 1, wal), (True, 4, wal)]


def test_the_record_path_commits_with_normal_and_other_writes_on_its_connection_with_full(
    sqlite_app,
):
    with sqlite_app.app_context():
        with write_transaction() as cursor:
            (record_path,) = cursor.execute("PRAGMA synchronous").fetchone()
            used = cursor.connection
        session = write_session()
        other_write = session.execute(sa.text("PRAGMA synchronous")).scalar()
        same = session.connection().connection.dbapi_connection is used
        session.rollback()
        db.session.remove()
    assert same  # one pooled connection, used by both paths in turn
    assert (record_path, other_write) == (1, 2)  # NORMAL, then FULL again


@pytest.fixture
def caching_app(database_url):
    """An SQLite application whose workers cache answers for a minute."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the WAL and its flush are SQLite's")
    with migrated_app(database_url, AUREA_CACHE_SECONDS=60.0) as app:
        yield app


def test_a_failed_flush_answers_503_with_the_records_committed_but_not_acknowledged(
    caching_app, monkeypatch
):
    def failing(_fd):
        raise OSError(errno.EIO, "I/O error")

    sqlite_app = caching_app
    client = sqlite_app.test_client()
    assert client.get("/router/metrics").get_json()["gpt-4"]["total_requests"] == 0  # cached
    monkeypatch.setattr(aurea.database.os, "fdatasync", failing)
    response = client.post("/router/record", json=RECORD)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert stored_counts(sqlite_app) == (1, 1)
    # Stored and visible: this worker's cache does not hide it.
    assert client.get("/router/metrics").get_json()["gpt-4"]["total_requests"] == 1


@pytest.fixture
def normal_app(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite-specific")
    with migrated_app(database_url, AUREA_SQLITE_SYNCHRONOUS="NORMAL") as app:
        yield app


def test_records_are_not_flushed_when_operators_chose_normal(normal_app, monkeypatch):
    calls = []
    monkeypatch.setattr(aurea.database.os, "fdatasync", calls.append)
    assert normal_app.test_client().post("/router/record", json=RECORD).status_code == 200
    assert calls == []
    assert stored_counts(normal_app) == (1, 1)


def test_a_missing_wal_is_an_error_not_a_flush(tmp_path):
    with pytest.raises(FileNotFoundError):
        flush_wal(str(tmp_path / "aurea.db-wal"))


def test_through_a_symbolic_link_the_wal_beside_the_real_file_is_flushed(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link.db"
    link.symlink_to(real / "aurea.db")
    flushed = []
    real_fdatasync = os.fdatasync

    def spy(fd):
        flushed.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fdatasync(fd)

    with migrated_app(f"sqlite:///{link}") as app:
        monkeypatch.setattr(aurea.database.os, "fdatasync", spy)
        assert app.test_client().post("/router/record", json=RECORD).status_code == 200
    assert flushed == [str(real / "aurea.db-wal")]
