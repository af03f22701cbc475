"""Bad input gets a JSON 4xx with per-field messages, never a 500, and stores nothing."""

import json

import pytest

VALID = {"model": "gpt-4", "latency": 0.5, "cost": 0.02, "success": True}
DEFAULT_WEIGHTS = {"cost_weight": 0.33, "quality_weight": 0.34, "latency_weight": 0.33}


def with_field(**changes):
    body = dict(VALID)
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


def total_requests(client) -> int:
    return sum(m["total_requests"] for m in client.get("/router/metrics").get_json().values())


def post_raw(client, path, data, content_type="application/json"):
    return client.post(path, data=data, content_type=content_type)


@pytest.mark.parametrize(
    "body, field",
    [
        (with_field(model=...), "model"),
        (with_field(latency=...), "latency"),
        (with_field(cost=...), "cost"),
        (with_field(success=...), "success"),
        (with_field(latency="0.5"), "latency"),
        (with_field(cost=None), "cost"),
        (with_field(latency=True), "latency"),
        (with_field(latency=-0.1), "latency"),
        (with_field(cost=-1), "cost"),
        (with_field(latency=10**400), "latency"),
        (with_field(latency=1.5e9), "latency"),
        (with_field(cost=1e308), "cost"),
        (with_field(success="true"), "success"),
        (with_field(success=1), "success"),
        (with_field(success=None), "success"),
        (with_field(model=""), "model"),
        (with_field(model="x" * 129), "model"),
        (with_field(model="gpt\n4"), "model"),
        (with_field(model="gpt\x004"), "model"),
        (with_field(model=" gpt-4"), "model"),
        (with_field(model=42), "model"),
        (with_field(extra="field"), "extra"),
    ],
)
def test_record_rejects_invalid_field_with_422_naming_it(client, body, field):
    response = client.post("/router/record", json=body)
    assert response.status_code == 422
    payload = response.get_json()
    assert payload["code"] == 422
    assert field in payload["errors"]["json"]
    assert total_requests(client) == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("field", ["latency", "cost"])
def test_record_rejects_non_finite_numbers(client, literal, field):
    raw = json.dumps(VALID).replace(json.dumps(VALID[field]), literal, 1)
    assert literal in raw
    response = post_raw(client, "/router/record", raw)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    assert total_requests(client) == 0


@pytest.mark.parametrize("field", ["model", "task"])
def test_record_rejects_lone_surrogates_in_labels(client, field):
    # Valid JSON escapes, but no UTF-8 encoding: storing them used to fail with a 500.
    raw = json.dumps({**VALID, field: "gpt"}).replace('"gpt"', '"gpt\\ud800"')
    response = post_raw(client, "/router/record", raw)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    assert total_requests(client) == 0


def test_record_accepts_the_largest_values_twice(client):
    body = with_field(latency=1e9, cost=1e9)
    assert client.post("/router/record", json=body).status_code == 200
    assert client.post("/router/record", json=body).status_code == 200
    metrics = client.get("/router/metrics").get_json()["gpt-4"]
    assert metrics["average_latency"] == 1e9
    assert metrics["p95_latency"] > 1e5  # the last histogram bin


def test_record_accepts_model_name_of_128_characters(client):
    response = client.post("/router/record", json=with_field(model="m" * 128))
    assert response.status_code == 200


@pytest.mark.parametrize("raw", ["{not json", "", "[1, 2]", "null", '"a string"', "42"])
def test_record_rejects_body_that_is_not_a_json_object(client, raw):
    response = post_raw(client, "/router/record", raw)
    assert 400 <= response.status_code < 500
    assert response.is_json
    assert response.get_json()["errors"]
    assert total_requests(client) == 0


def test_record_rejects_non_json_content_type(client):
    response = post_raw(client, "/router/record", json.dumps(VALID), content_type="text/plain")
    assert response.status_code == 415
    assert response.is_json
    assert total_requests(client) == 0


def test_record_refuses_body_over_one_mebibyte_with_413(client):
    raw = json.dumps(with_field(model="gpt-4", padding="x" * (1024 * 1024)))
    response = post_raw(client, "/router/record", raw)
    assert response.status_code == 413
    assert response.get_json()["code"] == 413
    assert total_requests(client) == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({"cost_weight": 0.5, "quality_weight": 0.5}, "latency_weight"),
        ({"cost_weight": "0.5", "quality_weight": 0.3, "latency_weight": 0.2}, "cost_weight"),
        ({"cost_weight": 1.5, "quality_weight": -0.3, "latency_weight": -0.2}, "cost_weight"),
        ({"cost_weight": 0.5, "quality_weight": -0.1, "latency_weight": 0.6}, "quality_weight"),
        ({"cost_weight": 0.5, "quality_weight": 0.3, "latency_weight": None}, "latency_weight"),
        ({"cost_weight": 0.5, "quality_weight": 0.3, "latency_weight": [0.2]}, "latency_weight"),
    ],
)
def test_put_weights_rejects_invalid_weights_with_422(client, body, field):
    response = client.put("/router/weights", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    assert client.get("/router/weights").get_json() == DEFAULT_WEIGHTS


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "1e999"])
def test_put_weights_rejects_non_finite_weights(client, literal):
    raw = f'{{"cost_weight": {literal}, "quality_weight": 0.5, "latency_weight": 0.5}}'
    response = client.put("/router/weights", data=raw, content_type="application/json")
    assert response.status_code == 422
    assert "cost_weight" in response.get_json()["errors"]["json"]
    assert client.get("/router/weights").get_json() == DEFAULT_WEIGHTS


def test_unknown_route_answers_json_404(client):
    response = client.get("/router/nope")
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


def test_wrong_method_answers_json_405(client):
    response = client.delete("/router/weights")
    assert response.status_code == 405
    assert response.get_json()["code"] == 405


def test_optimize_rejects_unknown_query_parameter(client):
    response = client.post("/router/optimize?bogus=1")
    assert response.status_code == 422
    assert "bogus" in response.get_json()["errors"]["query"]
