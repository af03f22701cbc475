"""Token prices in the model registry, and records priced from their token counts."""

import pytest
import sqlalchemy as sa

from aurea.storage.extensions import db
from aurea.storage.models import RequestMetric

PRICED = {"input_usd_per_million_tokens": 2.5, "output_usd_per_million_tokens": 10.0}


def stored_costs(app, model: str) -> list[float]:
    with app.app_context():
        costs = db.session.scalars(
            sa.select(RequestMetric.cost).where(RequestMetric.model == model).order_by("id")
        ).all()
        db.session.remove()
    return costs


def model_entry(client, name: str) -> dict:
    (entry,) = [m for m in client.get("/router/models").get_json() if m["name"] == name]
    return entry


def test_models_are_listed_unpriced_until_prices_are_set(client):
    assert model_entry(client, "gpt-4")["input_usd_per_million_tokens"] is None
    assert model_entry(client, "gpt-4")["output_usd_per_million_tokens"] is None
    patched = client.patch("/router/models/gpt-4", json=PRICED)
    assert patched.status_code == 200
    assert patched.get_json()["input_usd_per_million_tokens"] == 2.5
    assert model_entry(client, "gpt-4")["output_usd_per_million_tokens"] == 10.0


def test_a_model_is_registered_with_its_prices_and_a_price_is_cleared_with_null(client):
    created = client.post("/router/models", json={"name": "gpt-4o-mini", **PRICED})
    assert created.status_code == 201
    assert created.get_json()["output_usd_per_million_tokens"] == 10.0
    cleared = client.patch(
        "/router/models/gpt-4o-mini", json={"output_usd_per_million_tokens": None}
    )
    assert cleared.get_json()["output_usd_per_million_tokens"] is None
    assert cleared.get_json()["input_usd_per_million_tokens"] == 2.5  # left as it was


@pytest.mark.parametrize("price", [-0.1, "2.5", True, [1], 1e10])
@pytest.mark.parametrize("field", ["input_usd_per_million_tokens", "output_usd_per_million_tokens"])
def test_prices_must_be_non_negative_finite_numbers(client, field, price):
    for response in (
        client.patch("/router/models/gpt-4", json={field: price}),
        client.post("/router/models", json={"name": "new-model", field: price}),
    ):
        assert response.status_code == 422
        assert field in response.get_json()["errors"]["json"]


