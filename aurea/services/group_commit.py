"""Group commit: the records of requests that arrive together share one transaction.

A durable commit costs a flush to disk (SQLite's fsync under ``synchronous=FULL``,
PostgreSQL's WAL flush), and on SQLite only one writer runs at a time. With threaded
gunicorn workers, requests of one worker that arrive while a commit is under way queue
up; the next thread to write takes every queued job and stores them all in one
transaction, so one flush acknowledges several requests. Nothing is acknowledged before
its commit: every request waits for the commit that holds its records (or for the
error that ended it).

Leader and followers: each request appends its job, then waits for the write lock. The
thread that gets it and finds its own job still pending becomes the writer: it opens the
transaction (on SQLite, waiting for the database's write lock, which another worker may
hold) and only then takes the whole queue, so the jobs that arrived while it waited join
the group. The others find theirs done when their turn comes and return at once. With one
thread per worker (gunicorn's sync workers) every group holds one job: the plain
transaction.

A request waits for the write lock no longer than its database budget: if its job is still
queued then, it is withdrawn (nothing of it was written) and the request fails with
:class:`GroupWaitTimeout`; if the thread writing a group has taken it already, the request
waits for that commit, which that writer's own budget bounds.

A job that fails on its own (an unregistered model in strict mode) fails alone; an error
of the transaction itself (the database went away) fails every job of the group, and
their clients get the same 503 and retry. An error before the queue was taken (the
database's lock never came) fails the writer's own job only: the rest stay queued for
the next writer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

EXTENSION_KEY = "aurea_group_commit"


class GroupWaitTimeout(TimeoutError):
    """The request's budget ran out while its job waited, unwritten, for the write lock."""


@dataclass(eq=False)
class Job:
    """One request's records and, once its group is written, their statuses or an error."""

    records: Sequence[Any]
    batch: bool
    statuses: list[str] | None = None
    error: BaseException | None = None
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def done(self) -> bool:
        return self.statuses is not None or self.error is not None

    def finish(self, statuses: list[str] | None = None, error: BaseException | None = None):
        self.statuses, self.error = statuses, error
        self.finished.set()


# write(take) opens a transaction, calls take() for the jobs to store, stores those it
# accepts, commits, and finishes every job it took.
Writer = Callable[[Callable[[], list[Job]]], None]


@dataclass(eq=False)
class GroupCommit:
    """Per-process queue of pending jobs, and the lock held by the thread writing a group."""

    write_lock: threading.Lock = field(default_factory=threading.Lock)
    queue_lock: threading.Lock = field(default_factory=threading.Lock)
    pending: list[Job] = field(default_factory=list)
    largest_group: int = 0

    def submit(self, job: Job, write: Writer, timeout: float | None = None) -> list[str]:
        """Store ``job`` in the next group; wait for the write lock ``timeout`` seconds at
        most (None: no limit)."""
        with self.queue_lock:
            self.pending.append(job)
        if self.write_lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            try:
                if not job.done:
                    self._write(job, write)
            finally:
                self.write_lock.release()
        else:
            if self._withdraw(job):
                raise GroupWaitTimeout("no turn to write before the request's budget ran out")
            job.finished.wait()  # taken by the group being written: its commit decides
        if job.error is not None:
            raise job.error
        assert job.statuses is not None
        return job.statuses

    def _write(self, job: Job, write: Writer) -> None:
        taken: list[Job] = []

        def take() -> list[Job]:
            with self.queue_lock:
                group, self.pending = self.pending, []
            taken.extend(group)
            self.largest_group = max(self.largest_group, len(taken))
            return group

        try:
            write(take)
        except BaseException as error:
            if not taken:  # failed before taking the queue: the others wait for the next writer
                self._withdraw(job)
                job.finish(error=error)
            for other in taken:
                if not other.done:
                    other.finish(error=error)
            if not isinstance(error, Exception):
                raise  # the worker is being stopped
            # else each job, this one too, raises its own outcome: a job refused on its
            # own keeps its own error even when the transaction failed after it
        finally:
            if not taken and not job.done:  # a writer that never took the queue
                self._withdraw(job)
                job.finish(error=RuntimeError("the writer never took its job"))
            for other in taken:  # a writer that forgot a job must not hang it
                if not other.done:
                    other.finish(error=RuntimeError("job left unfinished by its group"))

    def _withdraw(self, job: Job) -> bool:
        """Take ``job`` out of the queue; True if it was still there (checked and withdrawn
        at once: no writer can take it in between)."""
        with self.queue_lock:
            kept = [other for other in self.pending if other is not job]
            queued = len(kept) < len(self.pending)
            self.pending = kept
        return queued


def init_group_commit(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = GroupCommit()


def group_commit() -> GroupCommit:
    return current_app.extensions[EXTENSION_KEY]
