"""BufferedReporter: record outcomes without waiting for Aurea; background threads send batches.

Modelled on OpenTelemetry's ``BatchSpanProcessor``: :meth:`BufferedReporter.record` puts the
outcome in a bounded in-memory queue and returns at once; ``senders`` daemon threads (2 by
default, one request in flight each) send what is queued to ``POST /router/records`` (at most
``max_batch`` outcomes per request, stored all or none) every ``flush_interval`` seconds, as
soon as ``max_batch`` outcomes wait, on :meth:`flush`, on :meth:`close` and at interpreter exit.

Guarantees:

- ``record`` never waits for the network or for a sender: it holds a lock for a few list
  operations. When ``max_queue`` outcomes are waiting or being sent, it drops the new one,
  counts it in ``dropped`` and returns False; the senders log drops at most every
  ``log_interval`` seconds.
- Every outcome carries a ``request_id`` (unless given, a UUID version 7: time-ordered, so the
  server's unique index on it grows at one end; random uuid4 keys scatter the inserts over the
  whole index, and batches slowed down about twofold as it grew past a few hundred thousand
  rows, ``python -m bench.reporter``), so a batch that is sent again
  after a connection error, a timeout, a 429 or a 5xx is counted once by Aurea. Such batches
  are retried with exponential backoff (or the server's ``Retry-After``) for up to
  ``retry_for`` seconds, then given up and counted in ``failed``.
- A batch refused with another 4xx is not retried: its outcomes are counted in ``rejected``
  and logged. When Aurea names the refused items (422 with errors keyed by index), only they
  are rejected and the rest are sent again once. Outcomes that cannot be valid (a negative or
  non-finite latency or cost, a non-boolean success, an empty model) are rejected by ``record``.
- An outcome is stamped with the time of its ``record``: the timestamp goes with it when it
  reaches Aurea more than ``stamp_after`` seconds later (a backlog, a retry after an outage),
  so late outcomes count in their own hour; a prompt one is stamped by Aurea's clock.
- ``sent`` counts outcomes Aurea acknowledged (recorded, or a duplicate of one it had).
  ``sent + dropped + rejected + failed`` equals every ``record`` call once nothing is queued.
- At exit an ``atexit`` handler calls ``close(exit_timeout)``: what cannot be delivered by then
  is counted as failed and lost (like any in-memory buffer, a crash loses what is queued).

Threads and processes: one reporter may be shared by any number of threads. After
``os.fork()`` the child starts with an empty queue, zero counters and its own senders and HTTP
connection, started on its first ``record``; what the parent had queued is sent by the parent
only. So a reporter created before a pre-forking server (gunicorn ``--preload``, multiprocessing
with ``fork``) forks its workers correctly; children that leave through ``os._exit`` (as
multiprocessing's do) skip ``atexit``, so call ``flush()`` or ``close()`` in them first.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import random
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aurea_client.client import AureaClient, AureaHTTPError

__all__ = ["BufferedReporter"]

logger = logging.getLogger("aurea_client.reporter")

MAX_BATCH = 1000  # the server's limit for POST /router/records
# Statuses worth sending again: the server did not store the batch, or may not have.
RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))

_reporters: weakref.WeakSet[BufferedReporter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for reporter in list(_reporters):
        reporter._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class BufferedReporter:
    """Queue outcomes in memory and send them to Aurea in batches from daemon threads.

    ``base_url`` and ``token`` as for :class:`~aurea_client.AureaClient` (the token needs the
    ``recorder`` or ``admin`` role). ``stamp_after``: an outcome that reaches Aurea more than
    this many seconds after its ``record`` (a backlog, an outage) is sent with the time of the
    ``record`` as its ``timestamp``, so it counts in the right hour; sooner, Aurea's own clock
    stamps it, which keeps the batch on the server's fast path. 0: always send the timestamp;
    None: never.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        max_queue: int = 20_000,
        max_batch: int = MAX_BATCH,
        flush_interval: float = 1.0,
        timeout: float = 10.0,
        retry_for: float = 300.0,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        exit_timeout: float = 5.0,
        stamp_after: float | None = 5.0,
        senders: int = 2,
        log_interval: float = 10.0,
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be 1 to {MAX_BATCH}")
        if max_queue < max_batch:
            raise ValueError("max_queue must be at least max_batch")
        if senders < 1:
            raise ValueError("senders must be at least 1")
        if flush_interval <= 0 or timeout <= 0 or retry_for < 0 or backoff < 0:
            raise ValueError("flush_interval and timeout must be > 0, retry_for and backoff >= 0")
        self.base_url = base_url
        self.token = token
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.retry_for = retry_for
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.exit_timeout = exit_timeout
        self.stamp_after = stamp_after
        self.senders = senders
        self.log_interval = log_interval
        self._closed = False
        self._init_state()
        _reporters.add(self)
        atexit.register(self._at_exit)

    def _init_state(self) -> None:
        """The per-process state: a fresh one in a forked child."""
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._buffer: list[tuple[float, dict[str, Any]]] = []  # (time.time(), JSON item)
        self._threads: list[threading.Thread] = []  # the senders, started by the first record
        self._accepted = 0  # outcomes queued since the start
        self._taken = 0  # of which the senders have taken
        self._finished = 0  # of which are sent, rejected or failed
        self._flush_target = 0  # flush() waits until this many are finished
        self._closing = False
        self._close_deadline: float | None = None
        self._sent = self._dropped = self._rejected = self._failed = 0
        self._dropped_logged = self._rejected_logged = 0
        self._last_drop_log = self._last_reject_log = -math.inf
        self._last_reject_reason = "invalid values given to record()"
        self._gave_up = False  # some outcome counted as failed
        self._abandoned = False  # close() gave up waiting for a sender

    def _reset_after_fork(self) -> None:
        self._init_state()
        self._closing = self._closed

    # -- counters -----------------------------------------------------------------------

    @property
    def sent(self) -> int:
        """Outcomes Aurea acknowledged."""
        return self._sent

    @property
    def dropped(self) -> int:
        """Outcomes not queued: the queue was full, or the reporter was closed."""
        return self._dropped

    @property
    def rejected(self) -> int:
        """Outcomes refused as invalid, by ``record`` or by Aurea (a 4xx answer)."""
        return self._rejected

    @property
    def failed(self) -> int:
        """Outcomes given up after ``retry_for`` seconds of retries, or at close or exit."""
        return self._failed

    @property
    def queued(self) -> int:
        """Outcomes waiting or being sent."""
        return self._accepted - self._finished

    # -- the caller's side --------------------------------------------------------------

    def record(
        self,
        model: str,
        latency: float,
        cost: float,
        success: bool,
        task: str | None = None,
        request_id: str | None = None,
        timestamp: datetime | str | None = None,
    ) -> bool:
        """Queue one outcome; True if queued, False if dropped or rejected. Never raises.

        ``latency`` in seconds, ``cost`` in USD. ``timestamp``: when the call happened (an
        aware datetime or an ISO 8601 string with its offset); by default the time of this
        call, sent as ``stamp_after`` says.
        """
        item = _outcome(model, latency, cost, success, task, request_id, timestamp)
        recorded_at = time.time()
        with self._lock:
            if item is None:
                self._rejected += 1
                self._last_reject_reason = "invalid values given to record()"
                return False
            if self._closing or self._accepted - self._finished >= self.max_queue:
                self._dropped += 1
                return False
            self._buffer.append((recorded_at, item))
            self._accepted += 1
            if not self._threads:
                self._start()
            if len(self._buffer) % self.max_batch == 0:
                self._cond.notify_all()  # a full batch waits: wake a sender
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything recorded so far; True once it is all sent (or given up) in time."""
        with self._cond:
            target = self._accepted
            if self._finished >= target:
                return True
            self._flush_target = max(self._flush_target, target)
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._finished >= target, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Stop accepting outcomes, send what is queued and stop the senders.

        Retries stop at the deadline (``timeout`` seconds from now; None: wait as long as the
        retries take); what is still unsent then counts as failed. True if nothing failed so.
        Idempotent.
        """
        with self._cond:
            self._closed = True
            self._closing = True
            if timeout is not None:
                deadline = time.monotonic() + timeout
                if self._close_deadline is None or deadline < self._close_deadline:
                    self._close_deadline = deadline
            self._cond.notify_all()
            threads = list(self._threads)
        try:
            atexit.unregister(self._at_exit)
        except Exception:  # noqa: BLE001 - atexit may be finalising
            pass
        for thread in threads:
            if thread is not threading.current_thread():
                left = None if self._close_deadline is None else self._remaining_before_close()
                thread.join(None if left is None else max(left, 0.0))
        with self._cond:
            if any(thread.is_alive() for thread in threads) and timeout is not None:
                # A sender is stuck in a request past the deadline: count what is unsent as
                # lost now; the sender, a daemon, finishes its request but counts nothing more.
                self._abandoned = True
                self._failed += self._accepted - self._finished
                self._finished = self._accepted
                self._gave_up = self._gave_up or self._failed > 0
                self._cond.notify_all()
            return self._finished >= self._accepted and not self._gave_up

    def __enter__(self) -> BufferedReporter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close(self.exit_timeout)

    def __repr__(self) -> str:
        return (
            f"<BufferedReporter {self.base_url} queued={self.queued} sent={self.sent} "
            f"dropped={self.dropped} rejected={self.rejected} failed={self.failed}>"
        )

    def _at_exit(self) -> None:
        self.close(self.exit_timeout)

    # -- the senders' side --------------------------------------------------------------

    def _start(self) -> None:
        """Start the sending threads (with the lock held)."""
        for n in range(self.senders):
            thread = threading.Thread(target=self._run, name=f"aurea-reporter-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _wanted(self) -> bool:
        return (
            len(self._buffer) >= self.max_batch or self._closing or self._flush_target > self._taken
        )

    def _run(self) -> None:
        """One sender: take up to ``max_batch`` queued outcomes when they are wanted, send them."""
        client = AureaClient(self.base_url, token=self.token, timeout=self.timeout, retries=0)
        try:
            while True:
                with self._cond:
                    deadline = time.monotonic() + self.flush_interval
                    while not self._wanted():
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                    batch = self._buffer[: self.max_batch]
                    del self._buffer[: self.max_batch]
                    self._taken += len(batch)
                    if not batch and self._closing:
                        return
                if batch:
                    self._deliver(client, batch)
                self._log_losses()
        except BaseException:  # noqa: BLE001 - a sender must not die silently
            logger.exception("Aurea reporter stopped; outcomes are no longer sent")
            with self._cond:
                self._failed += self._accepted - self._finished
                self._finished = self._accepted
                self._buffer = []
                self._closing = self._abandoned = True
                self._cond.notify_all()
        finally:
            client.close()

    def _deliver(self, client: AureaClient, batch: list[tuple[float, dict[str, Any]]]) -> None:
        """Send one batch until it is acknowledged, refused or given up; count the outcome."""
        first_try = time.monotonic()
        attempt = 0
        split = False
        while True:
            remaining = self._remaining_before_close()
            if remaining is not None and remaining <= 0:
                self._settle(len(batch), "failed", "the reporter closed before Aurea answered")
                return
            client.timeout = self.timeout if remaining is None else min(self.timeout, remaining)
            try:
                client.record_many(self._stamped(batch))
            except AureaHTTPError as error:
                if error.status is not None and error.status not in RETRYABLE_STATUSES:
                    refused = None if split else _refused_indexes(error, len(batch))
                    if refused:
                        self._settle(len(refused), "rejected", str(error))
                        batch = [item for i, item in enumerate(batch) if i not in refused]
                        split = True
                        if batch:
                            continue
                        return
                    self._settle(len(batch), "rejected", str(error))
                    return
                delay = error.retry_after
                if delay is None:
                    delay = min(self.max_backoff, self.backoff * 2**attempt)
                    delay *= random.uniform(0.5, 1.0)  # spread the retries of many reporters
                if time.monotonic() + delay - first_try > self.retry_for:
                    self._settle(len(batch), "failed", f"retries used up: {error}")
                    return
                logger.debug("Aurea did not take a batch (%s); retrying in %.2f s", error, delay)
                self._log_losses()
                self._back_off(delay)
                attempt += 1
            except Exception as error:  # noqa: BLE001 - a bug must not lose the sender
                self._settle(len(batch), "failed", f"unexpected error: {error!r}")
                return
            else:
                self._settle(len(batch), "sent")
                return

    def _stamped(self, batch: list[tuple[float, dict[str, Any]]]) -> list[dict[str, Any]]:
        """The batch's JSON items, late ones with the time of their record() (see stamp_after).

        Decided again at each try, since a retried batch grows late; an item keeps a timestamp
        once given (Aurea counts a repeated request_id once, whatever it carries)."""
        if self.stamp_after is None:
            return [item for _, item in batch]
        late = time.time() - self.stamp_after
        for recorded_at, item in batch:
            if recorded_at <= late and "timestamp" not in item:
                item["timestamp"] = datetime.fromtimestamp(recorded_at, UTC).isoformat()
        return [item for _, item in batch]

    def _back_off(self, delay: float) -> None:
        """Wait ``delay`` seconds, less if close() sets a deadline sooner; close() itself wakes
        the wait once, so a queued batch gets one more try at once."""
        wake_at = time.monotonic() + delay
        with self._cond:
            was_closing = self._closing
            while True:
                left = wake_at - time.monotonic()
                before_close = self._remaining_before_close()
                if before_close is not None:
                    left = min(left, before_close)
                if left <= 0 or (self._closing and not was_closing):
                    return
                self._cond.wait(left)

    def _remaining_before_close(self) -> float | None:
        if self._close_deadline is None:
            return None
        return self._close_deadline - time.monotonic()

    def _settle(self, count: int, outcome: str, reason: str = "") -> None:
        with self._cond:
            if self._abandoned:
                return  # close() has counted these already
            if outcome == "sent":
                self._sent += count
            elif outcome == "rejected":
                self._rejected += count
                self._last_reject_reason = reason
            else:
                self._failed += count
                self._gave_up = True
            self._finished += count
            self._cond.notify_all()
        if outcome == "failed":
            logger.warning("Aurea reporter gave up on %d outcome(s): %s", count, reason)

    def _log_losses(self) -> None:
        """Log drops and rejections, at most once per ``log_interval`` each."""
        now = time.monotonic()
        dropped, rejected = self._dropped, self._rejected
        if dropped > self._dropped_logged and now - self._last_drop_log >= self.log_interval:
            logger.warning(
                "Aurea reporter dropped %d outcome(s) (%d in all): the queue of %d was full "
                "or the reporter closed",
                dropped - self._dropped_logged,
                dropped,
                self.max_queue,
            )
            self._dropped_logged, self._last_drop_log = dropped, now
        if rejected > self._rejected_logged and now - self._last_reject_log >= self.log_interval:
            logger.warning(
                "Aurea reporter: %d outcome(s) refused as invalid (%d in all); last reason: %s",
                rejected - self._rejected_logged,
                rejected,
                self._last_reject_reason,
            )
            self._rejected_logged, self._last_reject_log = rejected, now


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and value >= 0 else None


def _outcome(
    model: Any,
    latency: Any,
    cost: Any,
    success: Any,
    task: Any,
    request_id: Any,
    timestamp: Any,
) -> dict[str, Any] | None:
    """The JSON item for one outcome, or None if Aurea could not accept it."""
    latency, cost = _number(latency), _number(cost)
    if latency is None or cost is None or not isinstance(success, bool):
        return None
    if not isinstance(model, str) or not model:
        return None
    item: dict[str, Any] = {
        "model": model,
        "latency": latency,
        "cost": cost,
        "success": success,
        "request_id": request_id if request_id is not None else _uuid7(),
    }
    if task is not None:
        if not isinstance(task, str) or not task:
            return None
        item["task"] = task
    if timestamp is None:
        pass
    elif isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            return None
        item["timestamp"] = timestamp.isoformat()
    elif isinstance(timestamp, str):
        item["timestamp"] = timestamp
    else:
        return None
    return item


def _refused_indexes(error: AureaHTTPError, size: int) -> set[int] | None:
    """The batch items a 422 names (``errors.json.records`` keyed by index), if it names any."""
    if error.status != 422:
        return None
    json_errors = error.errors.get("json")
    records = json_errors.get("records") if isinstance(json_errors, Mapping) else None
    if not isinstance(records, Mapping):
        return None
    try:
        indexes = {int(key) for key in records}
    except (TypeError, ValueError):
        return None
    if not indexes or not all(0 <= i < size for i in indexes):
        return None
    return indexes


def _uuid7() -> str:
    """A UUID version 7 (RFC 9562): Unix milliseconds first, then 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64
    value |= 0b10 << 62 | rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))
