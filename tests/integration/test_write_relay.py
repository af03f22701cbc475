"""The write relay on both databases: records handed to the writer process are committed
there and acknowledged with the same statuses and errors as records written in place."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from flask_migrate import upgrade
from prometheus_client.parser import text_string_to_metric_families

from aurea.extensions import db
from aurea.models import ModelStatsHourly
from aurea.services import records as records_service
from aurea.services import write_relay as write_relay_module
from aurea.services.group_commit import group_commit
from aurea.services.records import Record, UnknownModel, record_request, record_requests
from aurea.services.registry import create_model
from aurea.services.write_relay import (
    EXTENSION_KEY,
    RELAY_MAX_RECORDS,
    WriteRelay,
    frame,
    relay_paths,
    start_write_relay,
    stop_write_relay,
    write_messages,
)
from config import MIGRATIONS_DIR
from tests.conftest import make_app
from tests.support.counts import stored_counts
from tests.support.server import gunicorn_server

UNKNOWN = "Unknown model (AUREA_STRICT_MODELS is on: register it with POST /router/models)."


@pytest.fixture
def relay_dir():
    """A short folder for the relay's socket (a Unix socket's path is limited to ~100 bytes)."""
    directory = tempfile.mkdtemp(prefix="aurea-relay-")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def migrated_app(database_url, relay_dir, **settings):
    app = make_app(database_url, AUREA_WRITE_RELAY="on", AUREA_RELAY_DIR=relay_dir, **settings)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        db.session.remove()
    return app


def wait_for_writer(relay: WriteRelay, timeout: float = 30.0) -> int:
    """Wait until a writer answers on the relay's socket; return its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        writer = relay._writer
        if writer is not None and writer.poll() is None:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.connect(relay.socket_path)
                return writer.pid
            except OSError:
                pass
        time.sleep(0.05)
    raise AssertionError("no writer listened on the relay's socket")


@pytest.fixture
def relayed(database_url, relay_dir, monkeypatch):
    """(app, relay): an app whose single records go to a running writer process."""
    app = migrated_app(database_url, relay_dir)
    relay = start_write_relay(app)
    assert relay is not None
    wait_for_writer(relay)
    yield app, relay
    stop_write_relay(app)
    dispose(app)


def dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def two_workers(database_url, relay_dir):
    """(first, second, leader, follower): two apps on one database, as two workers of a host.
    The first leads, its writer listening; the second's relay waits for its turn."""
    first = migrated_app(database_url, relay_dir)
    second = make_app(database_url, AUREA_WRITE_RELAY="on", AUREA_RELAY_DIR=relay_dir)
    leader = start_write_relay(first)
    wait_for_writer(leader)
    follower = start_write_relay(second)
    yield first, second, leader, follower
    for app in (first, second):
        stop_write_relay(app)
        dispose(app)


def test_records_handed_to_the_writer_are_committed_there_and_acknowledged(relayed):
    app, _relay = relayed
    with app.app_context():
        first = record_request("gpt-4", 0.5, 0.01, True, request_id="call-1")
        again = record_request("gpt-4", 0.7, 0.02, True, request_id="call-1")
        other = record_request("brand-new-model", 1.5, 0.03, False, task="chat")
        # Written by the writer process: this process's group commit never wrote a group.
        assert group_commit().largest_group == 0
        db.session.remove()
    assert (first, again, other) == ("recorded", "duplicate", "recorded")
    assert stored_counts(app) == (2, 2)


def test_many_threads_recording_through_the_writer_lose_nothing(relayed):
    app, _relay = relayed
    threads, per_thread = 12, 15

    def send(t: int) -> list[str]:
        with app.app_context():
            try:
                return [
                    record_request(f"model-{i % 3}", 0.1 * (i + 1), 0.001, i % 4 != 0)
                    for i in range(per_thread)
                ] + [record_request("gpt-4", 1.0, 0.01, True, request_id=f"shared-{t % 4}")]
            finally:
                db.session.remove()

    with ThreadPoolExecutor(threads) as pool:
        statuses = Counter(s for share in pool.map(send, range(threads)) for s in share)
    # Each of the four shared request ids is stored once, whichever thread came first.
    assert statuses == {"recorded": threads * per_thread + 4, "duplicate": threads - 4}
    assert stored_counts(app) == (threads * per_thread + 4,) * 2
    with app.app_context():
        assert group_commit().largest_group == 0


