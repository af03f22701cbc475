"""A database never migrated (or migrated to an older revision) gets a 503 naming the fix."""

import pytest
from flask_migrate import downgrade

from config import MIGRATIONS_DIR

RECORD = {"model": "gpt-4", "latency": 0.5, "cost": 0.01, "success": True}
REQUESTS = [
    ("get", "/router/select", {}),
    ("get", "/router/metrics", {}),
    ("post", "/router/record", {"json": RECORD}),
    ("post", "/router/records", {"json": {"records": [RECORD]}}),
    ("get", "/router/weights", {}),
    (
        "put",
        "/router/weights",
        {"json": {"cost_weight": 0.5, "quality_weight": 0.3, "latency_weight": 0.2}},
    ),
    ("get", "/router/weights/history", {}),
    ("post", "/router/weights/rollback", {"json": {"id": 1}}),
    ("post", "/router/optimize", {}),
    ("get", "/router/models", {}),
    ("post", "/router/models", {"json": {"name": "new-model"}}),
    ("patch", "/router/models/gpt-4", {"json": {"enabled": False}}),
    ("get", "/dashboard", {}),
]


def assert_names_the_migration(response) -> None:
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "Service Unavailable"
    assert "aurea migrate" in body["message"]
    assert "flask --app wsgi db upgrade" in body["message"]


@pytest.mark.parametrize(("method", "path", "kwargs"), REQUESTS)
def test_every_endpoint_on_a_database_never_migrated_answers_503_naming_aurea_migrate(
    empty_app, method, path, kwargs
):
    response = getattr(empty_app.test_client(), method)(path, **kwargs)
    assert_names_the_migration(response)


def test_a_database_behind_the_migrations_answers_503_naming_aurea_migrate(app, client):
    with app.app_context():  # before 0004: the models have no enabled column yet
        downgrade(directory=str(MIGRATIONS_DIR), revision="0003")
    assert_names_the_migration(client.get("/router/models"))