def test_an_infinite_price_is_refused(client):
    raw = '{"input_usd_per_million_tokens": 1e999}'
    response = client.patch(
        "/router/models/gpt-4", data=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "input_usd_per_million_tokens" in response.get_json()["errors"]["json"]


def test_a_record_with_tokens_and_no_cost_is_priced_from_the_registry(app, client):
    client.patch("/router/models/gpt-4", json=PRICED)
    body = {"model": "gpt-4", "latency": 0.4, "success": True}
    response = client.post(
        "/router/record", json={**body, "input_tokens": 1200, "output_tokens": 300}
    )
    assert response.get_json() == {"status": "recorded", "model": "gpt-4"}
    client.post("/router/record", json={**body, "input_tokens": 1000})
    assert stored_costs(app, "gpt-4") == pytest.approx([0.003 + 0.003, 0.0025])
    assert client.get("/router/metrics").get_json()["gpt-4"]["total_requests"] == 2


def test_a_given_cost_wins_over_the_tokens(app, client):
    client.patch("/router/models/gpt-4", json=PRICED)
    body = {"model": "gpt-4", "latency": 0.4, "cost": 0.5, "success": True, "input_tokens": 10}
    assert client.post("/router/record", json=body).status_code == 200
    assert stored_costs(app, "gpt-4") == [0.5]


def test_a_record_without_cost_or_tokens_names_the_cost_field(client):
    response = client.post(
        "/router/record", json={"model": "gpt-4", "latency": 0.4, "success": True}
    )
    assert response.status_code == 422
    (message,) = response.get_json()["errors"]["json"]["cost"]
    assert "input_tokens" in message


@pytest.mark.parametrize(
    "model, prices",
    [
        ("gpt-4", {}),  # registered, not priced
        ("gpt-4", {"input_usd_per_million_tokens": 1.0}),  # output tokens have no price
        ("never-seen", None),  # not registered at all
    ],
)
def test_tokens_of_an_unpriced_model_get_a_422_on_cost(app, client, model, prices):
    if prices:
        client.patch(f"/router/models/{model}", json=prices)
    body = {"model": model, "latency": 0.4, "success": False, "input_tokens": 5, "output_tokens": 7}
    response = client.post("/router/record", json=body)
    assert response.status_code == 422
    (message,) = response.get_json()["errors"]["json"]["cost"]
    assert repr(model) in message
    assert stored_costs(app, model) == []


def test_a_computed_cost_over_the_bound_is_refused(client):
    client.patch("/router/models/gpt-4", json={"input_usd_per_million_tokens": 1e9})
    body = {"model": "gpt-4", "latency": 0.4, "success": True, "input_tokens": 10**7}
    response = client.post("/router/record", json=body)
    assert response.status_code == 422
    assert "more than 1e9" in response.get_json()["errors"]["json"]["cost"][0]


@pytest.mark.parametrize("count", [-1, 1.5, 3.0, "12", True, None, 10**10])
@pytest.mark.parametrize("field", ["input_tokens", "output_tokens"])
def test_token_counts_must_be_non_negative_integers(client, field, count):
    client.patch("/router/models/gpt-4", json=PRICED)
    body = {"model": "gpt-4", "latency": 0.4, "success": True, field: count}
    response = client.post("/router/record", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]


def test_a_batch_prices_its_token_records_and_names_each_unpriced_one(app, client):
    client.patch("/router/models/gpt-4", json=PRICED)
    base = {"latency": 0.2, "success": True}
    records = [
        {"model": "gpt-4", **base, "input_tokens": 2000, "output_tokens": 100},
        {"model": "claude-3-opus", **base, "cost": 0.07},
        {"model": "claude-3-opus", **base, "output_tokens": 10},
        {"model": "gpt-4", **base},
    ]
    refused = client.post("/router/records", json={"records": records})
    assert refused.status_code == 422
    errors = refused.get_json()["errors"]["json"]["records"]
    assert set(errors) == {"3"}  # the schema's messages come first
    assert "cost" in errors["3"]

    refused = client.post("/router/records", json={"records": records[:3]})
    assert refused.status_code == 422
    errors = refused.get_json()["errors"]["json"]["records"]
    assert set(errors) == {"2"} and "'claude-3-opus'" in errors["2"]["cost"][0]
    assert stored_costs(app, "gpt-4") == []  # all or none

    accepted = client.post("/router/records", json={"records": records[:2]})
    assert accepted.status_code == 200
    assert accepted.get_json()["recorded"] == 2
    assert stored_costs(app, "gpt-4") == pytest.approx([0.005 + 0.001])
    assert stored_costs(app, "claude-3-opus") == [0.07]


def test_token_records_need_a_token_like_any_record(app, client, tokens):
    client.patch(
        "/router/models/gpt-4",
        json=PRICED,
        headers={"Authorization": f"Bearer {tokens['admin']}"},
    )
    body = {"model": "gpt-4", "latency": 0.4, "success": True, "input_tokens": 1}
    assert client.post("/router/record", json=body).status_code == 401
    reader = {"Authorization": f"Bearer {tokens['reader']}"}
    assert client.post("/router/record", json=body, headers=reader).status_code == 403
    recorder = {"Authorization": f"Bearer {tokens['recorder']}"}
    assert client.post("/router/record", json=body, headers=recorder).status_code == 200
    assert stored_costs(app, "gpt-4") == pytest.approx([2.5e-6])
