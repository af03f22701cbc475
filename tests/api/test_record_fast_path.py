"""Plain record bodies skip flask-smorest's parsing; every answer stays the schema path's."""

import json
from datetime import UTC, datetime, timedelta

import pytest

BODY = {"model": "fast-path", "latency": 0.5, "cost": 0.01, "success": True}


def post_raw(client, data: bytes, content_type="application/json"):
    return client.post("/router/record", data=data, content_type=content_type)


def test_a_plain_body_and_a_body_for_the_schema_get_the_same_answer(client):
    plain = client.post("/router/record", json=BODY)
    minute_ago = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    dated = client.post("/router/record", json={**BODY, "timestamp": minute_ago})
    assert plain.status_code == dated.status_code == 200
    assert plain.get_json() == dated.get_json() == {"status": "recorded", "model": "fast-path"}
    assert plain.mimetype == dated.mimetype == "application/json"
    assert client.get("/router/metrics").get_json()["fast-path"]["total_requests"] == 2


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + json.dumps(BODY).encode(),  # a UTF-8 byte order mark
        json.dumps(BODY).encode("utf-16"),
        b'{"model": "fast-path", "latency": 0.5,',
    ],
    ids=["utf-8-bom", "utf-16", "truncated"],
)
def test_a_body_that_is_not_plain_utf8_json_is_refused_as_by_the_schema_path(client, data):
    response = post_raw(client, data)
    assert response.status_code == 400
    assert "fast-path" not in client.get("/router/metrics").get_json()


def test_a_json_body_sent_as_another_media_type_is_not_recorded(client):
    response = post_raw(client, json.dumps(BODY).encode(), content_type="text/plain")
    assert response.status_code == 415
    assert "fast-path" not in client.get("/router/metrics").get_json()


def test_a_record_answers_503_when_the_database_cannot_be_opened(unreachable_app):
    response = unreachable_app.test_client().post("/router/record", json=BODY)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
