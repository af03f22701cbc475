"""BufferedReporter against the real service under gunicorn, on SQLite and PostgreSQL.

Outages are made by a TCP proxy between the reporter and gunicorn. Each test uses model names
of its own on the module's shared server.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from aurea_client import BufferedReporter

from aurea.storage.extensions import db
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow


def stored(live_aurea, model: str) -> list[dict]:
    """The raw rows of ``model``, oldest first."""
    with live_aurea.app.app_context():
        rows = db.session.execute(
            sa.text(
                "SELECT model, latency, cost, success, task, request_id, created_at "
                "FROM request_metrics WHERE model = :model ORDER BY id"
            ),
            {"model": model},
        )
        found = [dict(row._mapping) for row in rows]
        db.session.remove()
    return found


def wait_for_rows(live_aurea, model: str, count: int, seconds: float = 30) -> list[dict]:
    deadline = time.monotonic() + seconds
    rows = stored(live_aurea, model)
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = stored(live_aurea, model)
    return rows


@pytest.fixture
def recorder_token(live_aurea) -> str:
    return live_aurea.tokens["recorder"]


@pytest.fixture
def proxy(live_aurea):
    """A TCP proxy in front of the server, for outages."""
    with TcpProxy("127.0.0.1", int(live_aurea.base_url.rsplit(":", 1)[1])) as tcp:
        yield tcp


def through(proxy: TcpProxy) -> str:
    return f"http://127.0.0.1:{proxy.port}"


def test_recorded_outcomes_arrive_as_rows_with_their_fields(live_aurea, recorder_token):
    when = datetime.now(UTC) - timedelta(minutes=5)
    with BufferedReporter(live_aurea.base_url, recorder_token, max_batch=100) as reporter:
        for i in range(250):
            assert reporter.record("buf-rows", 0.01 * i, 0.001, i % 5 != 0, task="code")
        assert reporter.record("buf-rows", 1.5, 0.25, False, request_id="buf-id", timestamp=when)
        assert reporter.flush(timeout=30)
        assert (reporter.sent, reporter.queued) == (251, 0)
    rows = stored(live_aurea, "buf-rows")
    assert len(rows) == 251
    assert sum(not row["success"] for row in rows) == 51
    assert [row["task"] for row in rows].count("code") == 250
    assert len({row["request_id"] for row in rows}) == 251  # each outcome has its own
    last = next(row for row in rows if row["request_id"] == "buf-id")
    assert (last["latency"], last["cost"]) == (1.5, 0.25)
    created = last["created_at"]
    created = created if isinstance(created, datetime) else datetime.fromisoformat(created)
    created = created.replace(tzinfo=UTC) if created.tzinfo is None else created
    assert abs(created - when) < timedelta(seconds=1)
    assert (reporter.dropped, reporter.rejected, reporter.failed) == (0, 0, 0)


def test_close_sends_what_is_queued(live_aurea, recorder_token):
    reporter = BufferedReporter(live_aurea.base_url, recorder_token, flush_interval=3600)
    for _ in range(7):
        reporter.record("buf-close", 0.2, 0.0, True)
    assert reporter.close(timeout=30)
    assert len(stored(live_aurea, "buf-close")) == 7
    assert reporter.sent == 7
    assert reporter.record("buf-close", 0.2, 0.0, True) is False  # closed: dropped
    assert reporter.dropped == 1


def test_a_full_queue_drops_and_counts_without_blocking(live_aurea, recorder_token, proxy):
    proxy.black_hole()  # the first batch's request hangs; everything else waits behind it
    reporter = BufferedReporter(
        through(proxy), recorder_token, max_queue=200, max_batch=50, flush_interval=0.05
    )
    accepted = [reporter.record("buf-full", 0.1, 0.0, True) for _ in range(230)]
    assert accepted == [True] * 200 + [False] * 30
    assert (reporter.dropped, reporter.queued, reporter.sent) == (30, 200, 0)
    proxy.restore()  # resets the hung connection: the reporter retries
    assert reporter.flush(timeout=60)
    assert len(stored(live_aurea, "buf-full")) == 200
    assert (reporter.sent, reporter.dropped, reporter.failed) == (200, 30, 0)
    reporter.close(5)


def test_an_outage_is_retried_and_then_delivered(live_aurea, recorder_token, proxy):
    proxy.refuse()
    reporter = BufferedReporter(
        through(proxy), recorder_token, max_batch=40, flush_interval=0.05, backoff=0.05
    )
    for i in range(100):
        reporter.record("buf-outage", 0.1, 0.0, i % 2 == 0)
    assert not reporter.flush(timeout=0.5)  # nothing can be delivered yet
    assert (reporter.sent, reporter.queued, reporter.failed) == (0, 100, 0)
    assert stored(live_aurea, "buf-outage") == []
    proxy.restore()
    assert reporter.flush(timeout=60)
    assert (reporter.sent, reporter.failed) == (100, 0)
    assert len(stored(live_aurea, "buf-outage")) == 100
    reporter.close(5)


def test_a_batch_stored_but_unanswered_is_sent_again_without_duplicates(
    live_aurea, recorder_token, proxy
):
    proxy.drop_answers()  # Aurea stores the batch; the reporter never hears so
    reporter = BufferedReporter(
        through(proxy), recorder_token, timeout=0.5, backoff=0.05, flush_interval=0.05
    )
    for _ in range(30):
        reporter.record("buf-dup", 0.3, 0.01, True)
    assert len(wait_for_rows(live_aurea, "buf-dup", 30)) == 30
    assert reporter.sent == 0  # it is still retrying
    proxy.restore()
    assert reporter.flush(timeout=60)
    assert reporter.sent == 30
    rows = stored(live_aurea, "buf-dup")
    assert len(rows) == 30
    assert len({row["request_id"] for row in rows}) == 30
    reporter.close(5)


def test_refused_items_are_rejected_and_the_rest_of_their_batch_stored(live_aurea, recorder_token):
    with BufferedReporter(live_aurea.base_url, recorder_token) as reporter:
        reporter.record("buf-mixed", 0.1, 0.0, True)
        reporter.record("buf-\x01bad", 0.1, 0.0, True)  # Aurea refuses control characters
        reporter.record("buf-mixed", 0.2, 0.0, True)
        reporter.record("buf-mixed", float("nan"), 0.0, True)  # refused by record() itself
        assert reporter.flush(timeout=30)
        assert (reporter.sent, reporter.rejected, reporter.failed) == (2, 2, 0)
    assert [row["latency"] for row in stored(live_aurea, "buf-mixed")] == [0.1, 0.2]


def test_a_token_without_the_right_role_is_rejected_not_retried(live_aurea):
    reporter = BufferedReporter(live_aurea.base_url, live_aurea.tokens["reader"], backoff=60)
    for _ in range(5):
        reporter.record("buf-reader", 0.1, 0.0, True)
    assert reporter.flush(timeout=30)  # a 403 settles at once: no 60 s backoff
    assert (reporter.sent, reporter.rejected, reporter.failed) == (0, 5, 0)
    assert stored(live_aurea, "buf-reader") == []
    reporter.close(5)


def test_a_forked_child_sends_its_own_outcomes_once(live_aurea, recorder_token):
    reporter = BufferedReporter(live_aurea.base_url, recorder_token, flush_interval=3600)
    reporter.record("buf-fork", 0.1, 0.0, True, task="parent")
    pid = os.fork()
    if pid == 0:  # the child: an empty queue, zero counters, its own thread
        ok = reporter.queued == 0 and reporter.sent == 0
        reporter.record("buf-fork", 0.2, 0.0, True, task="child")
        ok = reporter.close(timeout=30) and ok and reporter.sent == 1
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert reporter.queued == 1  # the parent still holds its own outcome
    assert reporter.close(timeout=30)
    tasks = sorted(row["task"] for row in stored(live_aurea, "buf-fork"))
    assert tasks == ["child", "parent"]