def test_a_strict_refusal_comes_back_through_the_relay_with_its_field_messages(
    database_url, relay_dir, monkeypatch
):
    monkeypatch.setenv("AUREA_STRICT_MODELS", "1")  # the writer process reads the environment
    app = migrated_app(database_url, relay_dir, AUREA_STRICT_MODELS=True)
    with app.app_context():
        create_model("known")
        db.session.remove()
    relay = start_write_relay(app)
    try:
        wait_for_writer(relay)
        with app.app_context():
            assert record_request("known", 1.0, 0.01, True) == "recorded"
            with pytest.raises(UnknownModel) as refused:
                record_request("stranger", 1.0, 0.01, True)
            assert group_commit().largest_group == 0
            db.session.remove()
        assert refused.value.errors == {"json": {"model": [UNKNOWN]}}
        response = app.test_client().post(
            "/router/record",
            json={"model": "stranger", "latency": 1.0, "cost": 0.1, "success": True},
        )
        assert response.status_code == 422
        assert "model" in response.get_json()["errors"]["json"]
        assert stored_counts(app) == (1, 1)
    finally:
        stop_write_relay(app)


def test_batches_above_the_relay_limit_are_written_by_the_worker_itself(relayed):
    app, _relay = relayed
    batch = [Record("gpt-4", 0.2, 0.001, True) for _ in range(RELAY_MAX_RECORDS + 1)]
    with app.app_context():
        assert record_requests(batch) == ["recorded"] * len(batch)
        assert group_commit().largest_group == 1
        db.session.remove()
    assert stored_counts(app) == (len(batch),) * 2


def test_without_a_listening_writer_the_worker_writes_its_records_itself(database_url, relay_dir):
    app = migrated_app(database_url, relay_dir)
    # A relay that never leads: nothing listens on its socket.
    app.extensions[EXTENSION_KEY] = WriteRelay(
        app, os.path.join(relay_dir, "x.lock"), os.path.join(relay_dir, "x.sock")
    )
    with app.app_context():
        assert record_request("gpt-4", 0.5, 0.01, True) == "recorded"
        assert group_commit().largest_group == 1
        db.session.remove()
    assert stored_counts(app) == (1, 1)


