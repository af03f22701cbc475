"""Tokens with roles guard /router once the first token exists; docs and health stay open."""

import logging

import pytest
import sqlalchemy as sa

from aurea.app_context import service_context
from aurea.services.tokens import revoke_token
from aurea.storage.extensions import db
from aurea.storage.models import ApiToken, WeightHistory

RECORD = {"model": "gpt-4", "latency": 0.5, "cost": 0.01, "success": True}
WEIGHTS = {"cost_weight": 0.5, "quality_weight": 0.3, "latency_weight": 0.2}
CALLS = {
    "record": ("POST", "/router/record", RECORD),
    "batch": ("POST", "/router/records", {"records": [RECORD]}),
    "select": ("GET", "/router/select", None),
    "metrics": ("GET", "/router/metrics", None),
    "get_weights": ("GET", "/router/weights", None),
    "put_weights": ("PUT", "/router/weights", WEIGHTS),
    "optimize": ("POST", "/router/optimize", None),
}
ALLOWED = {
    "recorder": {"record", "batch"},
    "reader": {"select", "metrics", "get_weights"},
    "admin": set(CALLS),
}


def call(client, name, token=None):
    method, path, body = CALLS[name]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.open(path, method=method, json=body, headers=headers)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_service_runs_open_until_the_first_token_exists(client, name):
    assert call(client, name).status_code == 200


@pytest.mark.parametrize("name", sorted(CALLS))
def test_missing_token_answers_json_401_once_a_token_exists(client, tokens, name):
    response = call(client, name)
    assert response.status_code == 401
    assert response.get_json()["code"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer aurea_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer"]
)
def test_unknown_or_malformed_token_answers_401(client, tokens, header):
    response = client.get("/router/select", headers={"Authorization": header})
    assert response.status_code == 401


@pytest.mark.parametrize("role", sorted(ALLOWED))
@pytest.mark.parametrize("name", sorted(CALLS))
def test_each_role_may_do_exactly_what_it_is_for(client, tokens, role, name):
    response = call(client, name, tokens[role])
    if name in ALLOWED[role]:
        assert response.status_code == 200, response.get_json()
    else:
        assert response.status_code == 403
        assert role in response.get_json()["message"]


def test_auth_is_checked_before_the_body_is_validated(client, tokens):
    response = client.post("/router/record", json={"model": ""})
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/", "/docs", "/redoc", "/openapi.json", "/healthz", "/readyz"])
def test_docs_and_health_stay_open_when_tokens_exist(client, tokens, path):
    assert client.get(path).status_code == 200


def test_revoked_token_is_refused_and_revoking_all_does_not_reopen(app, client, tokens):
    with app.app_context():
        for role in ALLOWED:
            revoke_token(service_context(), f"{role}-token")
    assert call(client, "select", tokens["admin"]).status_code == 401
    assert call(client, "select").status_code == 401


def test_only_a_digest_of_each_token_is_stored(app, tokens):
    with app.app_context():
        stored = db.session.scalars(sa.select(ApiToken.token_sha256)).all()
    assert len(stored) == 3
    for token in tokens.values():
        assert token not in stored
        assert all(len(h) == 64 for h in stored)


def test_tokens_never_appear_in_logs(client, tokens, caplog):
    caplog.set_level(logging.DEBUG)
    call(client, "select", tokens["admin"])
    call(client, "select", "aurea_wrong-token-value")
    assert tokens["admin"] not in caplog.text
    assert "aurea_wrong-token-value" not in caplog.text


def test_weight_changes_name_the_token_that_made_them(app, client, tokens):
    assert call(client, "put_weights", tokens["admin"]).status_code == 200
    with app.app_context():
        row = db.session.scalars(sa.select(WeightHistory).order_by(WeightHistory.id.desc())).first()
    assert (row.source, row.actor) == ("manual", "admin-token")


def test_openapi_declares_the_bearer_scheme_on_router_operations(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["paths"]["/router/select"]["get"]["security"] == [{"bearerAuth": []}]
    assert "401" in spec["paths"]["/router/weights"]["put"]["responses"]
    assert "security" not in spec["paths"]["/"]["get"]
