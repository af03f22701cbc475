"""While the database is unreachable every endpoint that needs it answers a JSON 503 with
Retry-After within AUREA_DB_TIMEOUT, and the same app serves again once it is back.

PostgreSQL is reached through a TCP proxy that the tests cut: refused and reset
connections (the database is down), or a black hole (the network is dead: nothing
answers, ever). SQLite's outage is a write lock held longer than the busy timeout.
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import schemathesis
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from aurea.storage.extensions import db
from config import MIGRATIONS_DIR
from tests.conftest import make_app
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

TIMEOUT = 2.0
# Time to answer beyond the timeout itself (thread start-up, a slow CI machine).
SLACK = 1.5

RECORD = {"model": "outage-model", "latency": 0.2, "cost": 0.001, "success": True}
WEIGHTS = {"cost_weight": 0.3, "quality_weight": 0.4, "latency_weight": 0.3}
DATABASE_ENDPOINTS = [
    ("GET", "/router/select", None),
    ("POST", "/router/record", RECORD),
    ("GET", "/router/metrics", None),
    ("POST", "/router/optimize?dry_run=true", None),
    ("GET", "/router/weights", None),
    ("PUT", "/router/weights", WEIGHTS),
]


def call(app, method: str, path: str, body: dict | None):
    started = time.monotonic()
    response = app.test_client().open(path, method=method, json=body)
    return response, time.monotonic() - started


def call_all_at_once(app):
    """Every database endpoint, concurrently: the black hole makes each take TIMEOUT."""
    with ThreadPoolExecutor(len(DATABASE_ENDPOINTS)) as pool:
        return list(pool.map(lambda endpoint: call(app, *endpoint), DATABASE_ENDPOINTS))


def assert_unavailable(response, elapsed: float, endpoint, limit: float) -> None:
    body = response.get_json()
    assert response.status_code == 503, (endpoint, response.status_code, body)
    assert body == {"code": 503, "status": "Service Unavailable", "message": body["message"]}
    assert isinstance(body["message"], str) and body["message"]
    assert int(response.headers["Retry-After"]) > 0
    assert elapsed < limit, (endpoint, elapsed)


def assert_documented(schema, endpoint, response) -> None:
    """The 503 is the documented default error response of the operation."""
    method, path, _ = endpoint
    schema[path.split("?")[0]][method].validate_response(response)


def assert_serving(app) -> None:
    for endpoint in DATABASE_ENDPOINTS:
        response, _ = call(app, *endpoint)
        assert response.status_code == 200, (endpoint, response.get_json())


@pytest.fixture
def proxied_app(database_url):
    """An app on PostgreSQL through a proxy, with AUREA_DB_TIMEOUT=2; yields (app, proxy)."""
    url = make_url(database_url)
    with TcpProxy(url.host, url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        app = make_app(proxied, AUREA_DB_TIMEOUT=TIMEOUT)
        with app.app_context():
            upgrade(directory=str(MIGRATIONS_DIR))
        yield app, proxy
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@postgres_only
def test_every_endpoint_answers_503_with_retry_after_while_postgres_refuses_connections(
    proxied_app,
):
    app, proxy = proxied_app
    assert_serving(app)

    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    proxy.refuse()
    for endpoint in DATABASE_ENDPOINTS:
        response, elapsed = call(app, *endpoint)
        assert_unavailable(response, elapsed, endpoint, limit=SLACK)
        assert_documented(schema, endpoint, response)
    assert app.test_client().get("/").status_code == 200, "GET / needs no database"

    proxy.restore()
    assert_serving(app)


@postgres_only
def test_every_endpoint_answers_503_within_the_timeout_while_postgres_is_a_black_hole(
    proxied_app,
):
    app, proxy = proxied_app
    assert_serving(app)

    # Pooled connections stay open but go silent: the pre-ping waits for an answer.
    proxy.black_hole()
    for endpoint, (response, elapsed) in zip(
        DATABASE_ENDPOINTS, call_all_at_once(app), strict=True
    ):
        assert_unavailable(response, elapsed, endpoint, limit=TIMEOUT + SLACK)
    # Those connections are gone now: new ones are accepted but never answered.
    for endpoint, (response, elapsed) in zip(
        DATABASE_ENDPOINTS, call_all_at_once(app), strict=True
    ):
        assert_unavailable(response, elapsed, endpoint, limit=TIMEOUT + SLACK)

    proxy.restore()
    assert_serving(app)


@postgres_only
def test_records_made_after_an_outage_are_counted(proxied_app):
    app, proxy = proxied_app
    client = app.test_client()
    assert client.post("/router/record", json=RECORD).status_code == 200
    proxy.refuse()
    assert client.post("/router/record", json=RECORD).status_code == 503
    proxy.restore()
    assert client.post("/router/record", json=RECORD).status_code == 200
    metrics = client.get("/router/metrics").get_json()
    assert metrics[RECORD["model"]]["total_requests"] == 2


@postgres_only
def test_record_answers_503_while_another_postgres_transaction_holds_a_lock_it_needs(
    database_url, app
):
    timeout = 1.0
    impatient = make_app(database_url, AUREA_DB_TIMEOUT=timeout)
    holder = sa.create_engine(database_url)
    try:
        with holder.connect() as conn:
            conn.exec_driver_sql("LOCK TABLE request_metrics IN EXCLUSIVE MODE")
            started = time.monotonic()
            response = impatient.test_client().post("/router/record", json=RECORD)
            assert_unavailable(
                response, time.monotonic() - started, "POST /router/record", timeout + SLACK
            )
            conn.rollback()
        # The request gave up before its insert ran: nothing was stored, not even the model.
        assert RECORD["model"] not in impatient.test_client().get("/router/metrics").get_json()
        assert impatient.test_client().post("/router/record", json=RECORD).status_code == 200
    finally:
        holder.dispose()
        with impatient.app_context():
            db.session.remove()
            db.engine.dispose()


@postgres_only
def test_commands_outside_requests_are_not_cut_short_by_the_request_budget(database_url):
    app = make_app(database_url, AUREA_DB_TIMEOUT=1.0)
    with app.app_context():
        try:
            assert db.session.execute(sa.text("SELECT pg_sleep(1.3), 1")).one()[1] == 1
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_record_answers_503_while_another_connection_holds_the_sqlite_write_lock(
    database_url,
):
    timeout = 0.5
    app = make_app(database_url, AUREA_DB_TIMEOUT=timeout)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    client = app.test_client()
    holder = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        response = client.post("/router/record", json=RECORD)
        assert_unavailable(
            response, time.monotonic() - started, "POST /router/record", limit=timeout + SLACK
        )
        # WAL: readers are not blocked by the writer.
        assert client.get("/router/metrics").status_code == 200
        holder.execute("ROLLBACK")
        assert client.post("/router/record", json=RECORD).status_code == 200
    finally:
        holder.close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
