"""Prometheus metrics of the record path's write transactions.

How many records each commit carries (group commit, the write relay), how long its COMMIT
takes (with PostgreSQL's flush to disk), and on SQLite how long writers wait for and hold
this host's writer lock and how long the WAL flush after it takes: the figures that decide
durable ingest (README, Performance). Only
prometheus_client is imported here, so the database layer can use it; the write relay's
writer, a child of a gunicorn worker, writes them to the same multiprocess files.

The histograms are created on first use: a metric without labels opens its multiprocess file
when it is created, and only processes that write records should have one (not the CLI, nor
a process whose PROMETHEUS_MULTIPROC_DIR is gone). Observing never fails a write: the records
are committed by then, and an error here is logged once instead.
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import Histogram

log = logging.getLogger(__name__)

SECONDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)
RECORDS = (1, 2, 3, 4, 6, 8, 12, 16, 32, 64, 128, 256, 512, 1000, 2000, 5000)

HISTOGRAMS = {
    "aurea_write_group_records": (
        "Records (duplicates included) written by each record-path transaction.",
        RECORDS,
    ),
    "aurea_write_commit_seconds": (
        "Time each record-path COMMIT took (on SQLite its WAL flush comes after it).",
        SECONDS,
    ),
    "aurea_sqlite_writer_lock_wait_seconds": (
        "SQLite: time each record-path transaction waited for this host's writer lock "
        "(also when it gave up).",
        SECONDS,
    ),
    "aurea_sqlite_writer_lock_held_seconds": (
        "SQLite: time each record-path transaction held this host's writer lock.",
        SECONDS,
    ),
    "aurea_sqlite_wal_flush_seconds": (
        "SQLite: time each record-path transaction's WAL flush (fdatasync) took, after its "
        "COMMIT and outside the writer lock.",
        SECONDS,
    ),
}

_created: dict[str, Histogram] = {}
_lock = threading.Lock()
_failed = False


def _observe(name: str, value: float) -> None:
    global _failed
    try:
        histogram = _created.get(name)
        if histogram is None:
            with _lock:
                histogram = _created.get(name)
                if histogram is None:
                    documentation, buckets = HISTOGRAMS[name]
                    histogram = _created[name] = Histogram(name, documentation, buckets=buckets)
        histogram.observe(value)
    except Exception as error:  # noqa: BLE001 - metrics must not fail a committed write
        if not _failed:
            _failed = True
            log.warning("write metrics are not recorded: %s", error)


def observe_commit(seconds: float) -> None:
    _observe("aurea_write_commit_seconds", seconds)


def observe_group(records: int) -> None:
    _observe("aurea_write_group_records", records)


def observe_wal_flush(seconds: float) -> None:
    _observe("aurea_sqlite_wal_flush_seconds", seconds)


def observe_writer_lock_wait(seconds: float) -> None:
    _observe("aurea_sqlite_writer_lock_wait_seconds", seconds)


def observe_writer_lock_held(seconds: float) -> None:
    _observe("aurea_sqlite_writer_lock_held_seconds", seconds)
