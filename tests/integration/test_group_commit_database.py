"""Records of requests that arrive together share one transaction, on both databases."""

import time

import sqlalchemy as sa
from flask_migrate import upgrade

from aurea.extensions import db
from aurea.models import ModelStatsHourly, RequestMetric
from aurea.services import driver_sql
from aurea.services.group_commit import group_commit
from aurea.services.records import Record, UnknownModel, record_requests
from aurea.services.registry import create_model
from config import MIGRATIONS_DIR
from tests.conftest import make_app
from tests.support.queued import run_queued


def record_together(app, batches):
    """Queue every batch behind a held write lock, release it; return each outcome."""
    with app.app_context():
        gc = group_commit()

    def submitter(records):
        def submit():
            with app.app_context():
                try:
                    return record_requests(records, batch=False)
                finally:
                    db.session.remove()

        return submit

    return run_queued(gc, [submitter(b) for b in batches]), gc


def test_requests_queued_together_are_stored_in_one_commit(app):
    batches = [
        [Record("gpt-4", 0.5 + i, 0.01, i % 2 == 0, request_id=f"req-{i}")] for i in range(6)
    ]
    batches.append([Record("gpt-4", 9.0, 0.5, True, request_id="req-0")])  # a retried copy
    outcomes, gc = record_together(app, batches)
    assert outcomes == [["recorded"]] * 6 + [["duplicate"]]
    assert gc.largest_group == 7
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestMetric)) == 6
        assert db.session.scalar(sa.select(sa.func.sum(ModelStatsHourly.requests))) == 6


def test_a_refused_request_in_a_group_leaves_the_others_stored(database_url):
    app = make_app(database_url, AUREA_STRICT_MODELS=True)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        create_model("known")
        db.session.remove()
    outcomes, _gc = record_together(
        app,
        [[Record("known", 1.0, 0.01, True)], [Record("stranger", 1.0, 0.01, True)]],
    )
    assert outcomes[0] == ["recorded"]
    assert isinstance(outcomes[1], UnknownModel)
    with app.app_context():
        models = db.session.scalars(sa.select(RequestMetric.model)).all()
        assert models == ["known"]
        db.session.remove()


def test_a_duplicate_never_marks_its_model_as_registered(ctx):
    statuses = record_requests(
        [
            Record("ghost-a", 1.0, 0.01, True, request_id="same"),
            Record("ghost-b", 1.0, 0.01, True, request_id="same"),
        ]
    )
    assert statuses == ["recorded", "duplicate"]
    # ghost-b was never registered: its first own record must register it, not fail
    assert record_requests([Record("ghost-b", 1.0, 0.01, True)]) == ["recorded"]


def test_rows_with_request_ids_are_inserted_in_chunks(ctx, monkeypatch):
    monkeypatch.setattr(driver_sql, "PARAMETERS_PER_STATEMENT", 14)  # two rows per INSERT
    batch = [Record("gpt-4", 1.0, 0.01, True, request_id=f"c-{i % 4}") for i in range(6)]
    assert record_requests(batch) == ["recorded"] * 4 + ["duplicate"] * 2
    assert record_requests(batch[:1]) == ["duplicate"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestMetric)) == 4


def test_a_record_waiting_behind_another_group_past_its_budget_gets_a_503_and_is_not_stored(
    database_url,
):
    app = make_app(database_url, AUREA_DB_TIMEOUT=0.3)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        gc = group_commit()
    gc.write_lock.acquire()  # a group of this worker is being written, and takes too long
    try:
        started = time.monotonic()
        response = app.test_client().post(
            "/router/record", json={"model": "gpt-4", "latency": 0.5, "cost": 0.01, "success": True}
        )
        waited = time.monotonic() - started
    finally:
        gc.write_lock.release()
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert 0.3 <= waited < 2
    assert gc.pending == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RequestMetric)) == 0
