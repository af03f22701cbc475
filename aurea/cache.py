"""A short-lived, per-process cache of read results (select, metrics).

Reads sum hourly aggregates; under load the same answer is computed many times a
second. Each gunicorn worker keeps answers for ``AUREA_CACHE_SECONDS`` (default 1 s;
0 turns caching off). A write made through this worker clears its cache at once;
a write made through another worker is seen here at most that many seconds later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_sqlalchemy.session import Session

T = TypeVar("T")
MAX_ENTRIES = 256


class ReadCache:
    """Values kept for ``ttl_seconds``; safe for gunicorn's threaded workers.

    A missing value is computed by one thread at a time per key (the others wait and reuse
    it), and a value computed while ``clear`` ran (from data read before a write) is not kept.
    """

    STRIPES = 16

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[Hashable, tuple[float, object]] = {}
        self._lock = threading.Lock()
        self._computing = [threading.Lock() for _ in range(self.STRIPES)]
        self._generation = 0
        self.clock: Callable[[], float] = time.monotonic

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        if self.ttl <= 0:
            return compute()
        hit = self.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        with self._computing[hash(key) % self.STRIPES]:
            hit = self.get(key)  # computed by the thread this one waited for
            if hit is not None:
                return hit  # type: ignore[return-value]
            generation = self._generation
            value = compute()
            self.put(key, value, generation)
            return value

    def get(self, key: Hashable) -> object | None:
        """The live value under ``key``, or None (also when caching is off)."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self.clock():
            return entry[1]
        return None

    def put(self, key: Hashable, value: object, generation: int | None = None) -> None:
        """Keep ``value``; with ``generation``, only if nothing was cleared since it was read."""
        if self.ttl <= 0:
            return
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()  # bounded: clients choose tasks and parameters
            self._entries[key] = (self.clock() + self.ttl, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1

    @property
    def generation(self) -> int:
        return self._generation


def init_cache(app) -> None:
    app.extensions["aurea_read_cache"] = ReadCache(app.config["AUREA_CACHE_SECONDS"])
    # Tokens change rarely and apart from records: a record's commit does not clear them.
    app.extensions["aurea_token_cache"] = ReadCache(app.config["AUREA_CACHE_SECONDS"])


def read_cache() -> ReadCache:
    return current_app.extensions["aurea_read_cache"]


def token_cache() -> ReadCache:
    return current_app.extensions["aurea_token_cache"]


@sa.event.listens_for(Session, "after_commit")
def _clear_after_commit(_session) -> None:
    """Every commit is a write (reads never commit): drop this worker's cached answers."""
    if has_app_context() and "aurea_read_cache" in current_app.extensions:
        read_cache().clear()
