"""GET /dashboard through the Flask test client: content, scope, tokens and headers."""

from __future__ import annotations

import html
import json
import logging
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from aurea.app_context import service_context
from aurea.services.dashboard import dashboard
from aurea.services.metrics import metrics_summary
from aurea.services.scope import Scope
from aurea.storage.extensions import db
from aurea.storage.models import WeightHistory

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
        scope = Scope.from_request(service_context().config, window="24h")
        data = dashboard(service_context(), scope)
        metrics = metrics_summary(service_context(), scope)
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


# ------------------------------------------------------------ trends, states, tasks, decisions


def series_path(page: str, chart: str, model: str) -> str:
    svg = re.search(rf'<svg class="trend" data-chart="{chart}".*?</svg>', page, re.S).group(0)
    return html.unescape(re.search(rf'data-model="{re.escape(model)}" d="([^"]*)"', svg).group(1))


def coordinates(path: str) -> list[tuple[float, float]]:
    return [tuple(map(float, c.split(","))) for c in re.findall(r"[\d.]+,[\d.]+", path)]


def test_trends_have_a_point_per_hour_of_the_window_from_the_hourly_aggregates(
    app, client, clock, record
):
    now = clock.current  # 10:20: the 24h window runs from 10:00 yesterday, 25 hours
    clock.current = now - timedelta(hours=3)
    record("gpt-4", 1.0, 0.03, True)
    record("gpt-4", 1.0, 0.01, False)
    clock.current = now
    record("gpt-4", 2.0, 0.02, True)
    record("llama-2-70b", 0.5, 0.001, True, task="code")
    with app.app_context():
        data = dashboard(
            service_context(), Scope.from_request(service_context().config, window="24h")
        )
    assert data.trends.hours == 1 and len(data.trends.starts) == 25
    gpt4 = next(s for s in data.trends.series if s.model == "gpt-4")
    by_hour = {p.start.hour: p for p in gpt4.points if p.requests}
    assert sorted(by_hour) == [7, 10]
    assert (by_hour[7].requests, by_hour[7].success_rate) == (2, 0.5)
    assert by_hour[7].cost_per_hour == pytest.approx(0.04)
    assert by_hour[10].p95_latency == pytest.approx(2.0, rel=0.05)

    page = page_of(client, "?window=24h")
    charts = attribute_values(page, "data-chart")
    assert charts == ["requests", "success_rate", "p95_latency", "cost_per_hour"]
    assert attribute_values(page, "data-legend-model") == ["gpt-4", "llama-2-70b"]
    requests = coordinates(series_path(page, "requests", "gpt-4"))
    assert len(requests) == 25  # a count every hour, zeros included: no gaps
    # success rate: a value only in the two hours with requests, each its own dot
    assert series_path(page, "success_rate", "gpt-4").count("h0") == 2
    # the task narrows the charts to its rows
    code = page_of(client, "?window=24h&task=code")
    assert attribute_values(code, "data-legend-model") == ["llama-2-70b"]


def test_twelve_plus_models_get_distinct_colours_then_dashes(client, record):
    for i in range(14):
        record(f"model-{i:02d}", 0.5, 0.01)
    page = page_of(client)
    strokes = re.findall(
        r'<path class="series" data-model="([^"]+)" d="[^"]*" stroke="([^"]+)"'
        r'(?: stroke-dasharray="([^"]+)")?',
        page.split('data-chart="success_rate"')[0],
    )
    assert len(strokes) == 14
    assert len({colour for _, colour, _ in strokes[:12]}) == 12
    assert [dash for _, _, dash in strokes[:12]] == [""] * 12
    assert strokes[12][1] == strokes[0][1] and strokes[12][2]


def chips(page: str, model: str) -> list[str]:
    match = re.search(rf'data-model-state="{re.escape(model)}">(.*?)</span>\s*\n', page)
    return re.findall(r'data-chip="([^"]+)"', match.group(1))


def test_state_chips_show_disabled_cooling_per_task_new_and_active(client, record):
    for _ in range(12):
        record("gpt-4", 1.0, 0.03)
    for _ in range(5):
        record("llama-2-70b", 0.5, 0.001, success=False, task="code")
    record("llama-2-70b", 0.5, 0.001, task="chat")  # so "code" is not every task it served
    assert client.patch("/router/models/claude-3-opus", json={"enabled": False}).status_code == 200
    page = page_of(client)
    assert chips(page, "claude-3-opus") == ["disabled"]
    assert chips(page, "gpt-4") == ["active"]
    assert chips(page, "llama-2-70b") == ["cooling_down", "new", "active"]  # serves other tasks
    assert "cooling · code" in page
    assert chips(page, "gpt-3.5-turbo") == ["new", "active"]  # no rows yet
    for_code = page_of(client, "?task=code")
    assert chips(for_code, "llama-2-70b") == ["cooling_down", "new"]  # not for "code"
    # cooling on every task it served: cooling everywhere, so not active even without a task
    for _ in range(5):
        record("llama-2-70b", 0.5, 0.001, success=False, task="chat")
    assert chips(page_of(client), "llama-2-70b") == ["cooling_down", "cooling_down"]  # 11 rows


