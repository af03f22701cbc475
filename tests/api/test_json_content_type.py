"""A JSON body sent without a JSON Content-Type gets 415 naming the expected type, not 422."""

import json

import pytest

RECORD = {"model": "gpt-4", "latency": 0.5, "cost": 0.02, "success": True}
WEIGHTS = {"cost_weight": 0.5, "quality_weight": 0.3, "latency_weight": 0.2}

# Every operation with a JSON body, with a body it accepts.
JSON_BODIES = [
    ("post", "/router/record", RECORD),
    ("post", "/router/records", {"records": [RECORD]}),
    ("put", "/router/weights", WEIGHTS),
    ("post", "/router/weights/rollback", {"id": 1}),
    ("post", "/router/models", {"name": "new-model"}),
    ("patch", "/router/models/gpt-4", {"enabled": False}),
]


def state(client) -> tuple:
    return (
        client.get("/router/metrics").get_json(),
        client.get("/router/weights/history").get_json(),
        client.get("/router/models").get_json(),
    )


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize(("method", "path", "body"), JSON_BODIES)
def test_a_json_body_without_a_json_content_type_gets_415(client, method, path, body, content_type):
    before = state(client)
    headers = {"Content-Type": content_type} if content_type else {}
    response = getattr(client, method)(path, data=json.dumps(body), headers=headers)
    assert response.status_code == 415
    answer = response.get_json()
    assert answer["status"] == "Unsupported Media Type"
    assert "Content-Type: application/json" in answer["message"]
    assert answer["errors"]["json"] == [
        f"Expected Content-Type application/json, got {content_type or 'no Content-Type'}."
    ]
    assert state(client) == before


@pytest.mark.parametrize(("method", "path", "body"), JSON_BODIES)
def test_a_json_content_type_with_a_charset_is_accepted(client, method, path, body):
    response = getattr(client, method)(
        path, data=json.dumps(body), content_type="application/json; charset=utf-8"
    )
    assert response.status_code in (200, 201), response.get_json()


def test_the_415_is_documented_for_every_operation_with_a_json_body(client):
    spec = client.get("/openapi.json").get_json()
    for method, path, _ in JSON_BODIES:
        template = path.replace("gpt-4", "{name}")
        assert "415" in spec["paths"][template][method]["responses"], (method, path)
