"""A batch stores every row as sent: labels, numbers, outcomes and timestamps."""

from datetime import UTC, datetime

import sqlalchemy as sa

from aurea.services.aggregates import roll_up
from aurea.storage.extensions import db
from aurea.storage.models import ModelStatsHourly, RequestMetric


def batch(size):
    return {
        "records": [
            {
                "model": f"model-{i % 3}",
                "latency": 0.25 * (i + 1),
                "cost": 0.001 * i,
                "success": i % 4 != 0,
                **({"task": "code"} if i % 2 else {}),
                **({"timestamp": "2026-06-15T09:30:00+00:00"} if i % 5 == 0 else {}),
            }
            for i in range(size)
        ]
    }


def stored(app):
    with app.app_context():
        rows = db.session.execute(
            sa.select(
                RequestMetric.model,
                RequestMetric.task,
                RequestMetric.latency,
                RequestMetric.cost,
                RequestMetric.success,
                RequestMetric.created_at,
                RequestMetric.request_id,
            ).order_by(RequestMetric.id)
        ).all()
        roll_up(db.session)
        counted = db.session.scalar(sa.select(sa.func.sum(ModelStatsHourly.requests)))
        db.session.remove()
    return [tuple(r) for r in rows], counted


def test_a_large_batch_stores_every_row_as_sent(app, client, clock):
    sent = batch(25)
    response = client.post("/router/records", json=sent)
    assert response.status_code == 200, response.get_json()
    rows, counted = stored(app)
    expected = [
        (
            item["model"],
            item.get("task"),
            item["latency"],
            item["cost"],
            item["success"],
            datetime(2026, 6, 15, 9, 30, tzinfo=UTC) if "timestamp" in item else clock.current,
            None,
        )
        for item in sent["records"]
    ]
    assert rows == expected
    assert counted == len(expected)