def test_the_task_table_has_each_tasks_rows_success_p95_cost_and_choice(client, record):
    record("gpt-4", 1.0, 0.03, True, task="code")
    record("gpt-4", 1.0, 0.03, False, task="code")
    record("llama-2-70b", 0.5, 0.001, True, task="code")
    record("gpt-3.5-turbo", 0.2, 0.002, True, task="chat")
    record("gpt-3.5-turbo", 0.4, 0.004, True)
    page = page_of(client)
    table = re.search(r'<table class="tasks">.*?</table>', page, re.S).group(0)
    rows = {
        html.unescape(task): re.sub(r"<[^>]+>", "|", body)
        for task, body in re.findall(r'<tr data-task="([^"]*)"[^>]*>(.*?)</tr>', table, re.S)
    }
    assert list(rows) == ["code", "", "chat"]  # busiest first, then by name
    cells = {t: [c.strip() for c in r.split("|") if c.strip()] for t, r in rows.items()}
    assert cells["code"][:5] == [
        "code",
        "3",
        "66.7 %",
        "1.00 s",
        "$0.0610",
    ]  # p95 of 1.0, 1.0 and 0.5 s
    assert cells[""][0] == "(no task)" and cells["chat"][1] == "1"
    # the choice is select's for the task
    for task in ("code", "chat"):
        chosen = client.get(f"/router/select?task={task}").get_json()["selected_model"]
        assert f'data-chosen-model="{chosen}"' in rows_html(table, task)
    untasked = client.get("/router/select").get_json()["selected_model"]
    assert f'data-chosen-model="{untasked}"' in rows_html(table, "")


def rows_html(table: str, task: str) -> str:
    return re.search(rf'<tr data-task="{re.escape(task)}".*?</tr>', table, re.S).group(0)


def test_recent_decisions_list_select_answers_newest_first_with_their_reasons(client, record):
    assert "No select decisions yet" in page_of(client)
    client.get("/router/select")  # cold start
    record("gpt-4", 1.0, 0.03)
    client.get("/router/select?task=code&exclude=llama-2-70b&window=24h")
    page = page_of(client)
    models = attribute_values(page, "data-decision-model")
    reasons = attribute_values(page, "data-reason")
    assert models == ["gpt-4", "claude-3-opus"][: len(models)] and len(models) == 2
    assert reasons[1] == "cold_start"
    table = re.search(r'<table class="decisions">.*?</table>', page, re.S).group(0)
    newest = re.search(r"<tr data-decision-model.*?</tr>", table, re.S).group(0)
    assert "code" in newest and "24h" in newest and "llama-2-70b: excluded" in newest


def test_the_decision_log_is_bounded(app, client):
    from aurea.services.decisions import RECENT_DECISIONS

    for _ in range(RECENT_DECISIONS + 5):
        assert client.get("/router/select").status_code == 200
    with app.app_context():
        assert len(service_context().decisions) == RECENT_DECISIONS
    assert len(attribute_values(page_of(client), "data-decision-model")) == RECENT_DECISIONS


def test_refresh_adds_a_meta_refresh_only_when_asked(client):
    assert 'http-equiv="refresh"' not in page_of(client)
    page = page_of(client, "?refresh=30")
    assert '<meta http-equiv="refresh" content="30">' in page
    assert '<option value="30" selected>' in page


def test_the_pages_own_form_with_nothing_chosen_is_accepted(client):
    page = page_of(client, "?window=24h&task=&refresh=")
    assert 'http-equiv="refresh"' not in page and "Window <strong>24h</strong>" in page


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("window=1y", "window"),
        ("window=", "window"),
        ("task=%20code", "task"),
        ("refresh=abc", "refresh"),
        ("refresh=2", "refresh"),
        ("refresh=86401", "refresh"),
        ("refresh=1.5", "refresh"),
        ("min_requests=0", "min_requests"),
        ("colour=blue", "colour"),
    ],
)
def test_bad_parameters_are_a_400_in_json_or_html(client, query, parameter):
    response = client.get(f"/dashboard?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == 400 and body["message"] == "Invalid dashboard parameters."
    assert parameter in body["errors"]["query"]

    browser = client.get(f"/dashboard?{query}", headers={"Accept": "text/html,*/*;q=0.8"})
    assert browser.status_code == 400
    assert browser.content_type == "text/html; charset=utf-8"
    page = browser.get_data(as_text=True)
    assert f'data-parameter="{parameter}"' in page and "400" in page
    assert browser.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in browser.headers["Content-Security-Policy"]


def test_a_bad_parameter_page_keeps_the_token_in_its_link(client, tokens):
    response = client.get(
        f"/dashboard?refresh=no&token={tokens['reader']}", headers={"Accept": "text/html"}
    )
    assert response.status_code == 400
    assert f'href="?token={tokens["reader"]}"' in response.get_data(as_text=True)
