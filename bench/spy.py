"""Profile gunicorn's workers under wrk load with py-spy; print where the GIL time goes.

    .venv/bin/python -m bench.spy                       # POST /router/record on SQLite
    .venv/bin/python -m bench.spy /router/select        # a GET endpoint
    .venv/bin/python -m bench.spy --postgres postgresql://postgres@127.0.0.1:5432/test

Starts the production gunicorn config (2 workers) on a fresh database with 1,000 rows,
drives the endpoint with wrk (as `make bench` does), samples every worker with ``py-spy record
--gil`` (only threads holding the GIL: where CPU goes, not where threads wait) and prints
the frames with the largest share of samples, cumulative and own. py-spy needs to be
allowed to ptrace the workers (root, or CAP_SYS_PTRACE).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.load import bulk_load
from bench.run import ENDPOINTS, fresh_database, migrate, start_gunicorn, stop, wrk, wrk_command
from config import normalize_database_url

SCRIPTS = {path: script for _name, _method, path, script, _rows in ENDPOINTS if script}
PORT = 8124
PY_SPY = Path(sys.executable).parent / "py-spy"  # installed by requirements.txt


def frame_name(frame: str) -> str:
    """``function (path/file.py:line)`` as ``function [file.py]``."""
    function, _, where = frame.partition(" (")
    return f"{function} [{where.split(':')[0].rsplit('/', 1)[-1]}]" if where else function


def summarize(paths: list[Path], top: int) -> str:
    own: collections.Counter = collections.Counter()
    cumulative: collections.Counter = collections.Counter()
    total = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            n = int(count)
            total += n
            names = [frame_name(f) for f in stack.split(";")]
            own[names[-1]] += n
            for name in set(names):
                cumulative[name] += n
    lines = [f"{total} samples holding the GIL"]
    for title, counter in (("cumulative", cumulative), ("own", own)):
        lines.append(f"--- {title}")
        lines += [f"{n / total * 100:5.1f}%  {name}" for name, n in counter.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?", default="/router/record")
    parser.add_argument("--postgres", metavar="URL", help="profile on PostgreSQL instead")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    kind, base = ("sqlite", "sqlite")
    if args.postgres:
        kind, base = ("postgresql", normalize_database_url(args.postgres))
    url, drop = fresh_database(kind, base)
    out = Path(tempfile.mkdtemp(prefix="aurea-spy-"))
    try:
        migrate(url)
        engine = sa.create_engine(normalize_database_url(url))
        bulk_load(engine, 1000)
        engine.dispose()
        process = start_gunicorn(url, PORT)
        try:
            target = f"http://127.0.0.1:{PORT}{args.path}"
            script = SCRIPTS.get(args.path)
            wrk(target, script, 1)  # warm-up
            load = subprocess.Popen(
                wrk_command(target, script, args.seconds + 3), stdout=subprocess.PIPE, text=True
            )
            time.sleep(1.5)
            workers = subprocess.run(
                ["pgrep", "-P", str(process.pid)], capture_output=True, text=True
            ).stdout.split()
            spies = [
                subprocess.Popen(
                    [str(PY_SPY), "record", "--gil", "-r", "500", "-f", "raw"]
                    + ["-d", str(args.seconds), "-o", str(out / f"{pid}.txt"), "-p", pid],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for pid in workers
            ]
            for spy in spies:
                spy.wait()
            rate = [line for line in load.communicate()[0].splitlines() if "Requests/sec" in line]
        finally:
            stop(process)
    finally:
        drop()
    print(f"{args.path} on {kind}: {rate[0].strip() if rate else 'no wrk result'}")
    print(summarize(sorted(out.glob("*.txt")), args.top))


if __name__ == "__main__":
    main()
