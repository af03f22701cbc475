"""AureaClient against the real service under gunicorn, on SQLite and PostgreSQL.

The tests of this module share one server per database (tokens exist, so every call
needs one); each test uses model names of its own.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from aurea_client import (
    AureaClient,
    AuthenticationError,
    PermissionDeniedError,
    ValidationError,
)

from aurea.storage.extensions import db
from aurea.storage.models import RequestMetric

# These tests state the seed's weighted mode (AUREA_OBJECTIVE=weighted).
pytestmark = [pytest.mark.slow, pytest.mark.weighted_objective]


@pytest.fixture
def admin(live_aurea) -> AureaClient:
    with AureaClient(live_aurea.base_url, token=live_aurea.tokens["admin"]) as client:
        yield client


def test_record_then_select_round_trip(admin):
    assert admin.record("rt-cheap", 0.2, 0.001, True, task="rt") == {
        "status": "recorded",
        "model": "rt-cheap",
    }
    admin.record("rt-dear", 0.9, 0.05, False, task="rt")
    chosen = admin.select(task="rt", window="24h", min_requests=1)
    assert chosen["selected_model"] == "rt-cheap"
    assert chosen["reason"] == "highest_score"
    assert (chosen["window"], chosen["task"]) == ("24h", "rt")
    metrics = admin.metrics(task="rt")
    assert metrics["rt-cheap"]["total_requests"] == 1
    assert metrics["rt-dear"]["success_rate"] == 0.0


def test_select_takes_lists_of_candidates_and_warms_up_the_untried(admin):
    for _ in range(2):
        admin.record("list-veteran", 0.2, 0.001, True)
    admin.record("list-newcomer", 0.9, 0.05, True)  # registers it; one request of the two
    chosen = admin.select(
        models=["list-veteran", "list-newcomer"], exclude=("gpt-4",), min_requests=2
    )
    assert (chosen["selected_model"], chosen["reason"]) == ("list-newcomer", "cold_start")
    assert [e["model"] for e in chosen["ranking"]] == ["list-veteran", "list-newcomer"]


def test_track_records_the_measured_latency_and_the_cost_set_inside(admin):
    with admin.track("track-ok", task="summarize") as call:
        call.cost = 0.002
    assert call.success is True and call.latency >= 0
    assert call.response == {"status": "recorded", "model": "track-ok"}
    entry = admin.metrics(task="summarize")["track-ok"]
    assert entry["total_requests"] == 1
    assert entry["average_cost"] == pytest.approx(0.002)
    assert entry["average_latency"] == pytest.approx(call.latency)


def test_track_records_a_failure_and_reraises_the_exception(admin):
    with pytest.raises(TimeoutError, match="provider timed out"):
        with admin.track("track-fails") as call:
            call.cost = 0.01
            raise TimeoutError("provider timed out")
    assert call.success is False
    entry = admin.metrics()["track-fails"]
    assert (entry["total_requests"], entry["success_rate"]) == (1, 0.0)


def test_track_gives_every_call_its_own_request_id(admin, live_aurea):
    ids = []
    for _ in range(3):
        with admin.track("track-ids") as call:
            pass
        ids.append(call.request_id)
    assert len(set(ids)) == 3
    assert admin.metrics()["track-ids"]["total_requests"] == 3
    with live_aurea.app.app_context():
        stored = db.session.scalars(
            sa.select(RequestMetric.request_id).where(RequestMetric.model == "track-ids")
        ).all()
        db.session.remove()
    assert sorted(stored) == sorted(ids)


def test_a_repeated_request_id_is_counted_once(admin):
    first = admin.record("dup-model", 0.3, 0.01, True, request_id="dup-1")
    again = admin.record("dup-model", 0.3, 0.01, True, request_id="dup-1")
    assert (first["status"], again["status"]) == ("recorded", "duplicate")
    assert admin.metrics()["dup-model"]["total_requests"] == 1


def test_record_many_stores_a_batch_and_counts_repeats_once(admin):
    batch = [
        {"model": "batch-model", "latency": 0.1 * i, "cost": 0.001, "success": True}
        | {"request_id": f"batch-{i}"}
        for i in range(1, 4)
    ]
    assert admin.record_many(batch)["recorded"] == 3
    repeat = admin.record_many(batch)
    assert (repeat["recorded"], repeat["duplicates"]) == (0, 3)
    assert admin.metrics()["batch-model"]["total_requests"] == 3


def test_invalid_fields_raise_validation_error_with_per_field_messages(admin):
    with pytest.raises(ValidationError) as raised:
        admin.record("bad-model", -1.0, 0.0, True)
    assert raised.value.status == 422
    assert "latency" in raised.value.errors["json"]
    with pytest.raises(ValidationError) as raised:
        admin.set_weights(0.5, 0.5, 0.5)
    assert raised.value.status == 400
    assert "sum to 1.0" in raised.value.message


def test_a_missing_or_unknown_token_raises_authentication_error(live_aurea):
    with pytest.raises(AuthenticationError) as raised:
        AureaClient(live_aurea.base_url).select()
    assert raised.value.status == 401
    assert "bearer token" in raised.value.message
    with pytest.raises(AuthenticationError):
        AureaClient(live_aurea.base_url, token="aurea_not-a-token").select()


def test_a_role_that_may_not_raises_permission_denied(live_aurea):
    reader = AureaClient(live_aurea.base_url, token=live_aurea.tokens["reader"])
    recorder = AureaClient(live_aurea.base_url, token=live_aurea.tokens["recorder"])
    assert reader.select()["reason"] in ("highest_score", "cold_start")
    with pytest.raises(PermissionDeniedError) as raised:
        reader.record("perm-model", 0.1, 0.0, True)
    assert raised.value.status == 403
    assert "reader" in raised.value.message
    with pytest.raises(PermissionDeniedError):
        recorder.select()
    with pytest.raises(PermissionDeniedError):
        reader.set_weights(0.4, 0.4, 0.2)
