"""GET /router/select with constraints and explanations; cold start; exploration; cooldown."""

import pytest

from tests.conftest import make_app

# These tests state the seed's weighted mode (AUREA_OBJECTIVE=weighted).
pytestmark = pytest.mark.weighted_objective


def select(client, query=""):
    return client.get(f"/router/select{query}")


def ok(response):
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def fleet(record):
    """cheap: $0.001, 0.5 s, 50 %; mid: $0.01, 1 s, 100 %; dear: $0.05, 3 s, 100 %."""
    for success in (True, False):
        record("cheap", 0.5, 0.001, success)
    record("mid", 1.0, 0.01, True)
    record("mid", 1.0, 0.01, True)
    record("dear", 3.0, 0.05, True)
    record("dear", 3.0, 0.05, True)


def test_select_explains_its_choice_with_a_ranking(client, fleet):
    body = ok(select(client, "?models=cheap,mid,dear"))
    assert body["selected_model"] == "mid"
    assert [e["model"] for e in body["ranking"]] == ["mid", "cheap", "dear"]
    mid = body["ranking"][0]
    # mid: cost (0.05-0.01)/0.049 -> 1 - 0.009/0.049, latency 1 - 0.5/2.5, quality 1
    assert mid["cost_score"] == pytest.approx(1 - 0.009 / 0.049)
    assert mid["latency_score"] == pytest.approx(0.8)
    assert mid["quality_score"] == 1.0
    assert mid["score"] == pytest.approx(0.33 * (1 - 0.009 / 0.049) + 0.34 + 0.33 * 0.8)
    assert mid["total_requests"] == 2 and mid["excluded_by"] is None
    assert mid["p95_latency"] == pytest.approx(1.0, rel=0.05)
    assert body["reason"] == "highest_score" and body["explored"] is False
    assert body["window"] == "7d"
    history = ok(client.get("/router/weights/history"))
    assert body["weights_version"] == history[0]["id"]


def test_candidates_and_exclusions_limit_the_choice(client, fleet):
    assert ok(select(client, "?models=cheap,dear"))["selected_model"] == "cheap"
    body = ok(select(client, "?exclude=mid"))
    assert body["selected_model"] != "mid"
    assert {e["model"]: e["excluded_by"] for e in body["ranking"]}["mid"] == "excluded"


@pytest.mark.parametrize(
    "query, winner, excluded",
    [
        # without dear, cheap's full cost and latency scores beat mid: 0.83 against 0.34
        ("max_cost=0.02", "cheap", {"dear": "max_cost"}),
        ("max_latency=2", "cheap", {"dear": "max_latency"}),
        ("min_success_rate=0.9", "mid", {"cheap": "min_success_rate"}),
        ("max_cost=0.005", "cheap", {"mid": "max_cost", "dear": "max_cost"}),
    ],
)
def test_hard_limits_exclude_models_before_scoring(client, fleet, query, winner, excluded):
    body = ok(select(client, f"?models=cheap,mid,dear&{query}"))
    assert body["selected_model"] == winner
    reasons = {e["model"]: e["excluded_by"] for e in body["ranking"]}
    assert {m: r for m, r in reasons.items() if r} == excluded


def test_no_qualifying_model_answers_422_naming_each_candidate(client, fleet):
    response = select(client, "?models=cheap,mid,dear,ghost&max_cost=0.0001")
    assert response.status_code == 422
    body = response.get_json()
    assert body["errors"]["candidates"] == {
        "cheap": "max_cost",
        "mid": "max_cost",
        "dear": "max_cost",
        "ghost": "not_registered",
    }


def test_weight_overrides_apply_to_one_request_only(client, fleet):
    body = ok(
        select(
            client, "?models=cheap,mid,dear&cost_weight=0.9&quality_weight=0.05&latency_weight=0.05"
        )
    )
    assert body["selected_model"] == "cheap"
    assert body["weights_override"] is True
    assert body["weights"] == {"cost_weight": 0.9, "quality_weight": 0.05, "latency_weight": 0.05}
    assert ok(select(client, "?models=cheap,mid,dear"))["selected_model"] == "mid"


