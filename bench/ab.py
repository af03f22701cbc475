"""Alternate the yardstick and one endpoint, or two settings, to see a change through the noise.

    .venv/bin/python -m bench.ab                                   # record vs yardstick, 5 rounds
    .venv/bin/python -m bench.ab --path /router/select --rounds 8
    .venv/bin/python -m bench.ab --vs AUREA_SQLITE_SYNCHRONOUS=NORMAL
    .venv/bin/python -m bench.ab --vs GUNICORN_THREADS=8 --postgres postgresql://...

This machine's speed drifts by a third within minutes, so two `make bench` runs cannot show a
10 % change. Each round here measures the yardstick and then the endpoint (wrk as in
``make bench``, 5 s each) on the same gunicorn, and prints their ratio; with ``--vs``, each
round does that for the current settings and for the settings given (gunicorn restarted with
those variables, on its own fresh database), the two in turn going first, so drift hits both
alike. It prints the
median ratio of each. Nothing is written to bench/results.*.
"""

from __future__ import annotations

import argparse
import statistics

import sqlalchemy as sa

from bench.load import bulk_load
from bench.run import ENDPOINTS, fresh_database, migrate, start_gunicorn, stop, wrk
from config import normalize_database_url

SCRIPTS = {path: script for _name, _method, path, script, _rows in ENDPOINTS if script}
PORT = 8125
# Set by start_gunicorn for every run: a --vs of these would be silently overridden.
FIXED = ("AUREA_DATABASE_URL", "PORT", "WEB_CONCURRENCY", "AUREA_ACCESS_LOG")


def round_ratio(path: str, env: dict[str, str], url: str, seconds: int) -> tuple[float, float]:
    """Start gunicorn with ``env`` on ``url``; return (yardstick req/s, endpoint req/s)."""
    process = start_gunicorn(url, PORT, env)
    try:
        base = f"http://127.0.0.1:{PORT}"
        wrk(base + path, SCRIPTS.get(path), 1)  # warm-up
        yardstick = wrk(base + "/bench/hello", None, seconds)["rps"]
        endpoint = wrk(base + path, SCRIPTS.get(path), seconds)
        if endpoint["errors"]:
            print(f"  {endpoint['errors']} non-2xx answers")
        return yardstick, endpoint["rps"]
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--path", default="/router/record")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--vs", metavar="NAME=VALUE", action="append", default=[])
    parser.add_argument("--postgres", metavar="URL", help="run on fresh schemas there")
    args = parser.parse_args()
    for pair in args.vs:
        if "=" not in pair or pair.split("=", 1)[0] in FIXED:
            parser.error(f"--vs {pair}: give NAME=VALUE, NAME not one of {', '.join(FIXED)}")
    kind, base = (
        ("postgresql", normalize_database_url(args.postgres))
        if args.postgres
        else (
            "sqlite",
            None,
        )
    )
    settings = {"current": {}}
    if args.vs:
        settings[" ".join(args.vs)] = dict(pair.split("=", 1) for pair in args.vs)
    databases = {}
    try:
        for name in settings:
            url, drop = fresh_database(kind, base)
            databases[name] = (url, drop)
            migrate(url)
            engine = sa.create_engine(normalize_database_url(url))
            bulk_load(engine, 1000)
            engine.dispose()
        ratios: dict[str, list[float]] = {name: [] for name in settings}
        for i in range(args.rounds):
            # Each setting goes first in every other round: a steady drift favours neither.
            order = list(settings.items())
            for name, env in order if i % 2 == 0 else order[::-1]:
                yardstick, endpoint = round_ratio(args.path, env, databases[name][0], args.seconds)
                ratios[name].append(endpoint / yardstick)
                print(
                    f"round {i + 1} {name}: yardstick {yardstick:,.0f}/s, {args.path} "
                    f"{endpoint:,.0f}/s, ratio {endpoint / yardstick:.2f}",
                    flush=True,
                )
        for name, values in ratios.items():
            print(
                f"{name}: median ratio {statistics.median(values):.2f} "
                f"(from {min(values):.2f} to {max(values):.2f}, {len(values)} rounds)"
            )
    finally:
        for _url, drop in databases.values():
            drop()


if __name__ == "__main__":
    main()
