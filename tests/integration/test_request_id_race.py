"""Copies of one request_id racing on different gunicorn workers are counted once."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from aurea.services.aggregates import roll_up
from aurea.storage.extensions import db
from aurea.storage.models import ModelStatsHourly, RequestMetric
from tests.support.server import gunicorn_server

pytestmark = pytest.mark.slow

IDS = 60
COPIES = 6


def send_all_ids(base_url: str, offset: int) -> list[tuple[str, str]]:
    statuses = []
    with requests.Session() as session:
        for n in range(IDS):
            i = (n + offset) % IDS  # each client starts elsewhere, so copies collide
            body = {
                "model": "gpt-4",
                "latency": 0.5,
                "cost": 0.01,
                "success": True,
                "request_id": f"race-{i}",
            }
            response = session.post(f"{base_url}/router/record", json=body, timeout=30)
            assert response.status_code == 200, response.text
            statuses.append((body["request_id"], response.json()["status"]))
    return statuses


def test_racing_copies_of_a_request_id_are_recorded_exactly_once(app, database_url, tmp_path):
    with gunicorn_server(database_url, workers=4, log_dir=tmp_path) as base_url:
        with ThreadPoolExecutor(COPIES) as pool:
            results = [
                s
                for part in pool.map(lambda c: send_all_ids(base_url, c * 7), range(COPIES))
                for s in part
            ]
    recorded = Counter(rid for rid, status in results if status == "recorded")
    assert recorded == Counter({f"race-{i}": 1 for i in range(IDS)})
    assert Counter(status for _, status in results)["duplicate"] == IDS * (COPIES - 1)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestMetric)) == IDS
        roll_up(db.session)
        assert db.session.scalar(sa.select(sa.func.sum(ModelStatsHourly.requests))) == IDS