@contextmanager
def fake_writer(relay_dir, answer: bytes | None):
    """A socket that accepts one worker, reads a message and answers ``answer`` (None: never)."""
    socket_path = os.path.join(relay_dir, "fake.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path)
    server.listen(8)
    accepted = []

    def serve():
        connection, _ = server.accept()
        accepted.append(connection)
        connection.recv(65536)
        if answer is not None:
            connection.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield socket_path
    finally:
        for connection in accepted:
            connection.close()
        server.close()


def test_a_writer_that_never_answers_gives_a_503_within_the_budget(database_url, relay_dir):
    app = migrated_app(database_url, relay_dir, AUREA_DB_TIMEOUT=0.5)
    with fake_writer(relay_dir, None) as socket_path:
        app.extensions[EXTENSION_KEY] = WriteRelay(app, socket_path + ".lock", socket_path)
        started = time.monotonic()
        response = app.test_client().post(
            "/router/record", json={"model": "gpt-4", "latency": 1.0, "cost": 0.1, "success": True}
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert elapsed < 5.0  # the budget (0.5 s) and a second for the answer's way back
    assert stored_counts(app) == (0, 0)  # handed over, never written: nothing stored here


def test_records_a_leaving_writer_did_not_take_are_written_by_the_worker(database_url, relay_dir):
    app = migrated_app(database_url, relay_dir)
    with fake_writer(relay_dir, frame({"leaving": True})) as socket_path:
        app.extensions[EXTENSION_KEY] = WriteRelay(app, socket_path + ".lock", socket_path)
        with app.app_context():
            assert record_request("gpt-4", 0.5, 0.01, True) == "recorded"
            assert group_commit().largest_group == 1
            db.session.remove()
    assert stored_counts(app) == (1, 1)


def test_when_the_leading_worker_stops_another_takes_over_and_its_records_are_relayed(
    two_workers,
):
    first, second, _leader, follower = two_workers
    with second.app_context():
        assert record_request("gpt-4", 0.5, 0.01, True) == "recorded"  # via the first's writer
        db.session.remove()
    assert not follower.leading.is_set()
    stop_write_relay(first)
    wait_for_writer(follower)
    assert follower.leading.is_set()
    with second.app_context():
        # The connection to the first writer was told it left, or found closed: the
        # first record after the change may be written here; the next ones are relayed.
        statuses = [record_request("gpt-4", 0.5, 0.01, True) for _ in range(3)]
        assert group_commit().largest_group <= 1
        db.session.remove()
    assert statuses == ["recorded"] * 3
    assert stored_counts(second) == (4, 4)


def test_an_unreadable_message_fails_alone(database_url, relay_dir):
    app = migrated_app(database_url, relay_dir)
    row = ["gpt-4", 1.0, 0.01, True, None, None, None]
    with app.app_context():
        answers = write_messages(
            [
                {"records": [["gpt-4", "slow"]], "batch": False, "deadline": time.monotonic() + 5},
                {"records": [row], "batch": False},
                {"records": [row], "batch": False, "deadline": time.monotonic() + 5},
            ]
        )
    assert [set(a) for a in answers[:2]] == [{"failed"}, {"failed"}]
    assert answers[2] == {"statuses": ["recorded"]}
    assert stored_counts(app) == (1, 1)


def test_a_killed_writer_is_replaced_and_records_reach_the_new_one(relayed):
    app, relay = relayed
    with app.app_context():
        assert record_request("gpt-4", 0.5, 0.01, True) == "recorded"  # connects this thread
        db.session.remove()
    first = relay._writer.pid
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while relay._writer.pid == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wait_for_writer(relay) != first
    with app.app_context():
        # The first finds its connection to the killed writer closed before handing the
        # record over: written here. The next ones reach the new writer.
        statuses = [record_request("gpt-4", 0.5, 0.01, True) for _ in range(3)]
        assert group_commit().largest_group == 1
        db.session.remove()
    assert statuses == ["recorded"] * 3
    assert stored_counts(app) == (4, 4)


def test_messages_written_together_answer_each_with_its_own_outcome(database_url, relay_dir):
    app = migrated_app(database_url, relay_dir, AUREA_STRICT_MODELS=True)
    with app.app_context():
        create_model("known")
        db.session.remove()
        row = ["known", 1.0, 0.01, True, None, "same-call", None]
        answers = write_messages(
            [
                {"records": [row], "batch": False, "deadline": time.monotonic() + 5},
                {"records": [row], "batch": False, "deadline": time.monotonic() + 5},
                {
                    "records": [["stranger", 1.0, 0.01, True, None, None, None]],
                    "batch": True,
                    "deadline": time.monotonic() + 5,
                },
                {
                    "records": [
                        ["known", 2.0, 0.02, False, "chat", None, "2026-06-15T09:30:00+00:00"]
                    ],
                    "batch": False,
                    "deadline": time.monotonic() + 5,
                },
            ]
        )
    assert answers[0] == {"statuses": ["recorded"]}
    assert answers[1] == {"statuses": ["duplicate"]}
    assert set(answers[2]) == {"refused"}
    assert answers[2]["refused"]["errors"] == {"json": {"records": {"0": {"model": [UNKNOWN]}}}}
    assert answers[3] == {"statuses": ["recorded"]}
    with app.app_context():
        hours = db.session.scalars(sa.select(ModelStatsHourly.bucket_start)).all()
    assert len(hours) == 2  # the back-filled record landed in its own hour


def test_a_failed_transaction_answers_every_message_with_the_failure(
    database_url, relay_dir, monkeypatch
):
    app = migrated_app(database_url, relay_dir)

    def database_gone(_take):
        raise sa.exc.OperationalError("COMMIT", None, Exception("server closed the connection"))

    monkeypatch.setattr(records_service, "write_group", database_gone)
    row = ["gpt-4", 1.0, 0.01, True, None, None, None]
    with app.app_context():
        answers = write_messages(
            [{"records": [row], "batch": False, "deadline": time.monotonic() + 5}] * 3
        )
    assert [set(a) for a in answers] == [{"failed"}] * 3
    assert "server closed the connection" in answers[0]["failed"]


@pytest.mark.slow
def test_gunicorn_workers_with_the_relay_on_acknowledge_every_record_once(
    app, database_url, tmp_path, relay_dir
):
    clients, per_client = 8, 40
    env = {"AUREA_WRITE_RELAY": "on", "AUREA_RELAY_DIR": relay_dir}

    def send(c: int) -> list[int]:
        with requests.Session() as session:
            return [
                session.post(
                    f"{base_url}/router/record",
                    json={
                        "model": f"m-{i % 3}",
                        "latency": 0.2,
                        "cost": 0.001,
                        "success": True,
                        "request_id": f"c{c}-{i % (per_client // 2)}",
                    },
                    timeout=30,
                ).json()["status"]
                for i in range(per_client)
            ]

    with gunicorn_server(database_url, workers=2, log_dir=tmp_path, env=env) as base_url:
        deadline = time.monotonic() + 30
        while not list(Path(relay_dir).glob("*.sock")) and time.monotonic() < deadline:
            time.sleep(0.05)
        with ThreadPoolExecutor(clients) as pool:
            statuses = Counter(s for share in pool.map(send, range(clients)) for s in share)
        metrics = requests.get(f"{base_url}/metrics", timeout=30).text
    # Every request id was sent twice: stored once, answered "duplicate" the second time.
    assert statuses == {
        "recorded": clients * per_client // 2,
        "duplicate": clients * per_client // 2,
    }
    assert stored_counts(app) == (clients * per_client // 2,) * 2
    log = (tmp_path / "gunicorn.log").read_text()
    # On its way out the writer says how many records it answered: most, if not all.
    written = re.search(r"writer \(pid \d+\) answered (\d+) records in (\d+) commits", log)
    assert written, log
    assert int(written.group(1)) >= clients * per_client // 4
    assert int(written.group(2)) <= int(written.group(1))
    # The writer's write metrics reach the workers' scrape: every request's records went
    # through exactly one write transaction, the writer's or a worker's.
    groups = {
        sample.name: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name.startswith("aurea_write_group_records_")
    }
    assert groups["aurea_write_group_records_sum"] == clients * per_client
    assert groups["aurea_write_group_records_count"] >= int(written.group(2))


def test_a_request_whose_budget_is_spent_is_not_written_and_does_not_fail_the_others(
    database_url, relay_dir
):
    app = migrated_app(database_url, relay_dir)
    row = ["gpt-4", 1.0, 0.01, True, None, None, None]
    with app.app_context():
        answers = write_messages(
            [
                {"records": [row], "batch": False, "deadline": time.monotonic() - 0.01},
                {"records": [row], "batch": False, "deadline": time.monotonic() + 5},
            ]
        )
    assert set(answers[0]) == {"failed"}
    assert answers[1] == {"statuses": ["recorded"]}
    assert stored_counts(app) == (1, 1)


def test_only_this_user_may_connect_to_the_writer(relayed):
    _app, relay = relayed
    assert stat.S_IMODE(os.stat(relay.socket_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(relay.lock_path).st_mode) == 0o600


def test_a_worker_that_is_shutting_down_does_not_take_the_lead(database_url, relay_dir):
    app = migrated_app(database_url, relay_dir)
    relay = WriteRelay(app, *relay_paths(relay_dir, "x"), alive=lambda: False)
    relay.start()
    relay._thread.join(timeout=5)
    assert not relay._thread.is_alive()
    assert relay._writer is None and not relay.leading.is_set()


def test_a_writer_that_failed_to_start_is_started_again(database_url, relay_dir, monkeypatch):
    app = migrated_app(database_url, relay_dir)
    real_popen = write_relay_module.subprocess.Popen
    attempts = []

    def popen_failing_once(*args, **kwargs):
        attempts.append(args)
        if len(attempts) == 1:
            raise OSError(11, "Resource temporarily unavailable")
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(write_relay_module.subprocess, "Popen", popen_failing_once)
    relay = start_write_relay(app)
    try:
        wait_for_writer(relay)
        assert len(attempts) == 2
        with app.app_context():
            assert record_request("gpt-4", 0.5, 0.01, True) == "recorded"
            assert group_commit().largest_group == 0
            db.session.remove()
    finally:
        stop_write_relay(app)


@pytest.mark.slow
def test_records_sent_while_the_leader_changes_are_all_acknowledged_and_stored(two_workers):
    first, second, _leader, follower = two_workers
    threads, per_thread = 6, 60
    started = threading.Barrier(threads + 1)

    def send(t: int) -> list[str]:
        with second.app_context():
            started.wait()
            try:
                out = []
                for i in range(per_thread):
                    out.append(record_request(f"m-{t}", 0.1, 0.001, True, request_id=f"{t}-{i}"))
                    time.sleep(0.005)
                return out
            finally:
                db.session.remove()

    with ThreadPoolExecutor(threads) as pool:
        shares = [pool.submit(send, t) for t in range(threads)]
        started.wait()
        time.sleep(0.3)
        stop_write_relay(first)  # the writer leaves while records keep coming
        statuses = Counter(s for share in shares for s in share.result())
    assert statuses == {"recorded": threads * per_thread}
    assert stored_counts(second) == (threads * per_thread,) * 2
    wait_for_writer(follower)
