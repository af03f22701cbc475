"""End to end: outcomes per second from one process through BufferedReporter into Aurea.

For each database (SQLite, and PostgreSQL when AUREA_BENCH_POSTGRES_URL is set) it starts
gunicorn with the production config (2 workers) on a fresh database, then, in rounds, records
BENCH_OUTCOMES outcomes from this process's main thread as fast as it can through one
``BufferedReporter`` (default settings except a queue that holds a whole round, so none is
dropped) and waits for ``flush()``. A round's figure is the outcomes stored, counted in the
database, divided by the time from the first ``record`` to the end of the flush. It also
reports the caller's cost of one ``record`` call, and prints a table; ``make bench``
(bench/run.py) runs it with ``--json PATH`` and adds the figures to bench/results.json and
bench/results.md.

    python -m bench.reporter

Environment: BENCH_OUTCOMES (per round, default 100000), BENCH_ROUNDS (default 3),
BENCH_STAMP_AFTER (the reporter's ``stamp_after``, default its own 5 s: outcomes delivered
promptly go without a timestamp; 0 sends every outcome's timestamp).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import sqlalchemy as sa
from aurea_client import BufferedReporter

from bench.run import WORKERS, database_urls, fresh_database, migrate, start_gunicorn, stop
from config import normalize_database_url

OUTCOMES = int(os.environ.get("BENCH_OUTCOMES", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SETTINGS = {}  # BufferedReporter's own defaults unless the environment says otherwise
if "BENCH_STAMP_AFTER" in os.environ:
    SETTINGS["stamp_after"] = float(os.environ["BENCH_STAMP_AFTER"])
if "BENCH_SENDERS" in os.environ:
    SETTINGS["senders"] = int(os.environ["BENCH_SENDERS"])
MODELS = ["gpt-4", "gpt-3.5-turbo", "claude-3-opus", "claude-3-sonnet", "llama-2-70b"]
TASKS = [None, "code", "summarize", None]


def stored(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM request_metrics")).scalar_one()


def one_round(base_url: str, engine: sa.Engine) -> dict:
    before = stored(engine)
    reporter = BufferedReporter(base_url, max_queue=OUTCOMES, **SETTINGS)
    started = time.perf_counter()
    for i in range(OUTCOMES):
        reporter.record(
            MODELS[i % 5], 0.2 + (i % 97) / 100, 0.001 * (i % 7), i % 23 != 0, task=TASKS[i % 4]
        )
    recorded = time.perf_counter()
    delivered = reporter.flush(timeout=600)
    finished = time.perf_counter()
    reporter.close(10)
    rows = stored(engine) - before
    return {
        "outcomes": OUTCOMES,
        "rows_stored": rows,
        "outcomes_per_s": rows / (finished - started),
        "record_us": (recorded - started) / OUTCOMES * 1e6,
        "seconds": finished - started,
        "flushed": delivered,
        "sent": reporter.sent,
        "dropped": reporter.dropped,
        "rejected": reporter.rejected,
        "failed": reporter.failed,
    }


def bench_database(kind: str, base: str, port: int) -> dict:
    url, drop = fresh_database(kind, base)
    try:
        migrate(url)
        engine = sa.create_engine(normalize_database_url(url))
        process = start_gunicorn(url, port)
        try:
            base_url = f"http://127.0.0.1:{port}"
            rounds = [one_round(base_url, engine) for _ in range(ROUNDS)]
        finally:
            stop(process)
            engine.dispose()
    finally:
        drop()
    median = sorted(rounds, key=lambda r: r["outcomes_per_s"])[len(rounds) // 2]
    return {
        "database": kind,
        "workers": WORKERS,
        "stamp_after": reporter_stamp_after(),
        **median,
        "rounds_outcomes_per_s": [r["outcomes_per_s"] for r in rounds],
        "record_us_median": statistics.median(r["record_us"] for r in rounds),
    }


def reporter_stamp_after() -> float | None:
    return BufferedReporter("http://127.0.0.1:9", **SETTINGS).stamp_after


def run_all(port: int | None = None) -> list[dict]:
    port = port or 19000 + os.getpid() % 1000
    results = []
    for kind, base in database_urls().items():
        print(f"bench.reporter: {kind}, {ROUNDS} rounds of {OUTCOMES:,} outcomes ...", flush=True)
        results.append(bench_database(kind, base, port))
    return results


def table(results: list[dict]) -> str:
    lines = [
        "| database | outcomes/s end to end (median round) | rounds | record() µs per call "
        "| stored / recorded | dropped | failed |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rounds = ", ".join(f"{x:,.0f}" for x in r["rounds_outcomes_per_s"])
        lines.append(
            f"| {r['database']} | {r['outcomes_per_s']:,.0f} | {rounds} | "
            f"{r['record_us_median']:.1f} | {r['rows_stored']:,} / {r['outcomes']:,} | "
            f"{r['dropped']} | {r['failed']} |"
        )
    return "\n".join(lines)


def main() -> None:
    results = run_all()
    print(table(results))
    if "--json" in sys.argv:  # bench.run reads the figures from this file
        path = sys.argv[sys.argv.index("--json") + 1]
        with open(path, "w") as out:
            json.dump({"runs": results, "table": table(results)}, out, indent=2)


if __name__ == "__main__":
    main()
