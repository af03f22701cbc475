"""The seed README's endpoints, shapes and status codes, through the Flask test client."""

import pytest

SEED_MODELS = ["claude-3-opus", "claude-3-sonnet", "gpt-3.5-turbo", "gpt-4", "llama-2-70b"]
DEFAULT_WEIGHTS = {"cost_weight": 0.33, "quality_weight": 0.34, "latency_weight": 0.33}


def test_root_describes_service_and_endpoints(client):
    body = client.get("/").get_json()
    assert body["service"] == "Aurea Orchestrator"
    assert "GET /router/select" in body["endpoints"]


def test_weights_start_at_seed_defaults(client):
    assert client.get("/router/weights").get_json() == DEFAULT_WEIGHTS


@pytest.mark.weighted_objective
def test_metrics_lists_seed_models_with_nulls_before_any_data(client):
    body = client.get("/router/metrics").get_json()
    assert sorted(body) == SEED_MODELS
    assert body["gpt-4"] == {
        "total_requests": 0,
        "success_rate": None,
        "average_latency": None,
        "average_cost": None,
        "p50_latency": None,
        "p95_latency": None,
        "score": None,
        "last_updated": None,
        "enabled": True,
        "window": "7d",
    }


@pytest.mark.weighted_objective
def test_select_without_data_returns_a_registered_model_and_says_why(client):
    body = client.get("/router/select").get_json()
    assert body["selected_model"] == "claude-3-opus"
    assert body["score"] is None
    assert body["reason"] == "cold_start"  # no model has data: the least-tried, by name
    assert body["weights"] == DEFAULT_WEIGHTS


def test_record_acknowledges_with_status_and_model(client):
    response = client.post(
        "/router/record", json={"model": "gpt-4", "latency": 0.5, "cost": 0.02, "success": True}
    )
    assert response.status_code == 200
    assert response.get_json() == {"status": "recorded", "model": "gpt-4"}


@pytest.mark.weighted_objective
def test_seed_usage_example_selects_cheap_fast_model(client, record):
    record("gpt-4", 0.8, 0.03, True)
    record("gpt-3.5-turbo", 0.3, 0.002, True)
    body = client.get("/router/select").get_json()
    assert body["selected_model"] == "gpt-3.5-turbo"
    # cost, quality and latency scores are all 1.0 for gpt-3.5-turbo
    assert body["score"] == pytest.approx(1.0)
    assert body["reason"] == "highest_score"


def test_metrics_aggregates_recorded_requests(client, record):
    record("gpt-4", 0.5, 0.02, True)
    record("gpt-4", 1.0, 0.04, False)
    record("gpt-3.5-turbo", 0.3, 0.002, True)
    body = client.get("/router/metrics").get_json()
    gpt4 = body["gpt-4"]
    assert gpt4["total_requests"] == 2
    assert gpt4["success_rate"] == pytest.approx(0.5)
    assert gpt4["average_latency"] == pytest.approx(0.75)
    assert gpt4["average_cost"] == pytest.approx(0.03)
    # gpt-4 is the dearer, slower model: cost and latency scores 0, quality 0.5
    assert gpt4["score"] == pytest.approx(0.5 * 0.34)
    assert gpt4["last_updated"].endswith("+00:00")
    assert body["gpt-3.5-turbo"]["score"] == pytest.approx(1.0)
    assert body["llama-2-70b"]["total_requests"] == 0


def test_recording_unknown_model_registers_it(client, record):
    record("mistral-large", 0.4, 0.01, True)
    assert client.get("/router/metrics").get_json()["mistral-large"]["total_requests"] == 1


def test_put_weights_replaces_weights(client):
    new = {"cost_weight": 0.5, "quality_weight": 0.3, "latency_weight": 0.2}
    response = client.put("/router/weights", json=new)
    assert response.status_code == 200
    assert response.get_json() == new
    assert client.get("/router/weights").get_json() == new
    assert client.get("/router/select").get_json()["weights"] == new


