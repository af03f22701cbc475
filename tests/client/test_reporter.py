"""BufferedReporter's retries, refusals and counters, against a scripted stub server."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aurea_client import BufferedReporter

from tests.support.server import free_port
from tests.support.stub_http import Canned, StubServer

OK = Canned(200, {"status": "recorded", "recorded": 1, "duplicates": 0})
DOWN = Canned(503, {"code": 503, "status": "Service Unavailable", "message": "down"})


def test_a_5xx_batch_is_sent_again_with_the_same_request_ids():
    with StubServer(DOWN, Canned(502, {"message": "gateway"}), OK) as s:
        reporter = BufferedReporter(s.url, backoff=0.01)
        reporter.record("m", 0.5, 0.01, True)
        reporter.record("m", 0.7, 0.02, False)
        assert reporter.close(timeout=30)
    assert len(s.seen) == 3
    first, *again = (seen.body["records"] for seen in s.seen)
    assert all(batch == first for batch in again)
    assert [item["request_id"] for item in first] != [None, None]
    assert (reporter.sent, reporter.failed) == (2, 0)


def test_request_ids_are_time_ordered_uuid7():
    with StubServer(OK) as s:
        reporter = BufferedReporter(s.url)
        reporter.record("m", 0.5, 0.0, True)
        time.sleep(0.002)  # the next millisecond
        reporter.record("m", 0.5, 0.0, True)
        assert reporter.flush(timeout=30)
    ids = [uuid.UUID(item["request_id"]) for seen in s.seen for item in seen.body["records"]]
    assert [i.version for i in ids] == [7, 7]
    assert ids[0] < ids[1]
    reporter.close(5)


def test_retry_after_is_honoured_for_a_429():
    with StubServer(Canned(429, {"message": "slow down"}, headers={"Retry-After": "0.3"}), OK) as s:
        reporter = BufferedReporter(s.url, backoff=0.0)
        reporter.record("m", 0.5, 0.0, True)
        assert reporter.flush(timeout=30)
    first, second = s.seen
    assert second.at - first.at >= 0.3
    assert reporter.sent == 1
    reporter.close(5)


def test_retries_end_after_retry_for_and_the_batch_counts_as_failed(caplog):
    with StubServer(DOWN) as s:
        reporter = BufferedReporter(s.url, retry_for=0.2, backoff=0.02, max_backoff=0.05)
        for _ in range(3):
            reporter.record("m", 0.5, 0.0, True)
        with caplog.at_level(logging.WARNING, logger="aurea_client.reporter"):
            assert reporter.flush(timeout=30)  # settled: given up
    assert (reporter.sent, reporter.failed, reporter.queued) == (0, 3, 0)
    assert len(s.seen) >= 2
    assert "gave up on 3 outcome(s)" in caplog.text
    assert not reporter.close(5)  # something was lost


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_a_4xx_batch_is_rejected_at_once(status):
    with StubServer(Canned(status, {"message": f"refused {status}"})) as s:
        reporter = BufferedReporter(s.url, backoff=60)
        reporter.record("m", 0.5, 0.0, True)
        reporter.record("m", 0.6, 0.0, True)
        assert reporter.flush(timeout=30)
    assert len(s.seen) == 1
    assert (reporter.sent, reporter.rejected, reporter.failed) == (0, 2, 0)
    reporter.close(5)


def test_a_422_naming_items_rejects_them_and_sends_the_rest_once():
    refusal = Canned(
        422,
        {"code": 422, "errors": {"json": {"records": {"1": {"model": ["Too long."]}}}}},
    )
    with StubServer(refusal, OK) as s:
        reporter = BufferedReporter(s.url)
        for name in ("a", "b", "c"):
            reporter.record(name, 0.5, 0.0, True)
        assert reporter.flush(timeout=30)
    assert [item["model"] for item in s.seen[1].body["records"]] == ["a", "c"]
    assert (reporter.sent, reporter.rejected) == (2, 1)
    reporter.close(5)


def test_a_second_422_rejects_the_whole_rest():
    refusal = Canned(422, {"code": 422, "errors": {"json": {"records": {"0": {"x": ["no"]}}}}})
    with StubServer(refusal) as s:
        reporter = BufferedReporter(s.url)
        for name in ("a", "b", "c"):
            reporter.record(name, 0.5, 0.0, True)
        assert reporter.flush(timeout=30)
    assert len(s.seen) == 2
    assert (reporter.sent, reporter.rejected) == (0, 3)
    reporter.close(5)


@pytest.mark.parametrize(
    "outcome",
    [
        ("", 0.1, 0.0, True),
        (None, 0.1, 0.0, True),
        ("m", -1.0, 0.0, True),
        ("m", float("inf"), 0.0, True),
        ("m", 0.1, float("nan"), True),
        ("m", "0.1", 0.0, True),
        ("m", 0.1, 0.0, 1),
        ("m", True, 0.0, True),
    ],
)
def test_values_aurea_cannot_take_are_rejected_by_record(outcome):
    reporter = BufferedReporter(f"http://127.0.0.1:{free_port()}")
    assert reporter.record(*outcome) is False
    assert (reporter.rejected, reporter.queued) == (1, 0)
    reporter.close(0)


def test_an_outcome_sent_late_carries_the_time_of_its_record():
    with StubServer(DOWN, OK) as s:
        reporter = BufferedReporter(s.url, stamp_after=0.2, backoff=0.5)
        before = datetime.now(UTC)
        reporter.record("m", 0.5, 0.0, True)
        after = datetime.now(UTC)
        assert reporter.flush(timeout=30)
    (first,), (again,) = (seen.body["records"] for seen in s.seen)
    assert "timestamp" not in first  # prompt: Aurea's clock stamps it
    slack = timedelta(milliseconds=1)  # time.time() and datetime.now() round apart
    assert before - slack <= datetime.fromisoformat(again["timestamp"]) <= after + slack
    assert s.seen[1].at - s.seen[0].at >= 0.2
    reporter.close(5)


def test_a_naive_timestamp_is_rejected_and_an_aware_one_sent_as_iso():
    with StubServer(OK) as s:
        reporter = BufferedReporter(s.url, stamp_after=None)
        assert not reporter.record("m", 0.1, 0.0, True, timestamp=datetime(2026, 6, 15, 10))
        assert reporter.record("m", 0.1, 0.0, True, timestamp=datetime(2026, 6, 15, 10, tzinfo=UTC))
        assert reporter.record("m", 0.2, 0.0, True)
        assert reporter.flush(timeout=30)
    stamped, unstamped = s.seen[0].body["records"]
    assert stamped["timestamp"] == "2026-06-15T10:00:00+00:00"
    assert "timestamp" not in unstamped
    reporter.close(5)


def test_max_batch_outcomes_are_sent_without_waiting_for_the_interval():
    with StubServer(OK) as s:
        reporter = BufferedReporter(s.url, max_batch=10, flush_interval=3600)
        for i in range(25):
            reporter.record("m", 0.01 * i, 0.0, True)
        sizes = [len(seen.body["records"]) for seen in _wait_seen(s, 2)]
        assert sizes[:2] == [10, 10]
        assert reporter.close(timeout=30)
    assert sum(len(seen.body["records"]) for seen in s.seen) == 25
    assert all(len(seen.body["records"]) <= 10 for seen in s.seen)


def _wait_seen(stub: StubServer, count: int, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while len(stub.seen) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(stub.seen)


def test_close_gives_up_at_its_deadline_when_aurea_never_answers(silent_server):
    reporter = BufferedReporter(f"http://127.0.0.1:{silent_server}", timeout=30)
    for _ in range(4):
        reporter.record("m", 0.1, 0.0, True)
    assert not reporter.flush(timeout=0.2)  # the batch is now in a request that hangs
    assert reporter.close(timeout=0.3) is False
    assert (reporter.sent, reporter.failed, reporter.queued) == (0, 4, 0)


def test_settings_out_of_range_are_refused():
    with pytest.raises(ValueError, match="max_batch"):
        BufferedReporter("http://x", max_batch=1001)
    with pytest.raises(ValueError, match="max_queue"):
        BufferedReporter("http://x", max_queue=10, max_batch=100)
    with pytest.raises(ValueError):
        BufferedReporter("http://x", flush_interval=0)
