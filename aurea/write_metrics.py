"""Prometheus metrics of the record path's write transactions.

How many records each commit carries (group commit, the write relay), how long its COMMIT
takes (the flush to disk), and on SQLite how long writers wait for and hold this host's
writer lock: the figures that decide durable ingest (README, Performance). Only
prometheus_client is imported here, so the database layer can use it; the write relay's
writer, a child of a gunicorn worker, writes them to the same multiprocess files.
"""

from __future__ import annotations

from prometheus_client import Histogram

SECONDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)
RECORDS = (1, 2, 3, 4, 6, 8, 12, 16, 32, 64, 128, 256, 512, 1000, 2000, 5000)

GROUP_RECORDS = Histogram(
    "aurea_write_group_records",
    "Records (duplicates included) written by each record-path transaction.",
    buckets=RECORDS,
)
COMMIT_SECONDS = Histogram(
    "aurea_write_commit_seconds",
    "Time each record-path COMMIT took, its flush to disk included.",
    buckets=SECONDS,
)
LOCK_WAIT_SECONDS = Histogram(
    "aurea_sqlite_writer_lock_wait_seconds",
    "SQLite: time each record-path transaction waited for this host's writer lock.",
    buckets=SECONDS,
)
LOCK_HELD_SECONDS = Histogram(
    "aurea_sqlite_writer_lock_held_seconds",
    "SQLite: time each record-path transaction held this host's writer lock.",
    buckets=SECONDS,
)


def observe_commit(seconds: float) -> None:
    COMMIT_SECONDS.observe(seconds)


def observe_group(records: int) -> None:
    GROUP_RECORDS.observe(records)


def observe_writer_lock(waited: float, held: float) -> None:
    LOCK_WAIT_SECONDS.observe(waited)
    LOCK_HELD_SECONDS.observe(held)