@pytest.mark.parametrize(
    "query",
    [
        "?cost_weight=0.5&quality_weight=0.5",
        "?max_cost=-1",
        "?max_latency=nan",
        "?min_success_rate=1.5",
        "?models=",
    ],
)
def test_invalid_constraints_answer_422(client, query):
    assert select(client, query).status_code == 422


def test_weight_overrides_not_summing_to_one_answer_400_as_put_weights_does(client):
    response = select(client, "?cost_weight=0.5&quality_weight=0.3&latency_weight=0.3")
    assert response.status_code == 400
    body = response.get_json()
    assert body["message"] == "Weights must sum to 1.0 (got 1.1)."
    assert "_schema" in body["errors"]["query"]
    put = client.put(
        "/router/weights", json={"cost_weight": 0.5, "quality_weight": 0.3, "latency_weight": 0.3}
    )
    assert (put.status_code, put.get_json()["message"]) == (400, body["message"])


def test_weight_overrides_within_one_millionth_are_accepted(client, fleet):
    query = "?cost_weight=0.3333333&quality_weight=0.3333333&latency_weight=0.3333334"
    assert select(client, query).status_code == 200


def test_min_requests_keeps_thin_data_from_competing(client, fleet, record):
    record("newcomer", 0.1, 0.0001, True)  # would win on score with one lucky request
    assert ok(select(client))["selected_model"] == "newcomer"
    body = ok(select(client, "?min_requests=2"))
    assert body["selected_model"] == "mid"
    assert {e["model"]: e["excluded_by"] for e in body["ranking"]}["newcomer"] == "min_requests"


def test_cold_start_picks_the_least_tried_enabled_model(client, record):
    record("gpt-4", 1.0, 0.01, True)
    body = ok(select(client, "?min_requests=3"))
    # every seed model but gpt-4 has 0 requests; the first by name is chosen
    assert (body["selected_model"], body["reason"], body["score"]) == (
        "claude-3-opus",
        "cold_start",
        None,
    )


def test_listed_models_short_of_data_are_warmed_up_first(client, record):
    for _ in range(3):
        record("gpt-4", 1.0, 0.01, True)
    record("claude-3-sonnet", 1.0, 0.01, True)
    body = ok(select(client, "?models=gpt-4,claude-3-sonnet,llama-2-70b&min_requests=3"))
    # llama-2-70b has 0 requests, claude-3-sonnet 1: the least-tried listed model goes first
    assert (body["selected_model"], body["reason"]) == ("llama-2-70b", "cold_start")
    for _ in range(3):
        record("llama-2-70b", 1.0, 0.01, True)
    body = ok(select(client, "?models=gpt-4,claude-3-sonnet,llama-2-70b&min_requests=3"))
    assert (body["selected_model"], body["reason"]) == ("claude-3-sonnet", "cold_start")


def test_without_a_models_list_the_default_warmup_leaves_the_registry_alone(client, record):
    record("gpt-4", 1.0, 0.01, True)
    # four other seed models are registered but untried: nobody said they can be called
    body = ok(select(client))
    assert (body["selected_model"], body["reason"]) == ("gpt-4", "highest_score")


@pytest.mark.parametrize(
    "mode, query, expected",
    [
        ("all", "", ("claude-3-opus", "cold_start")),
        ("off", "?models=gpt-4,llama-2-70b", ("gpt-4", "highest_score")),
    ],
)
def test_warmup_setting_widens_or_turns_off_the_warmup(database_url, app, mode, query, expected):
    client = make_app(database_url, AUREA_WARMUP=mode).test_client()
    client.post(
        "/router/record", json={"model": "gpt-4", "latency": 1, "cost": 0.01, "success": True}
    )
    body = ok(select(client, query))
    assert (body["selected_model"], body["reason"]) == expected


