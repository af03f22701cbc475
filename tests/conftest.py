"""Fixtures: an application per test on a fresh database, once on SQLite and once on PostgreSQL.

PostgreSQL tests need AUREA_TEST_POSTGRES_URL (``.ci/run`` sets it). Without it they are
skipped locally; with CI=true a missing PostgreSQL fails the run instead.
"""

from __future__ import annotations

import os

# LiteLLM (tests/client/test_litellm_live.py) would fetch its cost map from the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from aurea.app_context import service_context
from aurea.cli import create_app_with_commands
from aurea.clock import FrozenClock
from aurea.services.tokens import create_token
from aurea.storage.extensions import db
from aurea.storage.models import TOKEN_ROLES
from config import MIGRATIONS_DIR, TestingConfig, normalize_database_url
from tests.support.server import gunicorn_server

BACKENDS = ["sqlite", "postgresql"]


def postgres_base_url() -> str:
    url = os.environ.get("AUREA_TEST_POSTGRES_URL")
    if url:
        return normalize_database_url(url)
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but AUREA_TEST_POSTGRES_URL is not set: PostgreSQL legs must run")
    pytest.skip("AUREA_TEST_POSTGRES_URL not set")


def with_search_path(url: str, schema: str) -> str:
    """Return ``url`` with every connection's search_path set to ``schema``.

    Commits do not wait for the WAL flush (synchronous_commit=off): that only
    matters if PostgreSQL itself crashes, and it keeps the suite fast.
    """
    return (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema} -csynchronous_commit=off"})
        .render_as_string(hide_password=False)
    )


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """An empty database: an SQLite file in ``directory``, or a fresh PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'aurea.db'}"
        return
    base = postgres_base_url()
    schema = f"aurea_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(base, schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """An empty database: an SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


def make_app(database_url: str, **settings):
    config = type(
        "PerTestConfig",
        (TestingConfig,),
        {"SQLALCHEMY_DATABASE_URI": normalize_database_url(database_url), **settings},
    )
    return create_app_with_commands(config)


@contextmanager
def migrated_app(database_url: str, **settings) -> Iterator[Flask]:
    """An application with ``settings`` on ``database_url``, migrated to head; its engine is
    disposed of afterwards. Enter it in a fixture: migrating reconfigures logging."""
    app = make_app(database_url, **settings)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(autouse=True)
def _objective_mode(request, monkeypatch):
    """``@pytest.mark.weighted_objective``: every application the test builds runs in the
    seed's weighted mode (AUREA_OBJECTIVE=weighted) instead of the default utility mode."""
    if request.node.get_closest_marker("weighted_objective"):
        monkeypatch.setattr(TestingConfig, "AUREA_OBJECTIVE", "weighted")
        monkeypatch.setenv("AUREA_OBJECTIVE", "weighted")


@pytest.fixture
def empty_app(database_url):
    """An application whose database has no tables yet."""
    app = make_app(database_url)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def unreachable_app(tmp_path):
    """An application whose database cannot be opened: an SQLite file in a missing directory."""
    app = make_app(f"sqlite:///{tmp_path / 'missing' / 'aurea.db'}")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def silent_server():
    """The port of a TCP server that accepts connections and never answers: a hung database."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


@pytest.fixture
def app(empty_app):
    """An application on a database migrated to head."""
    with empty_app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    return empty_app


@pytest.fixture
def tokens(app) -> dict[str, str]:
    """One token per role, named ``<role>-token``: the service no longer runs open."""
    with app.app_context():
        made = {
            role: create_token(service_context(), f"{role}-token", role) for role in TOKEN_ROLES
        }
        db.session.remove()
    return made


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def record(client):
    """Record one request through the API and assert it was acknowledged."""

    def _record(
        model: str, latency: float, cost: float, success: bool = True, task: str | None = None
    ) -> None:
        body = {"model": model, "latency": latency, "cost": cost, "success": success}
        if task is not None:
            body["task"] = task
        response = client.post("/router/record", json=body)
        assert response.status_code == 200, response.get_json()

    return _record


@pytest.fixture
def clock(app):
    """Freeze the application's clock at 2026-06-15 10:20 UTC; tests move it."""
    frozen = FrozenClock(datetime(2026, 6, 15, 10, 20, tzinfo=UTC))
    app.config["AUREA_CLOCK"] = frozen
    return frozen


@pytest.fixture
def ctx(app):
    """Run the test body inside an application context; the services' Context of it."""
    with app.app_context():
        yield service_context()
        db.session.remove()


@dataclass(frozen=True)
class LiveAurea:
    """A gunicorn-served Aurea, an application on the same database, and a token per role."""

    base_url: str
    app: Flask
    tokens: dict[str, str]
    log_path: Path  # gunicorn's access and error logs


@pytest.fixture(scope="module", params=BACKENDS)
def live_aurea(request, tmp_path_factory) -> Iterator[LiveAurea]:
    """Aurea under gunicorn (2 workers, no read cache) on a database shared by a module's tests.

    A token per role exists before the server starts, so every /router call needs one.
    Tests that share the server use model names of their own.
    """
    directory = tmp_path_factory.mktemp(f"live-{request.param}")
    with fresh_database(request.param, directory) as url:
        app = make_app(url)
        with app.app_context():
            upgrade(directory=str(MIGRATIONS_DIR))
            tokens = {
                role: create_token(service_context(), f"{role}-token", role) for role in TOKEN_ROLES
            }
            db.session.remove()
        env = {"AUREA_CACHE_SECONDS": "0", "AUREA_ACCESS_LOG": "-"}
        if request.node.get_closest_marker("weighted_objective"):
            env["AUREA_OBJECTIVE"] = "weighted"
        try:
            with gunicorn_server(url, workers=2, log_dir=directory, env=env) as base_url:
                yield LiveAurea(base_url, app, tokens, directory / "gunicorn.log")
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
