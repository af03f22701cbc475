"""Measure Aurea under gunicorn with wrk, beside a hello-world yardstick in the same run.

For each database (SQLite, and PostgreSQL when AUREA_BENCH_POSTGRES_URL is set) and each
size (1,000 and 1,000,000 preloaded rows over 5 models and 90 days) it starts gunicorn with
the production config (2 workers), warms up, and measures each endpoint in 3 rounds of a wrk
run of the yardstick then one of the endpoint: the median run, and the median of the rounds'
ratios. Then the buffered client's end-to-end rate (bench/reporter.py). It writes
bench/results.json, and bench/results.md: the new tables on top, then every ``## `` section
already there (the history: notes on each run, written by hand). It prints the tables. It
never fails on a number: it reports.

Environment: BENCH_DURATION (seconds per run, default 5), BENCH_CONNECTIONS (default 8),
BENCH_SIZES (default "1000,1000000").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.load import bulk_load
from config import normalize_database_url

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
DURATION = int(os.environ.get("BENCH_DURATION", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "1000,1000000").split(",")]
WORKERS = 2
YARDSTICK = "/bench/hello"
# name, method, path, wrk script, rows stored per request
ENDPOINTS = [
    ("select", "GET", "/router/select", None, 0),
    ("metrics", "GET", "/router/metrics", None, 0),
    ("record", "POST", "/router/record", "record.lua", 1),
    ("batch", "POST", "/router/records", "records.lua", 500),
]


def database_urls() -> dict[str, str]:
    urls = {"sqlite": "sqlite"}
    if os.environ.get("AUREA_BENCH_POSTGRES_URL"):
        urls["postgresql"] = normalize_database_url(os.environ["AUREA_BENCH_POSTGRES_URL"])
    return urls


def fresh_database(kind: str, base: str) -> tuple[str, callable]:
    """Return a URL to an empty database and a function that removes it."""
    if kind == "sqlite":
        WORK.mkdir(parents=True, exist_ok=True)
        path = WORK / f"bench-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: [
            p.unlink(missing_ok=True) for p in WORK.glob(path.name + "*")
        ]
    schema = f"aurea_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop():
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


def migrate(url: str) -> None:
    env = {**os.environ, "AUREA_DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def start_gunicorn(
    url: str, port: int, extra_env: dict[str, str] | None = None
) -> subprocess.Popen:
    env = {
        **os.environ,
        **(extra_env or {}),
        "AUREA_DATABASE_URL": url,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(WORKERS),
        "AUREA_ACCESS_LOG": "/dev/null",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "bench.wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # Every worker listens on its own socket (gunicorn.conf.py: reuse_port): a run that
        # started before the last one listens would send it no connection.
        if listening_sockets(port) >= WORKERS:
            try:
                if requests.get(f"http://127.0.0.1:{port}/bench/hello", timeout=1).ok:
                    return process
            except requests.RequestException:
                pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def listening_sockets(port: int) -> int:
    """How many sockets listen on ``port`` (from /proc/net/tcp: state 0A is LISTEN)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(child) for child in found.split()]


def peak_rss_mb(pids: list[int]) -> float:
    peaks = []
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        peaks.append(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024)
    return max(peaks, default=0.0)


def peak_rss(master: int) -> float:
    """Peak resident memory (MB) of the largest worker."""
    return peak_rss_mb(children(master))


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk_command(url: str, script: str | None, duration: int) -> list[str]:
    args = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency", url]
    if script:
        args[1:1] = ["-s", str(ROOT / "bench" / script)]
    return args


def wrk(url: str, script: str | None, duration: int) -> dict:
    out = subprocess.run(
        wrk_command(url, script, duration), capture_output=True, text=True, check=True
    ).stdout
    latency = {
        p: float(v) * _UNITS[u]
        for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    }
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency.get("50"),
        "p99_ms": latency.get("99"),
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def measure(base_url: str, path: str, script: str | None, rows_per_request: int) -> dict:
    """Three rounds, each a wrk run of the yardstick and then one of ``path``.

    The endpoint's figures are its median run's; its ratio is the median of the three
    rounds' ratios, each to the yardstick run just before it: this machine's speed drifts
    by up to a third within minutes, but little between two adjacent runs of 5 s.
    """
    wrk(base_url + path, script, 1)  # warm-up
    yardsticks, runs = [], []
    for _ in range(3):
        yardsticks.append(wrk(base_url + YARDSTICK, None, DURATION))
        runs.append(wrk(base_url + path, script, DURATION))
    median = sorted(runs, key=lambda r: r["rps"])[1]
    rows = median["rps"] * rows_per_request if rows_per_request else None
    ratio = statistics.median(
        r["rps"] / y["rps"] if y["rps"] else 0.0 for r, y in zip(runs, yardsticks, strict=True)
    )
    return {
        **median,
        "rows_per_s": rows,
        "ratio": ratio,
        "runs_rps": [r["rps"] for r in runs],
        "yardstick_runs": yardsticks,
    }


def yardstick_summary(results: dict) -> dict:
    """The yardstick's row: its median run over all the rounds of this size."""
    runs = [y for r in results.values() for y in r["yardstick_runs"]]
    median = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    return {**median, "rows_per_s": None, "ratio": 1.0, "runs_rps": [r["rps"] for r in runs]}


