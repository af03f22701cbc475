"""request_id makes records idempotent; POST /router/records stores 1 to 1,000, all or none."""

import pytest
import sqlalchemy as sa

from aurea.storage.extensions import db
from tests.support.counts import stored_counts


def item(i: int, **changes) -> dict:
    body = {"model": f"m{i % 3}", "latency": 0.1 * (i + 1), "cost": 0.001, "success": True}
    return {**body, **changes}


def test_repeated_request_id_is_acknowledged_as_duplicate_and_counted_once(app, client):
    body = item(0, request_id="req-1")
    first = client.post("/router/record", json=body)
    second = client.post("/router/record", json=body)
    assert first.get_json() == {"status": "recorded", "model": "m0"}
    assert second.status_code == 200
    assert second.get_json() == {"status": "duplicate", "model": "m0"}
    assert stored_counts(app) == (1, 1)


def test_records_without_request_id_are_never_deduplicated(app, client):
    client.post("/router/record", json=item(0))
    client.post("/router/record", json=item(0))
    assert stored_counts(app) == (2, 2)


@pytest.mark.parametrize("request_id", ["", "x" * 129, "bad\nid", 42])
def test_invalid_request_id_is_refused(client, request_id):
    response = client.post("/router/record", json=item(0, request_id=request_id))
    assert response.status_code == 422
    assert "request_id" in response.get_json()["errors"]["json"]


def test_batch_stores_every_record_and_reports_each(app, client):
    response = client.post("/router/records", json={"records": [item(i) for i in range(5)]})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["recorded"], body["duplicates"]) == ("recorded", 5, 0)
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3, 4]
    assert stored_counts(app) == (5, 5)
    metrics = client.get("/router/metrics").get_json()
    assert metrics["m0"]["total_requests"] == 2
    assert metrics["m0"]["average_latency"] == pytest.approx((0.1 + 0.4) / 2)


def test_batch_with_a_bad_item_names_it_by_index_and_stores_nothing(app, client):
    records = [item(0), item(1, latency=-1), item(2), item(3, success="yes")]
    response = client.post("/router/records", json={"records": records})
    assert response.status_code == 422
    errors = response.get_json()["errors"]["json"]["records"]
    assert set(errors) == {"1", "3"}
    assert "latency" in errors["1"] and "success" in errors["3"]
    assert stored_counts(app) == (0, 0)


@pytest.mark.parametrize("records", ["x", {"0": {}}, 3])
def test_batch_records_that_are_not_a_list_say_so(app, client, records):
    response = client.post("/router/records", json={"records": records})
    assert response.status_code == 422
    assert response.get_json()["errors"]["json"] == {"records": ["Not a valid list."]}
    assert stored_counts(app) == (0, 0)


@pytest.mark.parametrize("bad", [None, 1, "record", []])
def test_a_batch_item_that_is_not_an_object_is_named_by_index(app, client, bad):
    response = client.post("/router/records", json={"records": [item(0), bad]})
    assert response.status_code == 422
    errors = response.get_json()["errors"]["json"]["records"]
    assert errors == {"1": {"_schema": ["Invalid input type."]}}
    assert stored_counts(app) == (0, 0)


@pytest.mark.parametrize("size", [0, 1001])
def test_batch_size_must_be_between_one_and_a_thousand(app, client, size):
    response = client.post("/router/records", json={"records": [item(0)] * size})
    assert response.status_code == 422
    assert "records" in response.get_json()["errors"]["json"]
    assert stored_counts(app) == (0, 0)


def test_batch_of_a_thousand_is_accepted(app, client):
    response = client.post("/router/records", json={"records": [item(i) for i in range(1000)]})
    assert response.status_code == 200
    assert stored_counts(app) == (1000, 1000)


def test_batch_request_ids_deduplicate_within_and_across_batches(app, client):
    client.post("/router/record", json=item(0, request_id="a"))
    records = [item(1, request_id="a"), item(2, request_id="b"), item(3, request_id="b"), item(4)]
    body = client.post("/router/records", json={"records": records}).get_json()
    assert [r["status"] for r in body["results"]] == [
        "duplicate",
        "recorded",
        "duplicate",
        "recorded",
    ]
    assert (body["recorded"], body["duplicates"]) == (2, 2)
    assert stored_counts(app) == (3, 3)


def test_batch_is_all_or_none_when_the_database_refuses_a_row(app, client, monkeypatch):
    from aurea.services import records as records_service

    original = records_service.insert_raw_rows

    def fail_after_raw_insert(session, rows):
        original(session, rows)
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr(records_service, "insert_raw_rows", fail_after_raw_insert)
    batch = {"records": [item(i, request_id=f"all-or-none-{i}") for i in range(3)]}
    response = client.post("/router/records", json=batch)
    assert response.status_code == 503
    assert stored_counts(app) == (0, 0)
    monkeypatch.undo()
    # Their request ids were not kept either: the retry is recorded, not a duplicate.
    assert client.post("/router/records", json=batch).get_json()["recorded"] == 3
    assert stored_counts(app) == (3, 3)


@pytest.mark.parametrize("path", ["/router/record", "/router/records"])
def test_a_driver_error_mid_transaction_answers_503_and_stores_nothing(app, client, path):
    with app.app_context():
        engine = db.engine
    dbapi = engine.dialect.loaded_dbapi

    def disk_fails_at_the_raw_insert(_cursor, statement, *_args):
        # The driver itself raises, as from a full disk: SQLAlchemy translates it.
        if statement.startswith("INSERT INTO request_metrics"):
            raise dbapi.OperationalError("disk I/O error")

    events = ("do_execute", "do_executemany")
    for event in events:
        sa.event.listen(engine, event, disk_fails_at_the_raw_insert)
    body = item(0) if path == "/router/record" else {"records": [item(i) for i in range(3)]}
    try:
        response = client.post(path, json=body)
    finally:
        for event in events:
            sa.event.remove(engine, event, disk_fails_at_the_raw_insert)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert stored_counts(app) == (0, 0)
    assert client.post(path, json=body).status_code == 200  # the pooled connection still works
    assert stored_counts(app)[0] in (1, 3)
