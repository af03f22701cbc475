"""The default utility mode: expected utility in USD, its parts, objectives, per-task cooldowns."""

import pytest

from tests.conftest import make_app

DETERMINISTIC = {"AUREA_EXPLORATION": 0.0, "AUREA_RECHECK_RATE": 0.0, "AUREA_RANDOM_SEED": 1}


@pytest.fixture
def client(database_url):
    from flask_migrate import upgrade

    from config import MIGRATIONS_DIR

    app = make_app(database_url, **DETERMINISTIC)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    return app.test_client()


def post(client, model, latency, cost, success, task=None, times=1):
    body = {"model": model, "latency": latency, "cost": cost, "success": success}
    if task is not None:
        body["task"] = task
    records = [body] * times
    response = client.post("/router/records", json={"records": records})
    assert response.status_code == 200, response.get_json()


def select(client, query=""):
    response = client.get("/router/select" + query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_seed_example_in_utility_mode_reports_expected_utility_with_its_parts(client):
    post(client, "gpt-4", 0.8, 0.03, True)
    post(client, "gpt-3.5-turbo", 0.3, 0.002, True)
    body = select(client)
    assert (body["selected_model"], body["reason"]) == ("gpt-3.5-turbo", "highest_expected_utility")
    # One success on Beta(1, 1): P(success) = 2/3; 0.10 x 2/3 - 0.002 - 0.005 x 0.3
    parts = body["expected_utility"]
    assert parts["p_success"] == pytest.approx(2 / 3)
    assert parts["value"] == pytest.approx(0.1 * 2 / 3)
    assert parts["latency_cost"] == pytest.approx(0.0015)
    assert body["score"] == pytest.approx(0.1 * 2 / 3 - 0.002 - 0.0015)
    assert body["objective"] == {
        "mode": "utility",
        "success_value": 0.1,
        "latency_cost": 0.005,
        "max_price": None,
    }
    ranking = {e["model"]: e for e in body["ranking"]}
    assert ranking["gpt-4"]["score"] == pytest.approx(0.1 * 2 / 3 - 0.03 - 0.004)
    assert ranking["claude-3-opus"]["tried"] is False
    assert set(body) >= {"selected_model", "score", "weights", "reason"}  # the seed's shape


def test_untried_models_are_not_chosen_while_a_tried_good_one_exists(client):
    post(client, "gpt-3.5-turbo", 0.3, 0.002, False, times=3)
    post(client, "gpt-3.5-turbo", 0.3, 0.002, True, times=1)
    body = select(client, "?task=code")
    assert body["selected_model"] == "gpt-3.5-turbo"
    assert body["reason"] == "highest_expected_utility"


def test_request_objective_changes_the_choice(client):
    post(client, "reliable", 1.0, 0.02, True, times=20)
    post(client, "cheap", 0.5, 0.001, True, times=14)
    post(client, "cheap", 0.5, 0.001, False, times=6)
    query = "?models=reliable,cheap"
    assert select(client, query + "&success_value=0.01")["selected_model"] == "cheap"
    assert select(client, query + "&success_value=1")["selected_model"] == "reliable"
    capped = select(client, query + "&success_value=1&max_price=0.01")
    assert capped["selected_model"] == "cheap"
    excluded = {e["model"]: e["excluded_by"] for e in capped["ranking"]}
    assert excluded["reliable"] == "max_price"


def test_weighted_mode_on_request_keeps_the_seed_score(client):
    post(client, "gpt-4", 0.8, 0.03, True)
    post(client, "gpt-3.5-turbo", 0.3, 0.002, True)
    body = select(client, "?objective=weighted")
    assert (body["selected_model"], body["reason"]) == ("gpt-3.5-turbo", "highest_score")
    assert body["score"] == pytest.approx(1.0)
    assert body["objective"]["mode"] == "weighted"


def test_bad_objective_parameters_get_per_field_errors(client):
    response = client.get("/router/select?success_value=-1&objective=best")
    assert response.status_code == 422
    errors = response.get_json()["errors"]["query"]
    assert set(errors) == {"success_value", "objective"}


def test_task_objectives_from_settings_apply_to_their_task(database_url):
    from flask_migrate import upgrade

    from config import MIGRATIONS_DIR

    app = make_app(
        database_url,
        AUREA_SUCCESS_VALUE=0.01,
        AUREA_TASK_OBJECTIVES='{"legal": {"success_value": 5.0}}',
        **DETERMINISTIC,
    )
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    client = app.test_client()
    for task in ("legal", "chat"):
        post(client, "reliable", 1.0, 0.02, True, task=task, times=20)
        post(client, "cheap", 0.5, 0.001, True, task=task, times=12)
        post(client, "cheap", 0.5, 0.001, False, task=task, times=8)
    assert select(client, "?models=reliable,cheap&task=legal")["selected_model"] == "reliable"
    assert select(client, "?models=reliable,cheap&task=chat")["selected_model"] == "cheap"
    assert select(client, "?task=legal")["objective"]["success_value"] == 5.0


def test_a_model_failing_on_one_task_cools_down_there_and_keeps_serving_the_others(client):
    post(client, "fast", 0.3, 0.001, True, task="chat", times=10)
    post(client, "slow", 4.0, 0.001, True, task="chat", times=10)
    post(client, "slow", 4.0, 0.001, True, task="code", times=10)
    post(client, "fast", 0.3, 0.001, False, task="code", times=6)
    code = select(client, "?models=fast,slow&task=code")
    assert code["selected_model"] == "slow"
    assert {e["model"]: e["excluded_by"] for e in code["ranking"]}["fast"] == "cooling_down"
    chat = select(client, "?models=fast,slow&task=chat")
    assert chat["selected_model"] == "fast", chat["ranking"]
    fast = {m["name"]: m for m in client.get("/router/models").get_json()}["fast"]
    assert fast["state"] == "active"
    assert list(fast["cooling_tasks"]) == ["code"]


def test_a_model_failing_on_every_task_cools_down_everywhere(client):
    post(client, "flaky", 0.3, 0.001, False, task="chat", times=6)
    post(client, "flaky", 0.3, 0.001, False, task="code", times=6)
    post(client, "steady", 1.0, 0.001, True, times=3)
    flaky = {m["name"]: m for m in client.get("/router/models").get_json()}["flaky"]
    assert flaky["state"] == "cooling_down"
    assert set(flaky["cooling_tasks"]) == {"chat", "code"}
    body = select(client, "?models=flaky,steady&task=translation")
    assert body["selected_model"] == "steady"


def test_a_model_back_from_a_cooldown_serves_again_only_once_its_calls_show_its_old_rate(
    database_url,
):
    from datetime import UTC, datetime

    from flask_migrate import upgrade

    from aurea.clock import FrozenClock
    from config import MIGRATIONS_DIR

    clock = FrozenClock(datetime(2026, 6, 15, 8, 20, tzinfo=UTC))
    app = make_app(database_url, AUREA_CLOCK=clock, **DETERMINISTIC)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    client = app.test_client()
    # flaky: 90 % at 0.3 s; steady: 87 % at 0.6 s. In USD: 0.1 p - cost - 0.005 x latency,
    # 0.0875 against 0.082: flaky is the better choice.
    post(client, "flaky", 0.3, 0.001, True, times=270)
    post(client, "flaky", 0.3, 0.001, False, times=30)
    post(client, "steady", 0.6, 0.002, True, times=87)
    post(client, "steady", 0.6, 0.002, False, times=13)
    assert select(client, "?models=flaky,steady")["selected_model"] == "flaky"
    # Two hours later five failures trip the cooldown; the change test cannot tell yet.
    clock.advance(hours=2)
    post(client, "flaky", 0.3, 0.001, False, times=5)
    assert select(client, "?models=flaky,steady")["selected_model"] == "steady"

    def flaky_estimate():
        return client.get("/router/metrics").get_json()["flaky"]["expected_utility"]

    # Over by the clock (30 minutes), not by any call: the burst still counts as a drop.
    clock.advance(minutes=31)
    body = select(client, "?models=flaky,steady")
    assert body["selected_model"] == "steady", body["ranking"]
    ranking = {e["model"]: e for e in body["ranking"]}
    assert ranking["flaky"]["excluded_by"] is None
    assert ranking["flaky"]["expected_utility"]["p_success"] < 0.85
    assert flaky_estimate()["p_success"] == ranking["flaky"]["expected_utility"]["p_success"]
    # Ten calls at 60 % (below 0.9 - 2 sqrt(0.09 / 10) = 0.71): still degraded.
    post(client, "flaky", 0.3, 0.001, True, times=6)
    post(client, "flaky", 0.3, 0.001, False, times=4)
    assert select(client, "?models=flaky,steady")["selected_model"] == "steady"
    # The calls that judge are those of the last cooldown length (30 minutes): 31 minutes on,
    # ten calls at its old rate, and it serves again.
    clock.advance(minutes=31)
    post(client, "flaky", 0.3, 0.001, True, times=9)
    post(client, "flaky", 0.3, 0.001, False, times=1)
    assert select(client, "?models=flaky,steady")["selected_model"] == "flaky"
    assert flaky_estimate()["p_success"] > 0.85


def test_metrics_show_each_models_expected_utility_in_usd(client):
    post(client, "gpt-3.5-turbo", 0.3, 0.002, True)
    body = client.get("/router/metrics").get_json()
    parts = body["gpt-3.5-turbo"]["expected_utility"]
    assert parts["expected_utility"] == pytest.approx(0.1 * 2 / 3 - 0.002 - 0.0015)
    assert body["gpt-3.5-turbo"]["score"] == pytest.approx(1.0)  # the seed's weighted score
    assert body["gpt-4"]["expected_utility"] is None
    low, high = body["gpt-3.5-turbo"]["p_success_interval"]
    assert low < 2 / 3 < high