def test_model_registry_lists_creates_and_disables(client, record):
    created = client.post("/router/models", json={"name": "mistral-large", "description": "EU"})
    assert created.status_code == 201
    assert created.get_json()["state"] == "active"
    assert client.post("/router/models", json={"name": "mistral-large"}).status_code == 409
    names = [m["name"] for m in ok(client.get("/router/models"))]
    assert "mistral-large" in names and "gpt-4" in names

    record("mistral-large", 0.1, 0.0001, True)
    record("gpt-4", 1.0, 0.03, True)
    assert ok(select(client))["selected_model"] == "mistral-large"
    patched = client.patch("/router/models/mistral-large", json={"enabled": False})
    assert patched.get_json()["state"] == "disabled"
    body = ok(select(client))
    assert body["selected_model"] == "gpt-4"
    metrics = ok(client.get("/router/metrics"))
    assert metrics["mistral-large"]["enabled"] is False
    assert metrics["mistral-large"]["total_requests"] == 1  # history kept
    client.patch("/router/models/mistral-large", json={"enabled": True})
    assert ok(select(client))["selected_model"] == "mistral-large"


@pytest.mark.parametrize(
    "method, path, body, status",
    [
        ("PATCH", "/router/models/nope", {"enabled": False}, 404),
        ("PATCH", "/router/models/gpt-4", {}, 200),  # nothing to change: answers the model
        ("PATCH", "/router/models/gpt-4", {"enabled": "no"}, 422),
        ("POST", "/router/models", {"name": ""}, 422),
        ("POST", "/router/models", {"description": "x"}, 422),
    ],
)
def test_registry_answers_bad_requests_with_4xx(client, method, path, body, status):
    assert client.open(path, method=method, json=body).status_code == status


def test_strict_mode_refuses_records_for_unregistered_models(database_url, app):
    strict = make_app(database_url, AUREA_STRICT_MODELS=True)
    client = strict.test_client()
    body = {"model": "unknown-x", "latency": 1, "cost": 0, "success": True}
    response = client.post("/router/record", json=body)
    assert response.status_code == 422
    assert "model" in response.get_json()["errors"]["json"]
    batch = client.post("/router/records", json={"records": [dict(body, model="gpt-4"), body]})
    assert batch.status_code == 422
    assert list(batch.get_json()["errors"]["json"]["records"]) == ["1"]
    assert client.post("/router/record", json=dict(body, model="gpt-4")).status_code == 200
    assert ok(client.get("/router/metrics"))["gpt-4"]["total_requests"] == 1


def test_exploration_sends_its_share_to_sampled_models(database_url, app, record):
    explorer = make_app(database_url, AUREA_EXPLORATION=1.0, AUREA_RANDOM_SEED=7)
    client = explorer.test_client()
    for _ in range(3):
        client.post(
            "/router/record", json={"model": "gpt-4", "latency": 1, "cost": 0.01, "success": True}
        )
    bodies = [ok(select(client)) for _ in range(60)]
    assert all(b["explored"] and b["reason"] == "exploration" for b in bodies)
    assert len({b["selected_model"] for b in bodies}) > 1  # untried models get tried


def test_a_failing_model_cools_down_then_gets_a_trial(client, clock, record):
    record("steady", 1.0, 0.02, True)
    for _ in range(5):
        record("flaky", 0.5, 0.001, False)
    models = {m["name"]: m for m in ok(client.get("/router/models"))}
    assert models["flaky"]["state"] == "cooling_down"
    # AUREA_COOLDOWN_SECONDS (30 minutes by default) from the end of the minute that tripped
    assert models["flaky"]["cooldown_until"].startswith("2026-06-15T10:51:00")
    assert models["flaky"]["cooling_tasks"] == {"": models["flaky"]["cooldown_until"]}
    body = ok(select(client, "?models=flaky,steady"))
    assert body["selected_model"] == "steady"
    assert {e["model"]: e["excluded_by"] for e in body["ranking"]}["flaky"] == "cooling_down"

    clock.advance(minutes=31)
    assert {m["name"]: m["state"] for m in ok(client.get("/router/models"))}["flaky"] == "active"
    # The trial counts only requests after the cooldown: one more failure does not trip it.
    record("flaky", 0.5, 0.001, False)
    assert {m["name"]: m["state"] for m in ok(client.get("/router/models"))}["flaky"] == "active"


