"""Every request is logged as one line of JSON, without bodies or credentials."""

import json
import logging

import pytest
from flask import g

SECRET = "Bearer s3cr3t-t0ken-value"
FIELDS = {"method", "path", "status", "duration_ms", "remote_addr", "actor"}


def request_lines(caplog) -> list[dict]:
    lines = []
    for record in caplog.records:
        if record.name != "aurea":
            continue
        message = record.getMessage()
        assert "\n" not in message
        lines.append(json.loads(message))
    return lines


@pytest.fixture
def app_log(caplog):
    with caplog.at_level(logging.INFO, logger="aurea"):
        yield caplog


def test_a_request_logs_one_json_line_with_its_fields(client, app_log):
    body = {"model": "log-test-model", "latency": 0.5, "cost": 0.01, "success": True}
    response = client.post(
        "/router/record?api_key=query-secret", json=body, headers={"Authorization": SECRET}
    )
    assert response.status_code == 200

    [line] = request_lines(app_log)
    assert set(line) == FIELDS
    assert line["method"] == "POST"
    assert line["path"] == "/router/record"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["remote_addr"] == "127.0.0.1"
    assert line["actor"] is None
    assert "s3cr3t" not in app_log.text
    assert "query-secret" not in app_log.text
    assert "log-test-model" not in app_log.text


def test_refused_and_unknown_requests_are_logged_with_their_status(client, app_log):
    client.post("/router/record", json={"model": "x"}, headers={"Authorization": SECRET})
    client.get("/no-such-page")
    assert [(line["path"], line["status"]) for line in request_lines(app_log)] == [
        ("/router/record", 422),
        ("/no-such-page", 404),
    ]
    assert "s3cr3t" not in app_log.text


def test_the_actor_is_logged_once_authentication_sets_it(app, app_log):
    @app.before_request
    def _authenticate():
        g.actor = "ops@example.com"

    app.test_client().get("/healthz")
    [line] = request_lines(app_log)
    assert line["actor"] == "ops@example.com"
