"""The record lane answers plain single records before Flask dispatches, exactly as Flask would.

Each check sends the same request through the whole application (the lane first) and
through Flask alone (the lane's ``wsgi_app``), and compares what comes back.
"""

import io
import json
import logging
import uuid

import pytest
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

from aurea.api.record_lane import RECORD_PATH, RecordLane
from aurea.database import DatabaseBudget
from tests.api.test_prometheus_metrics import scrape, value
from tests.api.test_request_log import request_lines
from tests.conftest import migrated_app
from tests.support.counts import stored_counts


def the_lane(app) -> RecordLane:
    lane = app.wsgi_app.wsgi_app
    assert isinstance(app.wsgi_app, DatabaseBudget) and isinstance(lane, RecordLane)
    return lane


class CountingFlask:
    """Flask's own wsgi_app, counting the requests the lane hands to it."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app, self.calls = wsgi_app, 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.wsgi_app(environ, start_response)


def count_flask(app) -> CountingFlask:
    lane = the_lane(app)
    counting = CountingFlask(lane.wsgi_app)
    lane.wsgi_app = counting
    return counting


@pytest.fixture
def flask_calls(app):
    return count_flask(app)


def flask_only(app) -> Client:
    """A client of the application without its lane: Flask answers every request."""
    return Client(DatabaseBudget(the_lane(app).wsgi_app, app.config["AUREA_DB_TIMEOUT"]))


def body(**changes) -> dict:
    return {
        "model": f"lane-{uuid.uuid4().hex[:8]}",
        "latency": 0.5,
        "cost": 0.01,
        "success": True,
        **changes,
    }


def exchange(client, data, headers=None):
    """(status, every header, body) of a POST of ``data``."""
    response = client.post(RECORD_PATH, json=data, headers=headers or {})
    return response.status_code, sorted(response.headers.items()), response.get_data()


def test_the_lane_route_is_the_record_endpoints_url_rule(app):
    rules = {r.rule: r.methods for r in app.url_map.iter_rules()}
    assert "POST" in rules[RECORD_PATH]


@pytest.mark.parametrize(
    "changes",
    [{}, {"task": "code", "request_id": "lane-1"}, {"success": False}, {"model": "modèle-ü"}],
    ids=["plain", "task-and-request-id", "failure", "non-ascii-model"],
)
def test_a_plain_record_gets_from_the_lane_the_bytes_and_headers_flask_sends(
    app, client, flask_calls, changes
):
    data = body(**changes)
    through_lane = exchange(client, data)
    assert flask_calls.calls == 0
    through_flask = exchange(flask_only(app), data)  # the same record again

    status, headers, answer = through_lane
    assert status == through_flask[0] == 200
    assert dict(headers)["Content-Type"] == "application/json"
    expected = json.loads(through_flask[2])
    if "request_id" in changes:  # the second send is a duplicate, recorded once
        assert expected["status"] == "duplicate"
        assert json.loads(answer) == {**expected, "status": "recorded"}
        assert [h for h in headers if h[0] != "Content-Length"] == [
            h for h in through_flask[1] if h[0] != "Content-Length"
        ]
    else:
        assert (headers, answer) == through_flask[1:]
    assert answer.endswith(b"\n")


def test_a_record_through_the_lane_is_stored_counted_and_logged_like_any_request(
    app, client, caplog
):
    before = scrape(client)
    data = body()
    with caplog.at_level(logging.INFO, logger="aurea"):
        assert client.post(RECORD_PATH, json=data).status_code == 200
    [line] = request_lines(caplog)
    assert line["method"] == "POST" and line["path"] == RECORD_PATH
    assert line["status"] == 200 and line["duration_ms"] > 0
    assert line["remote_addr"] == "127.0.0.1" and line["actor"] is None

    after = scrape(client)
    labels = {"endpoint": RECORD_PATH, "method": "POST", "status": "200"}
    assert value(after, "aurea_http_requests_total", **labels) == (
        value(before, "aurea_http_requests_total", **labels) + 1
    )
    assert value(after, "aurea_records_total", model=data["model"], outcome="success") == 1
    assert client.get("/router/metrics").get_json()[data["model"]]["total_requests"] == 1


@pytest.mark.parametrize(
    "data",
    [
        body(timestamp="2026-01-01T00:00:00+00:00"),  # valid, but not a plain record
        body(latency=-1),
        body(unknown="field"),
        {"model": "lane", "latency": 0.5},
        # token counts are priced by the view (aurea.services.pricing), never by the lane
        {"model": "lane", "latency": 0.5, "success": True, "input_tokens": 10},
        body(output_tokens=5),
    ],
    ids=[
        "with-timestamp",
        "negative-latency",
        "unknown-field",
        "missing-fields",
        "tokens-instead-of-cost",
        "cost-and-tokens",
    ],
)
def test_a_body_that_is_not_a_plain_record_is_handed_to_flask_whole(app, client, flask_calls, data):
    through_lane = exchange(client, data)
    assert flask_calls.calls == 1
    through_flask = exchange(flask_only(app), data)
    assert through_lane[:2] == through_flask[:2]
    assert json.loads(through_lane[2]).keys() == json.loads(through_flask[2]).keys()
    assert through_lane[0] in (200, 422)


def test_other_methods_paths_and_media_types_go_to_flask(client, flask_calls):
    assert client.get(RECORD_PATH).status_code == 405
    assert client.post(RECORD_PATH + "/", json=body()).status_code in (404, 308)
    response = client.post(RECORD_PATH, data=json.dumps(body()), content_type="text/plain")
    assert response.status_code == 415  # Flask's answer: not sent as JSON
    assert flask_calls.calls == 3


def test_a_body_without_a_length_is_left_to_flask_unread(app, flask_calls):
    payload = json.dumps(body()).encode()
    environ = EnvironBuilder(
        path=RECORD_PATH,
        method="POST",
        input_stream=io.BytesIO(payload),
        content_type="application/json",
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input_terminated"] = True  # as a server says of a chunked body
    _, status, _ = run_wsgi_app(app.wsgi_app, environ)
    assert flask_calls.calls == 1
    assert status.startswith("200")


def test_a_plain_record_in_an_oversized_body_is_left_to_flask(app, client, flask_calls):
    data = body()
    padded = json.dumps(data) + " " * 17_000  # plain once parsed, but longer than the lane reads
    response = client.post(RECORD_PATH, data=padded, content_type="application/json")
    assert response.status_code == 200
    assert flask_calls.calls == 1
    assert client.get("/router/metrics").get_json()[data["model"]]["total_requests"] == 1


def test_a_body_over_max_content_length_gets_flasks_413(app, client, flask_calls):
    app.config["MAX_CONTENT_LENGTH"] = 20
    through_lane = exchange(client, body())
    assert flask_calls.calls == 1
    assert through_lane[0] == exchange(flask_only(app), body())[0] == 413


def test_a_recorder_token_is_checked_and_named_in_the_log(client, tokens, flask_calls, caplog):
    headers = {"Authorization": f"Bearer {tokens['recorder']}"}
    with caplog.at_level(logging.INFO, logger="aurea"):
        assert client.post(RECORD_PATH, json=body(), headers=headers).status_code == 200
    assert flask_calls.calls == 0
    [line] = request_lines(caplog)
    assert line["actor"] == "recorder-token"


@pytest.mark.parametrize(
    "header, status",
    [(None, 401), ("Bearer not-a-token", 401), ("reader", 403)],
    ids=["missing", "unknown", "wrong-role"],
)
def test_a_refused_token_gets_flasks_answer_and_nothing_is_stored(
    app, client, tokens, flask_calls, header, status
):
    if header == "reader":
        header = f"Bearer {tokens['reader']}"
    headers = {"Authorization": header} if header else {}
    data = body()
    response = client.post(RECORD_PATH, json=data, headers=headers)
    assert flask_calls.calls == 1
    assert response.status_code == status
    assert response.get_json()["code"] == status
    assert (
        data["model"]
        not in client.get(
            "/router/metrics", headers={"Authorization": f"Bearer {tokens['reader']}"}
        ).get_json()
    )


@pytest.fixture
def strict_app(database_url):
    """Strict mode: a record naming an unregistered model is refused while being written."""
    with migrated_app(database_url, AUREA_STRICT_MODELS=True) as app:
        yield app


def test_an_error_while_recording_is_answered_counted_and_logged_by_flasks_handlers(
    strict_app, caplog
):
    app = strict_app
    flask_calls = count_flask(app)
    client = app.test_client()
    before = scrape(client)
    handed = flask_calls.calls  # the scrape
    with caplog.at_level(logging.INFO, logger="aurea"):
        response = client.post(RECORD_PATH, json=body(model="never-registered"))
    assert flask_calls.calls == handed  # the lane answered, through the app's error handler
    through_flask = exchange(flask_only(app), body(model="never-registered"))
    assert response.status_code == through_flask[0] == 422
    assert response.get_json() == json.loads(through_flask[2])
    assert "Unknown model" in response.get_json()["errors"]["json"]["model"][0]
    [line] = request_lines(caplog)
    assert line["status"] == 422 and line["path"] == RECORD_PATH
    labels = {"endpoint": RECORD_PATH, "method": "POST", "status": "422"}
    after = scrape(client)
    assert (
        value(after, "aurea_http_requests_total", **labels)
        - value(before, "aurea_http_requests_total", **labels)
        == 2
    )
    assert stored_counts(app) == (0, 0)


def test_an_unreachable_database_gets_the_same_503_from_the_lane(unreachable_app):
    flask_calls = count_flask(unreachable_app)
    data = body()
    through_lane = exchange(unreachable_app.test_client(), data)
    assert flask_calls.calls == 0
    through_flask = exchange(flask_only(unreachable_app), data)
    assert through_lane == through_flask
    assert through_lane[0] == 503 and ("Retry-After", "5") in through_lane[1]


@pytest.mark.parametrize("failing", ["record_one", "observe_answer"])
def test_an_unexpected_error_gets_flasks_json_500_not_a_server_error_page(
    app, monkeypatch, failing
):
    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(f"aurea.api.record_lane.{failing}", broken)
    monkeypatch.setattr("aurea.api.router.record_one", broken)
    app.testing = False  # Flask answers 500 instead of re-raising
    flask_calls = count_flask(app)
    status, headers, answer = exchange(app.test_client(), body())
    assert flask_calls.calls == 0
    assert status == 500 and dict(headers)["Content-Type"] == "application/json"
    assert json.loads(answer)["code"] == 500
    if failing == "record_one":
        assert (status, headers, answer) == exchange(flask_only(app), body())
