"""`aurea migrate` (`flask aurea migrate`): flask db upgrade, from the package's settings."""

from aurea.observability.readiness import migration_heads


def test_migrate_brings_a_database_never_migrated_to_head(empty_app):
    client = empty_app.test_client()
    assert client.get("/readyz").status_code == 503
    result = empty_app.test_cli_runner().invoke(args=["aurea", "migrate"])
    assert result.exit_code == 0, result.output
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json()["revision"] == ", ".join(sorted(migration_heads()))