def bench_one(kind: str, base: str, size: int, port: int) -> dict:
    url, drop = fresh_database(kind, base)
    try:
        migrate(url)
        started = time.monotonic()
        engine = sa.create_engine(normalize_database_url(url))
        bulk_load(engine, size)
        engine.dispose()
        load_seconds = time.monotonic() - started
        process = start_gunicorn(url, port)
        try:
            base_url = f"http://127.0.0.1:{port}"
            wrk(base_url + YARDSTICK, None, 1)  # warm-up
            results = {}
            for name, _method, path, script, rows in ENDPOINTS:
                results[name] = measure(base_url, path, script, rows)
            peak = peak_rss(process.pid)
        finally:
            stop(process)
    finally:
        drop()
    results = {"yardstick": yardstick_summary(results), **results}
    return {
        "database": kind,
        "rows": size,
        "load_seconds": load_seconds,
        "peak_worker_rss_mb": peak,
        "endpoints": results,
    }


def table(runs: list[dict]) -> str:
    lines = [
        "| database | rows | endpoint | req/s | ratio to yardstick beside it | rows/s "
        "| p50 ms | p99 ms | non-2xx |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        for name, r in run["endpoints"].items():
            rows = f"{r['rows_per_s']:,.0f}" if r.get("rows_per_s") else ""
            lines.append(
                f"| {run['database']} | {run['rows']:,} | {name} | {r['rps']:,.0f} | "
                f"{r['ratio']:.2f} | {rows} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
                f"| {r['errors']} |"
            )
    lines += [
        "",
        "| database | rows | peak RSS per worker (MB) | bulk load (s) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for run in runs:
        peak, load = run["peak_worker_rss_mb"], run["load_seconds"]
        lines.append(f"| {run['database']} | {run['rows']:,} | {peak:.1f} | {load:.1f} |")
    by = {(r["database"], r["rows"]): r for r in runs}
    lines += [
        "",
        "| database | endpoint | req/s at largest / at smallest size "
        "| ratio to yardstick at largest / at smallest |",
        "| --- | --- | ---: | ---: |",
    ]
    for kind in dict.fromkeys(r["database"] for r in runs):
        small, large = by.get((kind, min(SIZES))), by.get((kind, max(SIZES)))
        if small and large and small is not large:
            for name in ("select", "metrics"):
                at_large, at_small = large["endpoints"][name], small["endpoints"][name]
                raw = at_large["rps"] / at_small["rps"]
                # The machine's speed can drift between the two sizes: the second column
                # compares each to the yardstick measured beside it.
                relative = at_large["ratio"] / at_small["ratio"]
                lines.append(f"| {kind} | {name} | {raw:.2f} | {relative:.2f} |")
    return "\n".join(lines)


def buffered_reporter() -> dict:
    """Run bench/reporter.py (it imports this module, so in its own process): runs and table."""
    WORK.mkdir(parents=True, exist_ok=True)
    out = WORK / f"reporter-{os.getpid()}.json"
    print("bench: the buffered client ...", flush=True)
    subprocess.run(
        [sys.executable, "-m", "bench.reporter", "--json", str(out)], cwd=ROOT, check=True
    )
    found = json.loads(out.read_text())
    out.unlink()
    return found


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (make bench installs it with apt-get)")
    runs = []
    port = 18000 + os.getpid() % 1000
    for kind, base in database_urls().items():
        for size in SIZES:
            print(f"bench: {kind}, {size:,} rows ...", flush=True)
            runs.append(bench_one(kind, base, size, port))
    buffered = buffered_reporter()
    meta = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "make bench",
        "workers": WORKERS,
        "connections": CONNECTIONS,
        "duration_s": DURATION,
        "cpus": os.cpu_count(),
    }
    (ROOT / "bench" / "results.json").write_text(
        json.dumps({"meta": meta, "runs": runs, "buffered_reporter": buffered["runs"]}, indent=2)
    )
    text = (
        f"# Benchmark results\n\n{meta['when']}, `make bench`: {WORKERS} gunicorn workers, "
        f"wrk with {CONNECTIONS} connections, 3 rounds of {DURATION} s runs of the yardstick and "
        f"then the endpoint after a warm-up (median run; median of the rounds' ratios), "
        f"{meta['cpus']} CPUs.\n\n" + table(runs) + "\n\n"
        "The buffered client end to end (`python -m bench.reporter`: one process, one "
        "BufferedReporter, rows counted in the database):\n\n" + buffered["table"] + "\n"
    )
    results = ROOT / "bench" / "results.md"
    previous = results.read_text() if results.exists() else ""
    results.write_text(with_history(text, previous))
    print(text)


def with_history(latest: str, previous: str) -> str:
    """The latest run's tables, then the history kept in ``previous``: every section from its
    first ``## `` heading on (notes on earlier runs, written by hand), so a run never drops it."""
    at = previous.find("\n## ")
    history = previous[at + 1 :] if at >= 0 else ""
    return latest.rstrip("\n") + "\n\n" + history if history else latest


if __name__ == "__main__":
    main()
