"""A record acknowledged with a 2xx survives the whole service being SIGKILLed mid-stream.

Eight clients record distinct records (model ``crash-<client>``, latency = the client's
sequence number) through four gunicorn workers; the process group is killed with SIGKILL
while requests are in flight, gunicorn is started again on the same database, and every
acknowledged record must be in request_metrics and counted in the hourly aggregates.

The kill takes the processes, not the machine: this proves that acknowledged means
committed. That a commit also survives power loss is what SQLite's synchronous=FULL
and PostgreSQL's synchronous_commit=on (forced here; the suite's URLs turn it off) are for.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.support.server import gunicorn_process, gunicorn_server

pytestmark = pytest.mark.slow

CLIENTS = 8
WORKERS = 4
# Kill once this many records are acknowledged; each client stops at its first failure.
KILL_AFTER_ACKS = 400
MAX_PER_CLIENT = 5000
SEND_SECONDS = 30


def durable(database_url: str) -> str:
    """The same database with PostgreSQL's synchronous_commit back on."""
    url = make_url(database_url)
    options = url.query.get("options")
    if options is None:
        return database_url
    options = options.replace("synchronous_commit=off", "synchronous_commit=on")
    return url.update_query_dict({"options": options}).render_as_string(hide_password=False)


def send_until_failure(base_url: str, client: int, acked: list, stop: threading.Event) -> None:
    deadline = time.monotonic() + SEND_SECONDS
    with requests.Session() as session:
        for seq in range(MAX_PER_CLIENT):
            if stop.is_set() or time.monotonic() > deadline:
                return
            record = {"model": f"crash-{client}", "latency": float(seq), "cost": 0.001}
            try:
                response = session.post(
                    f"{base_url}/router/record", json={**record, "success": True}, timeout=10
                )
            except requests.RequestException:
                return  # the server is gone
            if 200 <= response.status_code < 300:
                acked.append((record["model"], record["latency"]))


def test_every_acknowledged_record_survives_sigkill_of_all_workers(app, database_url, tmp_path):
    url = durable(database_url)
    acked: list[tuple[str, float]] = []
    stop = threading.Event()

    with gunicorn_process(url, WORKERS, tmp_path, log_name="before-kill.log") as (base, master):
        with ThreadPoolExecutor(CLIENTS) as pool:
            clients = [
                pool.submit(send_until_failure, base, c, acked, stop) for c in range(CLIENTS)
            ]
            deadline = time.monotonic() + SEND_SECONDS
            while len(acked) < KILL_AFTER_ACKS and time.monotonic() < deadline:
                time.sleep(0.01)
            os.killpg(master.pid, signal.SIGKILL)
            master.wait(timeout=10)
            killed_at = len(acked)
            stop.set()
            for client in clients:
                client.result(timeout=SEND_SECONDS)
    assert killed_at >= KILL_AFTER_ACKS, "the kill should come while clients are recording"

    with gunicorn_server(url, workers=WORKERS, log_dir=tmp_path) as base:
        metrics = requests.get(f"{base}/router/metrics", timeout=10).json()
        after = requests.post(
            f"{base}/router/record",
            json={"model": "crash-after", "latency": 1.0, "cost": 0.0, "success": True},
            timeout=10,
        )
        assert after.status_code == 200, after.text
        # A read rolls every committed record up into the aggregates (checked below).
        assert requests.get(f"{base}/router/select", timeout=10).status_code == 200

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                assert conn.execute(sa.text("SHOW synchronous_commit")).scalar() == "on"
            stored = conn.execute(
                sa.text("SELECT model, latency FROM request_metrics WHERE model LIKE 'crash-%'")
            ).all()
            raw = dict(
                conn.execute(
                    sa.text(
                        "SELECT model, COUNT(*) FROM request_metrics "
                        "WHERE model LIKE 'crash-%' GROUP BY model"
                    )
                ).all()
            )
            aggregated = dict(
                conn.execute(
                    sa.text(
                        "SELECT model, SUM(requests) FROM model_stats_hourly "
                        "WHERE model LIKE 'crash-%' GROUP BY model"
                    )
                ).all()
            )
            binned = dict(
                conn.execute(
                    sa.text(
                        "SELECT model, SUM(requests) FROM latency_histogram_hourly "
                        "WHERE model LIKE 'crash-%' GROUP BY model"
                    )
                ).all()
            )
    finally:
        engine.dispose()

    stored_records = Counter(
        (model, float(latency)) for model, latency in stored if model != "crash-after"
    )
    assert not [r for r, n in stored_records.items() if n > 1], "a record was stored twice"
    lost = set(acked) - set(stored_records)
    assert not lost, f"{len(lost)} acknowledged records were lost, e.g. {sorted(lost)[:5]}"
    # A request in flight at the kill may have committed without its answer getting out.
    assert len(stored_records) - len(acked) <= CLIENTS
    assert raw["crash-after"] == 1
    assert {m: int(n) for m, n in aggregated.items()} == raw
    assert {m: int(n) for m, n in binned.items()} == raw
    # The restarted service reads the same totals from the aggregates.
    for model, count in raw.items():
        if model != "crash-after":
            assert metrics[model]["total_requests"] == count, model
