"""SQLite write transactions take the write lock up front; reads do not."""

import pytest
import sqlalchemy as sa

from aurea.app_context import service_context
from aurea.domain.scoring import Weights
from aurea.services.metrics import metrics_summary
from aurea.services.optimize import optimize_weights
from aurea.services.records import record_request
from aurea.services.scope import Scope
from aurea.services.weights import set_weights
from aurea.storage.extensions import db


@pytest.fixture
def begins(app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("BEGIN modes are SQLite-specific")
    statements = []
    with app.app_context():

        def capture(statement):
            if statement.startswith("BEGIN"):
                statements.append(statement)

        def trace(dbapi_connection, _record):
            # What SQLite itself runs, whether sent through SQLAlchemy or a raw cursor.
            dbapi_connection.set_trace_callback(capture)

        db.engine.dispose()  # connections opened from now on are traced
        sa.event.listen(db.engine, "connect", trace)
        yield statements
        sa.event.remove(db.engine, "connect", trace)
        db.session.remove()


def test_pragmas_make_sqlite_durable_and_concurrent(begins):
    settings = {
        name: db.session.execute(sa.text(f"PRAGMA {name}")).scalar()
        for name in ("journal_mode", "synchronous", "foreign_keys")
    }
    assert settings == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}


def test_write_services_begin_immediate_even_after_a_read(begins):
    metrics_summary(
        service_context(), Scope.from_request(service_context().config)
    )  # leaves a read transaction open
    record_request(service_context(), "gpt-4", 0.5, 0.01, True)
    set_weights(service_context(), Weights(0.4, 0.4, 0.2))
    optimize_weights(service_context(), Scope.from_request(service_context().config))
    # optimize rolls the record up first: a read finds it, a write transaction adds it.
    assert begins == [
        "BEGIN",
        "BEGIN IMMEDIATE",
        "BEGIN IMMEDIATE",
        "BEGIN",
        "BEGIN IMMEDIATE",
        "BEGIN IMMEDIATE",
    ]


def test_operators_may_trade_power_loss_durability_for_commit_speed(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite-specific")
    from tests.conftest import make_app

    app = make_app(database_url, AUREA_SQLITE_SYNCHRONOUS="NORMAL")
    with app.app_context():
        assert db.session.execute(sa.text("PRAGMA synchronous")).scalar() == 1
        db.session.remove()
        db.engine.dispose()


def test_a_record_waits_for_another_processs_write_and_records_once_it_ends(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite-specific")
    import sqlite3
    import threading

    from sqlalchemy.engine import make_url

    from tests.conftest import migrated_app

    with migrated_app(database_url, AUREA_DB_TIMEOUT=5.0) as app:
        client = app.test_client()
        body = {"model": "gpt-4", "latency": 0.5, "cost": 0.01, "success": True}
        # Another connection's write transaction: what another gunicorn worker would hold.
        holder = sqlite3.connect(
            make_url(database_url).database, isolation_level=None, check_same_thread=False
        )
        try:
            holder.execute("BEGIN IMMEDIATE")
            threading.Timer(0.2, holder.execute, ("COMMIT",)).start()
            # busy_timeout: SQLite waits for the lock instead of failing at once.
            assert client.post("/router/record", json=body).get_json()["status"] == "recorded"
        finally:
            holder.close()
        assert client.get("/router/metrics").get_json()["gpt-4"]["total_requests"] == 1
