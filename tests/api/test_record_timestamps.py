"""A record may carry the time the call happened: back-filled rows count in their own hour."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from aurea.services.aggregates import roll_up
from aurea.storage.extensions import db
from aurea.storage.models import ModelHealthMinutely, ModelStatsHourly, RequestMetric


def body(**changes) -> dict:
    return {"model": "m", "latency": 0.5, "cost": 0.01, "success": True, **changes}


def stored(app):
    with app.app_context():
        roll_up(db.session)
        raw = db.session.execute(sa.select(RequestMetric.created_at)).scalars().all()
        hours = db.session.execute(
            sa.select(ModelStatsHourly.bucket_start, ModelStatsHourly.requests).order_by(
                ModelStatsHourly.bucket_start
            )
        ).all()
        minutes = db.session.execute(
            sa.select(ModelHealthMinutely.bucket_start, ModelHealthMinutely.requests).order_by(
                ModelHealthMinutely.bucket_start
            )
        ).all()
        db.session.remove()
    return raw, [tuple(h) for h in hours], [tuple(m) for m in minutes]


def test_backfilled_record_lands_in_the_hour_and_minute_of_its_timestamp(app, client, clock):
    # The clock reads 10:20 UTC; the call happened at 07:45 (09:45 at +02:00).
    response = client.post("/router/record", json=body(timestamp="2026-06-15T09:45:30+02:00"))
    assert response.status_code == 200
    assert response.get_json() == {"status": "recorded", "model": "m"}
    raw, hours, minutes = stored(app)
    assert raw == [datetime(2026, 6, 15, 7, 45, 30, tzinfo=UTC)]
    assert hours == [(datetime(2026, 6, 15, 7, tzinfo=UTC), 1)]
    assert minutes == [(datetime(2026, 6, 15, 7, 45, tzinfo=UTC), 1)]


def test_batch_items_each_count_in_their_own_hour(app, client, clock):
    records = [
        body(timestamp="2026-06-15T08:10:00+00:00"),
        body(),  # no timestamp: now, 10:20
        body(timestamp="2026-06-15T08:59:59Z"),
    ]
    response = client.post("/router/records", json={"records": records})
    assert response.status_code == 200
    _, hours, _ = stored(app)
    assert hours == [
        (datetime(2026, 6, 15, 8, tzinfo=UTC), 2),
        (datetime(2026, 6, 15, 10, tzinfo=UTC), 1),
    ]
    metrics = client.get("/router/metrics?window=1h").get_json()
    assert metrics["m"]["total_requests"] == 1  # 09:00 onward: only the 10:20 record


def test_timestamp_within_the_allowed_skew_is_accepted(client, clock):
    response = client.post("/router/record", json=body(timestamp="2026-06-15T10:24:59+00:00"))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-06-15T10:25:01+00:00",  # more than 300 s ahead of the server's clock
        "2026-06-15T10:20:00",  # naive: no UTC offset
        "yesterday",
        12345,
    ],
)
def test_future_naive_or_malformed_timestamp_is_refused_and_nothing_stored(
    app, client, clock, timestamp
):
    response = client.post("/router/record", json=body(timestamp=timestamp))
    assert response.status_code == 422
    assert "timestamp" in response.get_json()["errors"]["json"]
    batch = client.post("/router/records", json={"records": [body(), body(timestamp=timestamp)]})
    assert batch.status_code == 422
    assert "timestamp" in batch.get_json()["errors"]["json"]["records"]["1"]
    assert stored(app) == ([], [], [])