def test_a_model_back_from_cooldown_is_judged_only_on_requests_after_it(app, client, clock, record):
    # A lookback long enough to reach back over the whole cooldown.
    app.config["AUREA_COOLDOWN_LOOKBACK_SECONDS"] = 4 * 3600

    def state():
        return {m["name"]: m["state"] for m in ok(client.get("/router/models"))}["flaky"]

    for _ in range(5):
        record("flaky", 0.5, 0.001, False)
    assert state() == "cooling_down"
    clock.advance(minutes=31)
    for _ in range(4):  # 9 failures in the lookback, but only 4 since the cooldown ended
        record("flaky", 0.5, 0.001, False)
    assert state() == "active"
    record("flaky", 0.5, 0.001, False)  # the fifth since: AUREA_COOLDOWN_MIN_REQUESTS
    assert state() == "cooling_down"


def test_every_failing_model_of_one_batch_is_judged(client):
    failures = [
        {"model": m, "latency": 0.5, "cost": 0.001, "success": False}
        for m in ("flaky-a", "flaky-b")
        for _ in range(5)
    ]
    assert client.post("/router/records", json={"records": failures}).status_code == 200
    states = {m["name"]: m["state"] for m in ok(client.get("/router/models"))}
    assert (states["flaky-a"], states["flaky-b"]) == ("cooling_down", "cooling_down")


def test_few_failures_below_the_minimum_do_not_trip_the_cooldown(client, record):
    for _ in range(4):
        record("flaky", 0.5, 0.001, False)
    assert {m["name"]: m["state"] for m in ok(client.get("/router/models"))}["flaky"] == "active"


def test_weight_history_is_newest_first_and_paginated(client):
    for cost in (0.5, 0.6, 0.7):
        client.put(
            "/router/weights",
            json={"cost_weight": cost, "quality_weight": 0.2, "latency_weight": 0.8 - cost},
        )
    response = client.get("/router/weights/history?page=1&page_size=2")
    page = ok(response)
    assert [e["cost_weight"] for e in page] == [0.7, 0.6]
    assert page[0]["source"] == "manual" and "created_at" in page[0] and "actor" in page[0]
    assert response.headers["X-Total-Count"] == "4"
    second = ok(client.get("/router/weights/history?page=2&page_size=2"))
    assert [e["source"] for e in second] == ["manual", "default"]


def test_rollback_restores_old_weights_with_a_new_row(client):
    default_id = ok(client.get("/router/weights/history"))[0]["id"]
    client.put(
        "/router/weights", json={"cost_weight": 0.6, "quality_weight": 0.2, "latency_weight": 0.2}
    )
    response = client.post("/router/weights/rollback", json={"id": default_id})
    restored = ok(response)
    assert restored["source"] == "rollback" and restored["id"] > default_id
    assert ok(client.get("/router/weights")) == {
        "cost_weight": 0.33,
        "quality_weight": 0.34,
        "latency_weight": 0.33,
    }
    assert [e["source"] for e in ok(client.get("/router/weights/history"))] == [
        "rollback",
        "manual",
        "default",
    ]
    assert client.post("/router/weights/rollback", json={"id": 999}).status_code == 404
    assert client.post("/router/weights/rollback", json={"id": "1"}).status_code == 422


def test_optimize_moves_no_weight_further_than_max_step(database_url, app):
    limited = make_app(database_url, AUREA_MAX_WEIGHT_STEP=0.05)
    client = limited.test_client()
    for model, cost in (("a", 0.01), ("b", 0.03)):
        client.post(
            "/router/record", json={"model": model, "latency": 1, "cost": cost, "success": True}
        )
    body = ok(client.post("/router/optimize"))
    # unlimited: cost 0.8, quality 0.1, latency 0.1; the largest move (0.47) scaled to 0.05
    moved = [abs(body["weights"][k] - body["previous_weights"][k]) for k in body["weights"]]
    assert max(moved) == pytest.approx(0.05)
    assert sum(body["weights"].values()) == pytest.approx(1.0)
