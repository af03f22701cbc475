"""/dashboard in real headless Chromium (Debian's), served by gunicorn, on both databases."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from aurea.client import AureaClient
from aurea.extensions import db
from aurea.models import WeightHistory
from scripts.screenshot_dashboard import (
    chromium_available,
    dashboard_url,
    open_dashboard,
    seed_demo_data,
)

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
        screenshot = dash.screenshot(tmp_path / "dashboard.png")
        assert dash.console_errors == []

    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000
    log = live_aurea.log_path.read_text()
    assert '"GET /dashboard HTTP/1.1" 200' in log  # the access log has the path...
    assert token not in log  # ...but never the query string that holds the token
