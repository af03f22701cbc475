"""CPU instructions per request or per transaction of N records, counted by valgrind (callgrind).

    .venv/bin/python -m bench.instructions                 # a write of 2 records
    .venv/bin/python -m bench.instructions --group 4
    .venv/bin/python -m bench.instructions --request /router/record
    .venv/bin/python -m bench.instructions --request /bench/hello

This machine's speed drifts by a third within minutes, so timings cannot show a change of a
few percent; an instruction count can: it is the same from run to run, whatever else the
machine does. It counts this process's user-space instructions only (not the kernel's, nor
the waiting for locks, the GIL or the disk), in process, without gunicorn: a measure of the
work a change adds or saves, not of speed. Each figure is the difference between a run
of N and one of 0 (after the same warm-up), divided by N: start-up costs cancel out.

``--group`` writes groups of records through ``record_requests`` (one transaction each);
``--request`` sends requests through the WSGI application as
gunicorn would (plain single records cycling over five models, or a GET). Both run on a fresh
SQLite file under bench/work. Needs ``valgrind`` (``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("gpt-4", "gpt-3.5-turbo", "claude-3-opus", "claude-3-sonnet", "llama-2-70b")
WARM_UP = 50


def record_body(i: int) -> bytes:
    """The body bench/record.lua sends as its i-th request."""
    return (
        f'{{"model": "{MODELS[i % 5]}", "latency": {0.2 + (i % 17) / 10:.3f}, '
        f'"cost": {0.001 * ((i % 7) + 1):.4f}, "success": {"true" if i % 10 else "false"}}}'
    ).encode()


def environ(path: str, i: int) -> dict:
    base = {
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
    }
    if path != "/router/record":
        return {**base, "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO(b"")}
    body = record_body(i)
    return {
        **base,
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }


def workload(kind: str, size: int | str, count: int) -> None:
    """Run in the child process, under callgrind: warm up, then ``count`` units of work."""
    work = Path(tempfile.mkdtemp(prefix="instructions-", dir=ROOT / "bench" / "work"))
    os.environ["AUREA_DATABASE_URL"] = f"sqlite:///{work / 'aurea.db'}"
    os.environ["AUREA_ACCESS_LOG"] = "off"
    # As under gunicorn: metrics in multiprocess files, request log lines formatted and written.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(work))
    from flask_migrate import upgrade

    from bench.wsgi import app
    from config import MIGRATIONS_DIR

    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    try:
        if kind == "group":
            from aurea.app_context import service_context
            from aurea.services.records import Record, record_requests

            records = [
                Record(MODELS[i % 5], 0.2 + i / 10, 0.001, i % 10 != 9) for i in range(int(size))
            ]
            with app.app_context():
                ctx = service_context()
                for _ in range(WARM_UP + count):
                    record_requests(ctx, records)
        else:

            def start_response(status, _headers, _exc_info=None):
                if not status.startswith("200"):
                    raise RuntimeError(f"{size} answered {status}")

            for i in range(WARM_UP + count):
                b"".join(app(environ(str(size), i), start_response))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def instructions(kind: str, size: int | str, count: int) -> int:
    """Instructions callgrind counts for a child process doing ``count`` units of work."""
    run = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
        + ["-m", "bench.instructions", "--child", kind, str(size), str(count)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(re.search(r"Collected : (\d+)", run.stderr).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--group", type=int, default=2, help="records per transaction")
    what.add_argument("--request", metavar="PATH", help="/router/record, or a GET path")
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, size, count = args.child
        return workload(kind, size, int(count))
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    (ROOT / "bench" / "work").mkdir(parents=True, exist_ok=True)
    kind, size = ("request", args.request) if args.request else ("group", args.group)
    per_unit = (instructions(kind, size, args.count) - instructions(kind, size, 0)) / args.count
    records = "record" if size == 1 else "records"
    unit = f"request to {size}" if kind == "request" else f"transaction of {size} {records}"
    print(f"{per_unit:,.0f} instructions per {unit} (callgrind, {args.count} against 0)")


if __name__ == "__main__":
    main()
