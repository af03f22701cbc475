"""`flask aurea tokens create | list | revoke`."""

import getpass

import sqlalchemy as sa

from aurea.storage.extensions import db
from aurea.storage.models import WeightHistory


def test_create_prints_the_token_once_and_list_never_shows_it(runner):
    created = runner.invoke(args=["aurea", "tokens", "create", "--name", "ops", "--role", "admin"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[0]
    assert token.startswith("aurea_") and len(token) > 40
    listed = runner.invoke(args=["aurea", "tokens", "list"])
    assert "ops\tadmin" in listed.output
    assert "active" in listed.output
    assert token not in listed.output


def test_created_token_works_and_revoked_token_does_not(runner, client):
    result = runner.invoke(args=["aurea", "tokens", "create", "--name", "gw", "--role", "reader"])
    token = result.stdout.strip().splitlines()[0]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/router/select", headers=headers).status_code == 200
    assert runner.invoke(args=["aurea", "tokens", "revoke", "gw"]).exit_code == 0
    assert client.get("/router/select", headers=headers).status_code == 401
    assert "revoked" in runner.invoke(args=["aurea", "tokens", "list"]).output


def test_create_refuses_a_duplicate_name_and_an_unknown_role(runner):
    runner.invoke(args=["aurea", "tokens", "create", "--name", "ops", "--role", "admin"])
    again = runner.invoke(args=["aurea", "tokens", "create", "--name", "ops", "--role", "admin"])
    assert again.exit_code != 0
    assert "already exists" in again.output
    bad = runner.invoke(args=["aurea", "tokens", "create", "--name", "x", "--role", "root"])
    assert bad.exit_code != 0


def test_revoke_of_unknown_token_fails(runner):
    result = runner.invoke(args=["aurea", "tokens", "revoke", "nobody"])
    assert result.exit_code != 0
    assert "No token named" in result.output


def test_cli_weight_changes_are_attributed_to_the_cli_user(app, runner, record):
    record("gpt-4", 1.0, 0.01, True)
    record("gpt-3.5-turbo", 1.0, 0.03, False)
    assert runner.invoke(args=["aurea", "optimize"]).exit_code == 0
    with app.app_context():
        row = db.session.scalars(sa.select(WeightHistory).order_by(WeightHistory.id.desc())).first()
    assert row.actor == f"cli:{getpass.getuser()}"
