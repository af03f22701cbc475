"""Roll-ups running beside writers and beside each other count every committed row once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from aurea.app_context import service_context
from aurea.services.aggregates import rebuild_aggregates, roll_up
from aurea.services.records import record_request
from aurea.storage.extensions import db
from aurea.storage.models import LatencyHistogramHourly, ModelHealthMinutely, ModelStatsHourly

WRITERS = 4
RECORDS_PER_WRITER = 60


def aggregated(app) -> tuple[int, int, int]:
    """Requests counted by the hourly stats, the histograms and the health minutes."""
    with app.app_context():
        roll_up(db.session)
        totals = tuple(
            int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(t.requests), 0))))
            for t in (ModelStatsHourly, LatencyHistogramHourly, ModelHealthMinutely)
        )
        db.session.remove()
    return totals


def test_concurrent_writers_and_roll_ups_count_every_record_exactly_once(app):
    done = threading.Event()

    def write(writer: int) -> None:
        with app.app_context():
            for n in range(RECORDS_PER_WRITER):
                record_request(
                    service_context(), f"model-{writer % 2}", 0.1 + n / 100, 0.001, n % 5 != 0
                )
                db.session.remove()

    def roll_up_until_done() -> int:
        rounds = 0
        while not done.is_set() or rounds == 0:
            with app.app_context():
                roll_up(db.session)
                db.session.remove()
            rounds += 1
        return rounds

    with ThreadPoolExecutor(WRITERS + 3) as pool:
        rollers = [pool.submit(roll_up_until_done) for _ in range(3)]
        list(pool.map(write, range(WRITERS)))
        done.set()
        assert all(r.result() >= 1 for r in rollers)

    expected = WRITERS * RECORDS_PER_WRITER
    assert aggregated(app) == (expected, expected, expected)
    with app.app_context():
        stats = sorted(tuple(r) for r in db.session.execute(sa.select(ModelStatsHourly.__table__)))
        rebuild_aggregates(db.session)
        db.session.remove()
        rebuilt = sorted(
            tuple(r) for r in db.session.execute(sa.select(ModelStatsHourly.__table__))
        )
        db.session.remove()
    assert [r[:5] for r in rebuilt] == [r[:5] for r in stats]


def ungranted_lock_on_request_metrics(engine) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted "
                    "AND relation = 'request_metrics'::regclass"
                )
            )
        )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_roll_up_waits_for_a_row_whose_id_commits_after_a_higher_one(app, database_url):
    """PostgreSQL hands out ids at insert time and commits them in any order: a roll-up
    that took the highest committed id as its watermark would skip the lower one forever."""
    holder = sa.create_engine(database_url)
    try:
        with holder.connect() as slow:
            slow.execute(
                sa.text(
                    "INSERT INTO request_metrics (model, latency, cost, success, created_at) "
                    "VALUES ('gpt-4', 0.5, 0.01, true, now())"
                )
            )  # its id is handed out; not committed yet
            with app.app_context():
                record_request(
                    service_context(), "gpt-4", 1.5, 0.02, True
                )  # a higher id, committed first
                db.session.remove()
            with ThreadPoolExecutor(1) as pool:
                rolled = pool.submit(aggregated, app)
                deadline = time.monotonic() + 20
                while not ungranted_lock_on_request_metrics(holder):
                    assert time.monotonic() < deadline, "the roll-up did not wait for the insert"
                    assert not rolled.done(), f"the roll-up went ahead: {rolled.result()}"
                    time.sleep(0.02)
                slow.commit()
                assert rolled.result(timeout=20) == (2, 2, 2)
    finally:
        holder.dispose()
    assert aggregated(app) == (2, 2, 2)
