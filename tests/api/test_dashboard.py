"""GET /dashboard through the Flask test client: content, scope, tokens and headers."""

from __future__ import annotations

import html
import json
import logging
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from aurea.extensions import db
from aurea.models import WeightHistory
from aurea.services.dashboard import dashboard
from aurea.services.metrics import metrics_summary
from aurea.services.scope import Scope

WEIGHTS = {"cost_weight": 0.5, "quality_weight": 0.3, "latency_weight": 0.2}

# The dashboard still shows the weighted mode's scores and choice (docs/decisions.md).
pytestmark = pytest.mark.weighted_objective


def attribute_values(page: str, attribute: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(rf'{attribute}="([^"]*)"', page)]


def page_of(client, query: str = "", **kwargs) -> str:
    response = client.get(f"/dashboard{query}", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.content_type == "text/html; charset=utf-8"
    return response.get_data(as_text=True)


@pytest.fixture
def traffic(record):
    record("gpt-4", 1.2, 0.03, True)
    record("gpt-4", 1.0, 0.03, False)
    record("gpt-3.5-turbo", 0.4, 0.002, True)
    record("custom-model", 0.8, 0.01, True)


def test_every_registered_model_is_listed_with_and_without_data(client, traffic):
    page = page_of(client)
    models = set(client.get("/router/metrics").get_json())
    assert set(attribute_values(page, "data-model")) == models
    assert {"claude-3-opus", "custom-model"} <= models


def test_the_page_names_the_model_select_picks_now_and_why(client, traffic):
    chosen = client.get("/router/select").get_json()
    page = page_of(client)
    assert attribute_values(page, "data-selected-model") == [chosen["selected_model"]]
    assert chosen["reason"] in page and "7d window" in page


def test_an_empty_window_shows_the_cold_start_choice(client):
    page = page_of(client)
    assert attribute_values(page, "data-selected-model") == ["claude-3-opus"]
    assert "cold_start" in page


def test_components_come_from_the_statistics_metrics_uses(app, traffic):
    with app.app_context():
        scope = Scope.from_request(window="24h")
        data = dashboard(scope)
        metrics = metrics_summary(scope)
    w = data.weights.weights
    for row in data.models:
        assert row.metrics == metrics[row.name]
        if row.metrics["total_requests"] == 0:
            assert row.components is None
            continue
        c = row.components
        assert c.score == pytest.approx(row.metrics["score"])
        assert c.score == pytest.approx(
            c.cost_score * w.cost + c.quality_score * w.quality + c.latency_score * w.latency
        )
        assert c.quality_score == row.metrics["success_rate"]
    assert data.selection.selected_model == "gpt-3.5-turbo"


def test_the_chart_has_one_point_per_weight_history_row(app, client, traffic):
    assert client.put("/router/weights", json=WEIGHTS).status_code == 200
    assert client.post("/router/optimize").get_json()["status"] == "optimized"
    assert client.put("/router/weights", json=WEIGHTS).status_code == 200
    page = page_of(client)
    with app.app_context():
        rows = db.session.execute(sa.select(WeightHistory.id, WeightHistory.source)).all()
    ids, sources = attribute_values(page, "data-id"), attribute_values(page, "data-source")
    assert sorted(zip(map(int, ids), sources, strict=True)) == sorted(rows)
    assert [source for _, source in sorted(rows)] == ["default", "manual", "optimize", "manual"]


def test_the_window_parameter_scopes_the_page_like_metrics(client, clock, record):
    now = clock.current
    clock.current = now - timedelta(days=3)
    record("gpt-4", 1.0, 0.03)
    clock.current = now
    record("llama-2-70b", 0.5, 0.001)
    week = page_of(client, "?window=7d")
    day = page_of(client, "?window=24h")
    assert "Window <strong>24h</strong>" in day
    assert attribute_values(day, "data-selected-model") == ["llama-2-70b"]
    assert re.search(r'data-model="gpt-4"[^>]*class="[^"]*nodata', day)
    assert not re.search(r'data-model="gpt-4"[^>]*class="[^"]*nodata', week)


def test_an_unknown_window_is_refused_with_a_400(client):
    response = client.get("/dashboard?window=1y")
    assert response.status_code == 400
    assert "window" in response.get_json()["errors"]["query"]


def test_model_names_are_escaped(client, record):
    record("<b>bold</b>", 0.5, 0.01)
    page = page_of(client)
    assert "<b>bold</b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


def test_the_page_forbids_scripts_caching_and_referrers(client):
    response = client.get("/dashboard")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "<script" not in response.get_data(as_text=True)


def test_once_tokens_exist_the_page_needs_the_reader_permission(client, tokens):
    assert client.get("/dashboard").status_code == 401
    assert client.get("/dashboard?token=aurea_wrong").status_code == 401
    assert client.get(f"/dashboard?token={tokens['recorder']}").status_code == 403
    headers = {"Authorization": f"Bearer {tokens['reader']}"}
    assert client.get("/dashboard", headers=headers).status_code == 200
    assert client.get(f"/dashboard?token={tokens['reader']}").status_code == 200


def test_a_query_token_keeps_the_scope_form_working_and_is_accepted_nowhere_else(client, tokens):
    page = page_of(client, f"?token={tokens['reader']}&window=24h")
    assert f'name="token" value="{tokens["reader"]}"' in page
    assert 'name="token"' not in page_of(
        client, headers={"Authorization": f"Bearer {tokens['reader']}"}
    )
    assert client.get(f"/router/select?token={tokens['reader']}").status_code == 401
    assert client.get(f"/router/metrics?token={tokens['reader']}").status_code == 401


def test_a_query_token_is_never_logged(client, tokens, caplog):
    with caplog.at_level(logging.DEBUG):
        page_of(client, f"?token={tokens['reader']}")
    assert tokens["reader"] not in caplog.text
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "aurea"]
    assert (line["path"], line["actor"]) == ("/dashboard", "reader-token")


def test_the_dashboard_is_listed_and_documented(client):
    assert "GET /dashboard" in client.get("/").get_json()["endpoints"]
    operation = client.get("/openapi.json").get_json()["paths"]["/dashboard"]["get"]
    assert "text/html" in operation["responses"]["200"]["content"]
    assert {p["name"] for p in operation["parameters"]} >= {"window", "token"}
    assert operation["security"] == [{"bearerAuth": []}]
