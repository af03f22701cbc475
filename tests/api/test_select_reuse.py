"""A repeated select query is answered from the worker's read cache, byte for byte."""

import pytest
from flask_migrate import upgrade

from aurea.services import selection
from aurea.storage.extensions import db
from config import MIGRATIONS_DIR
from tests.conftest import make_app

RECORD = {"model": "gpt-4", "latency": 1.0, "cost": 0.01, "success": True}

# These tests state the seed's weighted mode (AUREA_OBJECTIVE=weighted).
pytestmark = pytest.mark.weighted_objective


@pytest.fixture
def cached_client(database_url):
    app = make_app(database_url, AUREA_CACHE_SECONDS=60.0)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        db.session.remove()
    yield app, app.test_client()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def change_behind_the_apps_back(app):
    """A write by another process: this worker's cache does not hear of it."""
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(db.text("UPDATE model_stats_hourly SET successes = 0"))


def test_the_same_query_gets_the_same_answer_until_this_worker_writes(cached_client):
    app, client = cached_client
    client.post("/router/record", json=RECORD)
    first = client.get("/router/select?models=gpt-4")
    change_behind_the_apps_back(app)
    again = client.get("/router/select?models=gpt-4")
    assert again.status_code == 200 and again.mimetype == "application/json"
    assert again.get_data() == first.get_data()
    assert again.get_json()["score"] == pytest.approx(1.0)

    client.post("/router/record", json=RECORD)  # a write through this worker clears the cache
    fresh = client.get("/router/select?models=gpt-4").get_json()
    assert fresh["ranking"][0]["total_requests"] == 2
    assert fresh["ranking"][0]["success_rate"] == pytest.approx(0.5)  # sees the other write


def test_another_query_string_is_answered_on_its_own(cached_client):
    _app, client = cached_client
    client.post("/router/record", json=RECORD)
    client.get("/router/select?models=gpt-4")
    other = client.get("/router/select?models=gpt-4,llama-2-70b").get_json()
    assert other["reason"] == "cold_start" and other["selected_model"] == "llama-2-70b"


def test_refused_queries_are_never_reused(cached_client):
    _app, client = cached_client
    for _ in range(2):
        response = client.get("/router/select?max_cost=-1")
        assert response.status_code == 422
        assert "max_cost" in response.get_json()["errors"]["query"]


def test_with_exploration_every_request_draws_again(database_url):
    app = make_app(
        database_url, AUREA_CACHE_SECONDS=60.0, AUREA_EXPLORATION=1.0, AUREA_RANDOM_SEED=5
    )
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        db.session.remove()
    client = app.test_client()
    client.post("/router/record", json=RECORD)
    picks = {client.get("/router/select").get_json()["selected_model"] for _ in range(40)}
    assert len(picks) > 1
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_repeated_query_is_not_scored_again_until_this_worker_writes(cached_client, monkeypatch):
    _app, client = cached_client
    client.post("/router/record", json=RECORD)
    calls = []
    real = selection.select_model
    monkeypatch.setattr(selection, "select_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    for _ in range(3):
        assert client.get("/router/select?models=gpt-4").status_code == 200
    assert len(calls) == 1
    client.post("/router/record", json=RECORD)
    client.get("/router/select?models=gpt-4")
    assert len(calls) == 2


def test_a_reused_answer_is_a_decision_of_its_own_on_the_dashboard(cached_client):
    _app, client = cached_client
    client.post("/router/record", json=RECORD)
    client.get("/router/select?models=gpt-4")
    client.get("/router/select?models=gpt-4")  # from the cache
    page = client.get("/dashboard").get_data(as_text=True)
    table = page.split('<table class="decisions">')[1].split("</table>")[0]
    assert table.count('data-decision-model="gpt-4"') == 2
    assert table.count(">reused</span>") == 1


def test_in_utility_mode_each_request_draws_but_each_outcome_is_rendered_once(
    database_url, monkeypatch
):
    app = make_app(
        database_url, AUREA_OBJECTIVE="utility", AUREA_CACHE_SECONDS=60.0, AUREA_RANDOM_SEED=3
    )
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        db.session.remove()
    client = app.test_client()
    for model in ("gpt-4", "llama-2-70b"):  # one success each: neither is known to be better
        client.post("/router/record", json={**RECORD, "model": model})
    calls = []
    real = selection.select_model
    monkeypatch.setattr(selection, "select_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    answers = [client.get("/router/select?models=gpt-4,llama-2-70b") for _ in range(60)]
    outcomes = {(a.get_json()["selected_model"], a.get_json()["reason"]) for a in answers}
    assert len({model for model, _ in outcomes}) == 2  # the draw is made per request
    assert len(calls) == len(outcomes)  # parsed and scored once per outcome, then reused
    for a in answers:  # a reused body is the one rendered for its own outcome
        body = a.get_json()
        assert body["expected_utility"]["expected_utility"] == pytest.approx(body["score"])
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
