"""Windows of recent data, latency percentiles and per-task scores, through the API."""

import random
from datetime import timedelta

import pytest

from aurea.domain.histogram import ABSOLUTE_ERROR_BELOW_BASE, RELATIVE_ERROR, exact_percentile

# These tests state the seed's weighted mode (AUREA_OBJECTIVE=weighted).
pytestmark = pytest.mark.weighted_objective


@pytest.fixture
def at(clock, record):
    """Record a request ``ago`` before the frozen now (10:20 UTC)."""
    now = clock.current

    def _at(ago: timedelta, model: str, latency=1.0, cost=0.01, success=True, task=None):
        clock.current = now - ago
        record(model, latency, cost, success, task=task)
        clock.current = now

    return _at


def metrics(client, query=""):
    response = client.get(f"/router/metrics{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_default_window_is_seven_days_and_named_in_responses(client, at):
    at(timedelta(days=8), "gpt-4")
    at(timedelta(days=2), "gpt-4")
    body = metrics(client)
    assert body["gpt-4"]["total_requests"] == 1
    assert body["gpt-4"]["window"] == "7d"
    assert client.get("/router/select").get_json()["window"] == "7d"
    assert client.post("/router/optimize?dry_run=true").get_json()["window"] == "7d"


@pytest.mark.parametrize(
    "window, expected", [("1h", 2), ("24h", 3), ("7d", 4), ("30d", 5), ("all", 6)]
)
def test_window_includes_whole_hours_back_from_now_minus_its_length(client, at, window, expected):
    # now is 10:20; "1h" starts at 09:00, the start of the hour holding 09:20.
    at(timedelta(minutes=5), "gpt-4")  # 10:15
    at(timedelta(minutes=75), "gpt-4")  # 09:05, in the 1h window
    at(timedelta(minutes=81), "gpt-4")  # 08:59, outside it
    at(timedelta(days=3), "gpt-4")
    at(timedelta(days=20), "gpt-4")
    at(timedelta(days=100), "gpt-4")
    assert metrics(client, f"?window={window}")["gpt-4"]["total_requests"] == expected


def test_select_scores_within_the_window(client, at):
    # Long ago gpt-4 was cheap; this week it is dear.
    for _ in range(9):  # all-time average (9 * 0.001 + 0.05) / 10 = 0.0059 < 0.01
        at(timedelta(days=20), "gpt-4", cost=0.001)
    at(timedelta(days=20), "claude-3-opus", cost=0.01)
    at(timedelta(hours=2), "gpt-4", cost=0.05)
    at(timedelta(hours=2), "claude-3-opus", cost=0.01)
    assert client.get("/router/select?window=all").get_json()["selected_model"] == "gpt-4"
    assert client.get("/router/select?window=7d").get_json()["selected_model"] == "claude-3-opus"


@pytest.mark.parametrize("path", ["/router/select", "/router/metrics"])
@pytest.mark.parametrize("value", ["2h", "7", "", "ALL", "7d "])
def test_unknown_window_is_refused_with_422(client, path, value):
    response = client.get(f"{path}?window={value}")
    assert response.status_code == 422
    assert "window" in response.get_json()["errors"]["query"]


def test_optimize_rejects_unknown_window(client):
    response = client.post("/router/optimize?window=1y")
    assert response.status_code == 422


def test_percentiles_are_within_documented_bound_of_exact_values(client, clock, record):
    rng = random.Random(3)
    latencies = [rng.lognormvariate(-1.0, 1.2) for _ in range(400)] + [0.0004, 0.0]
    for latency in latencies:
        record("gpt-4", latency, 0.01, True)
    body = metrics(client)["gpt-4"]
    for field, q in (("p50_latency", 0.5), ("p95_latency", 0.95)):
        exact = exact_percentile(latencies, q)
        bound = max(RELATIVE_ERROR * exact, ABSOLUTE_ERROR_BELOW_BASE)
        assert abs(body[field] - exact) <= bound, (field, body[field], exact)


def test_percentiles_follow_the_window(client, at):
    at(timedelta(days=10), "gpt-4", latency=10.0)
    at(timedelta(hours=1), "gpt-4", latency=0.1)
    assert metrics(client)["gpt-4"]["p95_latency"] == pytest.approx(0.1, rel=RELATIVE_ERROR)
    assert metrics(client, "?window=all")["gpt-4"]["p95_latency"] == pytest.approx(
        10.0, rel=RELATIVE_ERROR
    )


def test_select_for_a_task_scores_on_that_tasks_data(client, record):
    # gpt-4 fails summaries, claude fails code; overall they are even.
    record("gpt-4", 1.0, 0.01, True, task="code")
    record("gpt-4", 1.0, 0.01, False, task="summarize")
    record("claude-3-opus", 1.0, 0.01, False, task="code")
    record("claude-3-opus", 1.0, 0.01, True, task="summarize")
    code = client.get("/router/select?task=code").get_json()
    assert (code["selected_model"], code["task"], code["task_fallback"]) == ("gpt-4", "code", [])
    assert code["score"] == pytest.approx(1.0)
    summarize = client.get("/router/select?task=summarize").get_json()
    assert summarize["selected_model"] == "claude-3-opus"
    overall = client.get("/router/select").get_json()
    assert overall["score"] == pytest.approx(0.33 + 0.5 * 0.34 + 0.33)
    assert overall["task"] is None


def test_model_without_task_rows_falls_back_to_global_stats_and_says_so(client, record):
    record("gpt-4", 1.0, 0.01, True, task="code")
    record("gpt-4", 1.0, 0.01, True, task="code")
    record("claude-3-opus", 2.0, 0.01, False, task="summarize")
    record("claude-3-opus", 2.0, 0.01, True, task="summarize")
    body = metrics(client, "?task=code")
    assert body["gpt-4"]["task_fallback"] is False
    assert body["gpt-4"]["task"] == "code"
    assert body["claude-3-opus"]["task_fallback"] is True
    assert body["claude-3-opus"]["total_requests"] == 2  # its global rows
    assert body["claude-3-opus"]["success_rate"] == pytest.approx(0.5)
    select = client.get("/router/select?task=code").get_json()
    assert select["task_fallback"] == ["claude-3-opus"]


def test_min_requests_decides_when_task_stats_count(client, record):
    record("gpt-4", 1.0, 0.01, False, task="code")
    record("gpt-4", 1.0, 0.01, True)
    record("gpt-4", 1.0, 0.01, True)
    few = metrics(client, "?task=code&min_requests=2")["gpt-4"]
    assert (few["task_fallback"], few["total_requests"]) == (True, 3)
    enough = metrics(client, "?task=code&min_requests=1")["gpt-4"]
    assert (enough["task_fallback"], enough["total_requests"], enough["success_rate"]) == (
        False,
        1,
        0.0,
    )


@pytest.mark.parametrize(
    "query", ["?task=", "?task=" + "t" * 65, "?min_requests=0", "?min_requests=x", "?bogus=1"]
)
def test_invalid_scope_parameters_are_refused_with_422(client, query):
    assert client.get(f"/router/select{query}").status_code == 422


def test_record_rejects_invalid_task(client):
    response = client.post(
        "/router/record",
        json={"model": "gpt-4", "latency": 1, "cost": 0, "success": True, "task": "a\tb"},
    )
    assert response.status_code == 422
    assert "task" in response.get_json()["errors"]["json"]
