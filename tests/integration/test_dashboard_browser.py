"""/dashboard in real headless Chromium (Debian's), served by gunicorn, on both databases."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from aurea.client import AureaClient
from aurea.storage.extensions import db
from aurea.storage.models import WeightHistory
from scripts.screenshot_dashboard import (
    COOLING_MODEL,
    COOLING_TASK,
    DEMO_MODELS,
    DEMO_TASKS,
    DISABLED_MODEL,
    chromium_available,
    dashboard_url,
    open_dashboard,
    seed_demo_data,
)
from tests.support.server import gunicorn_server

pytestmark = [pytest.mark.slow, pytest.mark.weighted_objective]


@pytest.fixture(autouse=True)
def chromium():
    if chromium_available():
        return
    reason = "chromium is not installed (apt-get install -y chromium; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def test_the_dashboard_renders_every_model_and_one_chart_point_per_weight_change(
    live_aurea, tmp_path
):
    with AureaClient(live_aurea.base_url, token=live_aurea.tokens["admin"]) as admin:
        seed_demo_data(admin, per_model=10)  # traffic, 3 manual and 2 optimize changes
        registered = set(admin.metrics(window="24h"))
        selected = admin.select(window="24h")["selected_model"]
    with live_aurea.app.app_context():
        history = db.session.execute(sa.select(WeightHistory.id, WeightHistory.source)).all()
        db.session.remove()
    assert {source for _, source in history} == {"default", "manual", "optimize"}

    token = live_aurea.tokens["reader"]
    with open_dashboard(dashboard_url(live_aurea.base_url, token, window="24h")) as dash:
        page = dash.page
        assert dash.status == 200
        assert page.title() == "Aurea dashboard · 24h"
        rows = page.locator("tr[data-model]")
        assert {rows.nth(i).get_attribute("data-model") for i in range(rows.count())} == registered
        assert page.locator("[data-selected-model]").inner_text() == selected
        points = page.locator("svg.chart g.point")
        drawn = [
            (
                int(points.nth(i).get_attribute("data-id")),
                points.nth(i).get_attribute("data-source"),
            )
            for i in range(points.count())
        ]
        assert sorted(drawn) == sorted(history)
        assert page.locator("svg.chart g.point.source-optimize path.marker").count() == 2 * 3
        assert page.locator("svg.chart polyline.line").count() == 3
        check_trends_and_states(page)
        screenshot = dash.screenshot(tmp_path / "dashboard.png")
        assert dash.console_errors == []

    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000
    log = live_aurea.log_path.read_text()
    assert '"GET /dashboard HTTP/1.1" 200' in log  # the access log has the path...
    assert token not in log  # ...but never the query string that holds the token


CHARTS = ["requests", "success_rate", "p95_latency", "cost_per_hour"]


def check_trends_and_states(page) -> None:
    """The seeded 24 hours drawn as four charts, one line per model, and each model's chips."""
    charts = page.locator("svg.trend")
    assert [charts.nth(i).get_attribute("data-chart") for i in range(charts.count())] == CHARTS
    legend = page.locator("[data-legend-model]")
    assert sorted(legend.all_inner_texts()) == sorted(DEMO_MODELS)
    for chart in CHARTS:
        lines = page.locator(f'svg.trend[data-chart="{chart}"] path.series')
        assert lines.count() == len(DEMO_MODELS)
        assert len({lines.nth(i).get_attribute("stroke") for i in range(lines.count())}) == 5
        assert lines.first.bounding_box()["width"] > 100  # drawn across the chart, visibly
    requests = page.locator('svg.trend[data-chart="requests"] path.series[data-model="gpt-4"]')
    # the 24h window is 25 hours; the seed spread gpt-4's records over 24 of them
    assert requests.get_attribute("d").count(",") == 25
    chips = {
        model: page.locator(f'[data-model-state="{model}"] .chip').evaluate_all(
            "chips => chips.map(c => c.dataset.chip)"
        )
        for model in DEMO_MODELS
    }
    assert chips[DISABLED_MODEL] == ["disabled"]
    assert chips[COOLING_MODEL] == ["cooling_down", "active"]
    assert all(
        chips[m] == ["active"] for m in DEMO_MODELS if m not in (DISABLED_MODEL, COOLING_MODEL)
    )
    cooling = page.locator(f'[data-model-state="{COOLING_MODEL}"] .chip.cooling_down')
    assert cooling.inner_text() == f"cooling · {COOLING_TASK}" and cooling.is_visible()
    tasks = page.locator("table.tasks tr[data-task]")
    assert sorted(tasks.nth(i).get_attribute("data-task") for i in range(tasks.count())) == sorted(
        DEMO_TASKS
    )


def test_recent_decisions_are_those_of_the_worker_serving_the_page(live_aurea, tmp_path):
    """One worker: every select it answered is in its dashboard's table, newest first."""
    url = live_aurea.app.config["SQLALCHEMY_DATABASE_URI"]
    env = {"AUREA_CACHE_SECONDS": "0", "AUREA_OBJECTIVE": "weighted"}
    with gunicorn_server(url, workers=1, log_dir=tmp_path, env=env) as base_url:
        with AureaClient(base_url, token=live_aurea.tokens["reader"]) as reader:
            answers = [reader.select(window="24h", task=t) for t in ("code", None, "chat")]
        token = live_aurea.tokens["reader"]
        with open_dashboard(dashboard_url(base_url, token, window="24h", refresh="60")) as dash:
            page = dash.page
            assert dash.status == 200 and dash.console_errors == []
            rows = page.locator("table.decisions tr[data-decision-model]")
            assert rows.count() == 3
            shown = [rows.nth(i).get_attribute("data-decision-model") for i in range(3)]
            assert shown == [a["selected_model"] for a in reversed(answers)]
            assert rows.nth(2).locator("td").nth(3).inner_text() == "code"
            refresh = page.locator('meta[http-equiv="refresh"]')
            assert refresh.get_attribute("content") == "60"
