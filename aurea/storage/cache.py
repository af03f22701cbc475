"""A short-lived, per-process cache of read results (select, metrics).

Reads sum hourly aggregates; under load the same answer is computed many times a
second. Each gunicorn worker keeps answers for ``AUREA_CACHE_SECONDS`` (default 1 s;
0 turns caching off). A write made through this worker clears its cache at once;
a write made through another worker is seen here at most that many seconds later.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_sqlalchemy.session import Session

from aurea.storage.extensions import db

T = TypeVar("T")
MAX_ENTRIES = 256


class ReadCache:
    """Values kept for ``ttl_seconds``; safe for gunicorn's threaded workers.

    A missing value is computed by one thread at a time per key (the others wait and reuse
    it), and a value computed while ``clear`` ran (from data read before a write) is not kept.
    """

    STRIPES = 16

    def __init__(
        self, ttl_seconds: float, snapshot: Callable[[], int | None] | None = None
    ) -> None:
        self.ttl = ttl_seconds
        # In order of use (put or hit), least recent first.
        self._entries: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing = [threading.Lock() for _ in range(self.STRIPES)]
        self._generation = 0
        self.clock: Callable[[], float] = time.monotonic
        # The generation when the reading thread's database snapshot began (None: no open
        # transaction): a value read from a snapshot older than the last clear is not kept.
        self.snapshot = snapshot

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
            self.put(key, value, self.read_since(generation))
            return value

    def read_since(self, generation: int) -> int:
        """The generation data read since ``generation`` dates from (-1: older, do not keep)."""
        began = self.snapshot() if self.snapshot else None
        return generation if began is None or began == generation else -1

    def expires_at(self, key: Hashable) -> float | None:
        entry = self._entries.get(key)
        return entry[0] if entry is not None and entry[0] > self.clock() else None

    def get(self, key: Hashable) -> object | None:
        """The live value under ``key``, or None (also when caching is off)."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self.clock():
            with self._lock:  # used: the last to go when room is made
                if key in self._entries:
                    self._entries.move_to_end(key)
            return entry[1]
        return None

    def put(
        self,
        key: Hashable,
        value: object,
        generation: int | None = None,
        expires: float | None = None,
    ) -> None:
        """Keep ``value`` for the TTL (or until ``expires``, if sooner); with ``generation``,
        only if nothing was cleared since the data behind it was read."""
        if self.ttl <= 0:
            return
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            now = self.clock()
            self._entries.pop(key, None)  # a value put again counts as just used
            if len(self._entries) >= MAX_ENTRIES:
                self._make_room(now)
            until = now + self.ttl
            self._entries[key] = (until if expires is None else min(until, expires), value)

    def _make_room(self, now: float) -> None:
        """Bounded (clients choose tasks and parameters): drop what has expired, else the
        least recently used entry. Many distinct select queries then cost their own answers,
        not the inputs every select uses (read again on their next use at worst)."""
        for stale in [k for k, (until, _) in self._entries.items() if until <= now]:
            del self._entries[stale]
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1

    @property
    def generation(self) -> int:
        return self._generation


SNAPSHOT_KEY = "aurea_cache_generation"
# Set in a session's info around a commit that must not clear the read cache (a roll-up of
# records already committed: aurea.services.aggregates.roll_up).
KEEP_READ_CACHE = "aurea_keep_read_cache"


def _snapshot_generation() -> int | None:
    session = db.session()
    return session.info.get(SNAPSHOT_KEY) if session.in_transaction() else None


def init_cache(app) -> None:
    app.extensions["aurea_read_cache"] = ReadCache(
        app.config["AUREA_CACHE_SECONDS"], snapshot=_snapshot_generation
    )
    # Tokens change rarely and apart from records: a record's commit does not clear them.
    app.extensions["aurea_token_cache"] = ReadCache(app.config["AUREA_CACHE_SECONDS"])


def read_cache() -> ReadCache:
    return current_app.extensions["aurea_read_cache"]


def token_cache() -> ReadCache:
    return current_app.extensions["aurea_token_cache"]


@sa.event.listens_for(Session, "after_begin")
def _note_snapshot(session, _transaction, _connection) -> None:
    """Remember which cache generation this transaction's reads date from."""
    if has_app_context() and "aurea_read_cache" in current_app.extensions:
        session.info[SNAPSHOT_KEY] = read_cache().generation


@sa.event.listens_for(Session, "after_commit")
def _clear_after_commit(session) -> None:
    """Every commit is a write (reads never commit): drop this worker's cached answers."""
    if session.info.get(KEEP_READ_CACHE):
        return
    if has_app_context() and "aurea_read_cache" in current_app.extensions:
        read_cache().clear()
