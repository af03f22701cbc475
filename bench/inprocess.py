"""Per-request cost in process (Flask test client, no HTTP server), for profiling.

    .venv/bin/python -m bench.inprocess            # times select, metrics, a 500-record batch
    .venv/bin/python -m bench.inprocess --profile /router/select
    .venv/bin/python -m bench.inprocess --profile-batch
    .venv/bin/python -m bench.inprocess --profile-record
    .venv/bin/python -m bench.inprocess --postgres postgresql://postgres@127.0.0.1:5432/test

Runs on a fresh SQLite file under bench/work (or a fresh schema in the PostgreSQL database
given) with 1,000 preloaded rows.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
import uuid

from flask_migrate import upgrade

from aurea.app import create_app
from aurea.storage.extensions import db
from bench.load import MODELS, bulk_load
from bench.run import WORK, fresh_database
from config import MIGRATIONS_DIR, Config, normalize_database_url

BATCH = {
    "records": [
        {
            "model": m,
            "latency": 0.2 + (i % 17) / 10,
            "cost": 0.001 * (i % 7 + 1),
            "success": i % 10 != 0,
        }
        for i, m in enumerate(list(MODELS) * 100)
    ]
}


def app_with_rows(rows: int, url: str | None = None):
    WORK.mkdir(parents=True, exist_ok=True)
    url = url or f"sqlite:///{WORK / f'inprocess-{uuid.uuid4().hex[:8]}.db'}"
    app = create_app(type("BenchConfig", (Config,), {"SQLALCHEMY_DATABASE_URI": url}))
    app.add_url_rule("/bench/hello", "hello", lambda: {"hello": "world"})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        bulk_load(db.engine, rows)
    return app


def timed(client, method: str, path: str, n: int, body=None) -> float:
    client.open(path, method=method, json=body)
    start = time.perf_counter()
    for _ in range(n):
        client.open(path, method=method, json=body)
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", metavar="PATH", help="cProfile 300 GETs of PATH")
    parser.add_argument("--profile-batch", action="store_true", help="cProfile 20 batches of 500")
    parser.add_argument("--profile-record", action="store_true", help="cProfile 300 records")
    parser.add_argument("--postgres", metavar="URL", help="run on a fresh schema there")
    args = parser.parse_args()
    url, drop = (None, None)
    if args.postgres:
        url, drop = fresh_database("postgresql", normalize_database_url(args.postgres))
    app = app_with_rows(1000, url)
    try:
        run(args, app.test_client())
    finally:
        if drop:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            drop()


def profiled(requests) -> None:
    """cProfile ``requests()`` and print the 30 costliest calls, cumulative."""
    profile = cProfile.Profile()
    profile.enable()
    requests()
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(30)


def run(args, client) -> None:
    one = BATCH["records"][0]
    if args.profile_batch:
        return profiled(lambda: [client.post("/router/records", json=BATCH) for _ in range(20)])
    if args.profile_record:
        return profiled(lambda: [client.post("/router/record", json=one) for _ in range(300)])
    if args.profile:
        return profiled(lambda: [client.get(args.profile) for _ in range(300)])
    for path in ("/bench/hello", "/router/select", "/router/metrics"):
        print(f"GET {path}: {timed(client, 'GET', path, 300):.2f} ms per request")
    print(f"POST /router/record: {timed(client, 'POST', '/router/record', 100, one):.2f} ms")
    batch_ms = timed(client, "POST", "/router/records", 10, BATCH)
    print(f"POST /router/records (500): {batch_ms:.1f} ms per batch")


if __name__ == "__main__":
    main()
