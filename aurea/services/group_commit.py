"""Group commit: the records of requests that arrive together share one transaction.

A durable commit costs a flush to disk (SQLite's fsync under ``synchronous=FULL``,
PostgreSQL's WAL flush), and on SQLite only one writer runs at a time. With threaded
gunicorn workers, requests of one worker that arrive while a commit is under way queue
up; the next thread to write takes every queued job and stores them all in one
transaction, so one flush acknowledges several requests. Nothing is acknowledged before
its commit: every request waits for the commit that holds its records (or for the
error that ended it).

Leader and followers: each request appends its job, then waits for the write lock. The
thread that gets it and finds its own job still pending writes the whole queue; the
others find theirs done when their turn comes and return at once. With one thread per
worker (gunicorn's sync workers) every group holds one job: the plain transaction.

A job that fails on its own (an unregistered model in strict mode) fails alone; an error
of the transaction itself (the database went away) fails every job of the group, and
their clients get the same 503 and retry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

EXTENSION_KEY = "aurea_group_commit"


@dataclass(eq=False)
class Job:
    """One request's records and, once its group is written, their statuses or an error."""

    records: Sequence[Any]
    batch: bool
    statuses: list[str] | None = None
    error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.statuses is not None or self.error is not None

    def finish(self, statuses: list[str] | None = None, error: BaseException | None = None):
        self.statuses, self.error = statuses, error


# write(jobs) stores the jobs it accepts in one transaction and finishes every job.
Writer = Callable[[list[Job]], None]


@dataclass(eq=False)
class GroupCommit:
    """Per-process queue of pending jobs, and the lock held by the thread writing a group."""

    write_lock: threading.Lock = field(default_factory=threading.Lock)
    queue_lock: threading.Lock = field(default_factory=threading.Lock)
    pending: list[Job] = field(default_factory=list)
    largest_group: int = 0

    def submit(self, job: Job, write: Writer) -> list[str]:
        with self.queue_lock:
            self.pending.append(job)
        with self.write_lock:
            if not job.done:
                with self.queue_lock:
                    group, self.pending = self.pending, []
                self.largest_group = max(self.largest_group, len(group))
                try:
                    write(group)
                except BaseException as error:
                    for other in group:
                        if not other.done:
                            other.finish(error=error)
                    if not isinstance(error, Exception):
                        raise  # the worker is being stopped
                    # else each job, this one too, raises its own outcome below: a job refused
                    # on its own keeps its own error even when the transaction failed after it
                finally:
                    for other in group:  # a writer that forgot a job must not hang it
                        if not other.done:
                            other.finish(error=RuntimeError("job left unfinished by its group"))
        if job.error is not None:
            raise job.error
        assert job.statuses is not None
        return job.statuses


def init_group_commit(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = GroupCommit()


def group_commit() -> GroupCommit:
    return current_app.extensions[EXTENSION_KEY]
