"""GET /healthz answers while the process is up; GET /readyz only when the database is ready."""

import time

import sqlalchemy as sa
from flask_migrate import downgrade

from aurea.observability.readiness import migration_heads
from aurea.storage.extensions import db
from config import MIGRATIONS_DIR
from tests.conftest import make_app
from tests.support.server import free_port

HEAD = ", ".join(sorted(migration_heads()))


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_answers_ok_without_touching_the_database(unreachable_app):
    response = unreachable_app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_answers_200_with_the_revision_when_migrations_are_at_head(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "revision": HEAD}


def test_readyz_answers_503_on_a_database_never_migrated(empty_app):
    response = empty_app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {
        "code": 503,
        "status": "Service Unavailable",
        "message": f"migrations not at head (db: none, head: {HEAD})",
    }


def test_readyz_answers_503_when_migrations_are_behind(app, client):
    with app.app_context():
        downgrade(directory=str(MIGRATIONS_DIR), revision="base")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["message"] == f"migrations not at head (db: none, head: {HEAD})"


def test_readyz_answers_503_naming_both_revisions_when_they_differ(app, client):
    with app.app_context():
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = 'abc123'"))
        db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["message"] == f"migrations not at head (db: abc123, head: {HEAD})"


def test_readyz_answers_503_at_once_when_the_sqlite_file_cannot_be_opened(unreachable_app):
    started = time.monotonic()
    response = unreachable_app.test_client().get("/readyz")
    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response.get_json()["message"] == "database unreachable"


def test_readyz_answers_503_at_once_when_postgresql_refuses_connections():
    app = make_app(f"postgresql://postgres@127.0.0.1:{free_port()}/aurea")
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response.get_json()["message"] == "database unreachable"


def test_readyz_gives_up_after_its_short_timeout_when_postgresql_hangs(silent_server):
    app = make_app(f"postgresql://postgres@127.0.0.1:{silent_server}/aurea", AUREA_READY_TIMEOUT=1)
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    # libpq waits at least 2 s for a connection.
    assert time.monotonic() - started < 4
    assert response.status_code == 503
    assert response.get_json()["message"] == "database unreachable"


def test_health_endpoints_are_documented_in_openapi(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "200" in paths["/healthz"]["get"]["responses"]
    assert {"200", "503"} <= set(paths["/readyz"]["get"]["responses"])