def test_put_weights_not_summing_to_one_answers_400_and_changes_nothing(client):
    response = client.put(
        "/router/weights", json={"cost_weight": 0.5, "quality_weight": 0.3, "latency_weight": 0.3}
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == 400
    assert "sum to 1.0" in body["message"]
    assert client.get("/router/weights").get_json() == DEFAULT_WEIGHTS


def test_put_weights_accepts_sum_within_one_millionth(client):
    near = {"cost_weight": 0.3333333, "quality_weight": 0.3333333, "latency_weight": 0.3333334}
    assert client.put("/router/weights", json=near).status_code == 200


def test_optimize_reweights_by_variation(client, record):
    record("gpt-4", 1.0, 0.01, True)
    record("gpt-3.5-turbo", 1.0, 0.03, False)
    record("gpt-3.5-turbo", 1.0, 0.03, True)
    response = client.post("/router/optimize")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "optimized"
    # cv cost 0.5, quality (1.0 vs 0.5) 1/3, latency 0 -> 0.52 / 0.38 / 0.10
    assert body["weights"]["cost_weight"] == pytest.approx(0.52)
    assert body["weights"]["quality_weight"] == pytest.approx(0.38)
    assert body["weights"]["latency_weight"] == pytest.approx(0.1)
    assert body["previous_weights"] == DEFAULT_WEIGHTS
    assert body["metrics_summary"]["gpt-4"]["total_requests"] == 1
    assert client.get("/router/weights").get_json() == body["weights"]


def test_optimize_keeps_weights_with_one_model_and_says_why(client, record):
    record("gpt-4", 1.0, 0.01, True)
    body = client.post("/router/optimize").get_json()
    assert body["status"] == "unchanged"
    assert "fewer than two models" in body["reason"]
    assert body["weights"] == DEFAULT_WEIGHTS
    assert client.get("/router/weights").get_json() == DEFAULT_WEIGHTS


def history_total(client) -> int:
    return int(client.get("/router/weights/history").headers["X-Total-Count"])


def test_optimize_on_unchanged_data_answers_unchanged_and_adds_no_history_row(client, record):
    record("gpt-4", 1.0, 0.01, True)
    record("gpt-3.5-turbo", 1.0, 0.03, False)
    record("gpt-3.5-turbo", 1.0, 0.03, True)
    first = client.post("/router/optimize").get_json()
    assert first["status"] == "optimized"
    rows = history_total(client)
    for query in ("", "?dry_run=true"):
        again = client.post(f"/router/optimize{query}").get_json()
        assert again["status"] == "unchanged"
        assert "already match" in again["reason"]
        assert again["weights"] == again["previous_weights"] == first["weights"]
    assert history_total(client) == rows


def test_optimize_dry_run_proposes_without_changing(client, record):
    record("gpt-4", 1.0, 0.01, True)
    record("gpt-3.5-turbo", 2.0, 0.01, True)
    body = client.post("/router/optimize?dry_run=true").get_json()
    assert body["status"] == "proposed"
    assert body["weights"]["latency_weight"] == pytest.approx(0.8)
    assert client.get("/router/weights").get_json() == DEFAULT_WEIGHTS


@pytest.mark.weighted_objective
def test_select_uses_weights_to_rank(client, record):
    record("cheap-flaky", 1.0, 0.001, False)
    record("cheap-flaky", 1.0, 0.001, True)
    record("dear-solid", 1.0, 0.1, True)
    client.put(
        "/router/weights", json={"cost_weight": 0.1, "quality_weight": 0.8, "latency_weight": 0.1}
    )
    # cheap-flaky: 0.1*1 + 0.8*0.5 + 0.1*1 = 0.6; dear-solid: 0 + 0.8 + 0.1 = 0.9
    body = client.get("/router/select").get_json()
    assert body["selected_model"] == "dear-solid"
    assert body["score"] == pytest.approx(0.9)
