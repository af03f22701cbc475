"""The write relay: one process per host writes the single records of every worker.

A durable commit waits for a flush (PostgreSQL's WAL, SQLite's fsync). Group commit
(:mod:`aurea.services.group_commit`) lets the requests of one worker share a commit, but
with several gunicorn workers each worker still commits its own small group, and on
PostgreSQL the workers' transactions queue on the same hot aggregate rows (the hour's
counters), each waiting for the other's commit. The relay merges the groups:

- Every gunicorn worker starts a relay thread (gunicorn.conf.py: ``post_worker_init``).
  The threads compete for an advisory lock on ``relay-<database>.lock`` in
  ``AUREA_RELAY_DIR`` (``instance/relay`` by default); the worker that holds it runs the
  *writer*, a child process (``python -m aurea.writer``) listening on the Unix socket
  ``relay-<database>.sock``, and starts it again if it exits.
- A request with a few records (at most :data:`RELAY_MAX_RECORDS`) sends them there over
  its thread's connection: a frame of JSON with the records and the request's database
  deadline (monotonic time, one clock for every process of the host). The writer, one
  thread, takes every frame that arrived while it was committing, writes them all in one
  transaction (bounded by the earliest deadline) and answers each with its statuses or its
  error. Larger batches fill a commit of their own: workers write those themselves.
- When the leading worker ends, the writer answers what it holds, tells the workers still
  connected that it is leaving (they write their next records themselves) and exits; the
  lock, which the writer inherited, is free once both are gone, and another worker starts a
  writer within :data:`ELECTION_INTERVAL`. Until a writer listens, workers write their
  records themselves, as without the relay.

``AUREA_WRITE_RELAY``: ``auto`` (the default) runs it on PostgreSQL only. On SQLite it
measured no faster (``make bench``): there the writing itself, not the database server,
takes the CPU, and the hop costs what the merged commits save. ``on`` and ``off`` force it.

What a client sees is unchanged. A record is acknowledged only once committed. Records
that could not be handed over (no writer yet, the connection was closed) are written by
the worker itself. Records handed over without an answer in time, or whose connection was
lost, may or may not be committed: the worker answers 503, as for a database lost
mid-commit, and a retry with the same ``request_id`` is counted once.

Other users of the host are kept out: the socket and its lock are their owner's only, the
relay refuses a folder that another user owns or may write to, and a worker checks that the
process it connects to runs as its own user. The socket's path must fit in a Unix socket
address (about 100 bytes); with a longer path no relay runs.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from aurea.database import _deadline, time_left
from aurea.extensions import db

log = logging.getLogger(__name__)

EXTENSION_KEY = "aurea_write_relay"
# Requests with more records than this are written by their worker: they fill a commit.
RELAY_MAX_RECORDS = 20
# How often a worker that does not lead checks whether the leader is gone.
ELECTION_INTERVAL = 0.1
# Wait before starting a writer again after one exited; twice as long after each exit, up to
# the maximum, unless the last one ran for RESTART_RESET seconds.
RESTART_DELAY = 0.5
RESTART_DELAY_MAX = 30.0
RESTART_RESET = 60.0
# Where ``python -m aurea.writer`` finds the aurea package.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# How long the relay's stop waits for the writer to answer what it holds and exit.
STOP_WAIT = 5.0
# A writer that does not accept a connection within this long is not used (full backlog).
CONNECT_TIMEOUT = 1.0
# Longest socket path (sockaddr_un holds 108 bytes with the terminating NUL, less on BSDs).
MAX_SOCKET_PATH = 100
# After its worker left, the writer answers until no request came for this long.
DRAIN_IDLE = 0.05
# ... and for at most this long in all.
DRAIN_MAX = 0.5
# How far past the earliest of its requests' deadlines a group's transaction may run; less
# than the second a worker waits past its deadline for the answer.
DEADLINE_GRACE = 0.5
_FRAME = struct.Struct("!I")
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
MAX_FRAME = 1024 * 1024


class RelayLost(Exception):
    """Records handed over were not acknowledged: the writer failed to write them, or no
    answer came (then whether they were committed is unknown)."""


def lost(reason: str) -> sa.exc.OperationalError:
    """RelayLost as the app answers a lost database: 503, retry later."""
    return sa.exc.OperationalError("write relay", None, RelayLost(reason))


# -- messages -------------------------------------------------------------------------------


def frame(message: dict) -> bytes:
    data = json.dumps(message, separators=(",", ":")).encode()
    return _FRAME.pack(len(data)) + data


def unframe(buffer: bytearray) -> list[dict]:
    """Remove the complete frames at the start of ``buffer``; return their messages."""
    messages = []
    while len(buffer) >= _FRAME.size:
        (size,) = _FRAME.unpack_from(buffer)
        if size > MAX_FRAME:
            raise ValueError(f"frame of {size} bytes")
        if len(buffer) < _FRAME.size + size:
            break
        messages.append(json.loads(bytes(buffer[_FRAME.size : _FRAME.size + size])))
        del buffer[: _FRAME.size + size]
    return messages


def receive(sock: socket.socket) -> dict | None:
    """The next message on a blocking socket, or None when the peer closed between messages."""
    buffer = bytearray()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            if buffer:
                raise ConnectionError("connection closed in the middle of a message")
            return None
        buffer += chunk
        messages = unframe(buffer)
        if messages:
            return messages[0]


def encode_records(records) -> list[list]:
    return [
        [
            r.model,
            r.latency,
            r.cost,
            r.success,
            r.task,
            r.request_id,
            None if r.at is None else r.at.isoformat(),
        ]
        for r in records
    ]


def decode_records(rows: list[list]) -> list:
    from aurea.services.records import Record

    return [
        Record(
            model,
            latency,
            cost,
            success,
            task,
            request_id,
            None if at is None else datetime.fromisoformat(at),
        )
        for model, latency, cost, success, task, request_id, at in rows
    ]


RELAY_SETTINGS = ("auto", "on", "off")
PROTOCOL = 1


def relay_wanted(setting: str, engine: sa.Engine) -> bool:
    """Whether AUREA_WRITE_RELAY asks for a relay on ``engine``'s database."""
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        return False  # a database of its own per process
    return setting == "on" or (setting == "auto" and engine.dialect.name == "postgresql")


def relay_paths(directory: str, database_uri: str) -> tuple[str, str] | None:
    """The lock and socket paths of the relay of ``database_uri`` on this host, or None
    when the socket's path would be too long."""
    key = hashlib.sha256(database_uri.encode()).hexdigest()[:16]
    # The version of the messages is in the name: a writer of an older release, still
    # running through a USR2 upgrade, is not sent messages it cannot read.
    stem = os.path.join(os.path.abspath(directory), f"relay-v{PROTOCOL}-{key}")
    if len(f"{stem}.sock".encode()) > MAX_SOCKET_PATH:
        return None
    return f"{stem}.lock", f"{stem}.sock"


def unsafe_directory(directory: str) -> str | None:
    """Why the relay must not put its lock and socket in ``directory`` (None: it may).

    Another user able to create files there could hold the lock, or put a socket of theirs
    where the workers send records.
    """
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.stat(directory)
    except OSError as error:
        return f"cannot be used: {error}"
    if info.st_uid != os.getuid():
        return "belongs to another user"
    if info.st_mode & 0o022:
        return "is writable by other users"
    return None


# -- the workers' side ----------------------------------------------------------------------


class WriteRelay:
    """A worker's side of the relay: runs the writer while it leads; forwards records."""

    def __init__(
        self, app: Flask, lock_path: str, socket_path: str, alive: Callable[[], bool] | None = None
    ) -> None:
        self.app = app
        self.lock_path = lock_path
        self.socket_path = socket_path
        # False once the worker is shutting down: it must not take the lead then.
        self.alive = alive or (lambda: True)
        self.leading = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer: subprocess.Popen | None = None
        self._local = threading.local()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aurea-write-relay", daemon=True)
        self._thread.start()

    def _running(self) -> bool:
        return not self._stopping.is_set() and self.alive()

    def _run(self) -> None:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            log.warning("write relay off: cannot open %s: %s", self.lock_path, error)
            return
        try:
            while self._running():
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    self._stopping.wait(ELECTION_INTERVAL)
                    continue
                self.leading.set()
                self._supervise(fd)
        finally:
            self.leading.clear()
            os.close(fd)  # releases the lock, unless a writer still holds it

    def _supervise(self, lock_fd: int) -> None:
        """Run the writer until this relay stops; start it again when it exits.

        The writer inherits the locked file: the lock lasts as long as either process, so
        no other worker starts a writer while this one still runs (and could unlink the
        socket a newer one listens on).
        """
        delay = RESTART_DELAY
        while self._running():
            started = time.monotonic()
            try:
                self._writer = self._start_writer(lock_fd)
            except OSError as error:  # fork or exec failed: out of processes or memory
                log.error("write relay: cannot start the writer: %s", error)
            else:
                log.info("write relay: started the writer (pid %d)", self._writer.pid)
                while self._writer.poll() is None and self._running():
                    self._stopping.wait(ELECTION_INTERVAL)
                if not self._running():
                    self._end_writer()
                    return
            # Workers write their records themselves meanwhile.
            if time.monotonic() - started > RESTART_RESET:
                delay = RESTART_DELAY
            log.warning("write relay: no writer; starting another in %.1f s", delay)
            self._stopping.wait(delay)
            delay = min(delay * 2, RESTART_DELAY_MAX)

    def _start_writer(self, lock_fd: int) -> subprocess.Popen:
        env = {**os.environ, "AUREA_DATABASE_URL": self.app.config["SQLALCHEMY_DATABASE_URI"]}
        # PROMETHEUS_MULTIPROC_DIR stays: the writer serves no /metrics, but its write
        # metrics (aurea.write_metrics) go to files there, which the workers' scrapes merge.
        # Run from this worker's folder (a relative SQLite path means the same file there),
        # finding the aurea package where this worker found it.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (PROJECT_ROOT, env.get("PYTHONPATH")) if p)
        return subprocess.Popen(
            [sys.executable, "-m", "aurea.writer", self.socket_path, str(lock_fd)],
            stdin=subprocess.PIPE,  # closed when this process ends: the writer then exits
            env=env,
            pass_fds=(lock_fd,),
        )

    def _end_writer(self) -> None:
        writer = self._writer
        if writer is None or writer.poll() is not None:
            return
        writer.stdin.close()  # the writer answers what it holds, then exits
        try:
            writer.wait(timeout=STOP_WAIT)
        except subprocess.TimeoutExpired:
            writer.kill()
            writer.wait()

    def stop(self) -> None:
        """Stop the writer (it answers what it holds first) and leave the election.

        Bounded well below gunicorn's graceful_timeout.
        """
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_WAIT + 1)
        self._close_connection()

    def forward(self, records, batch: bool) -> list[str] | None:
        """Have the writer store ``records``; return their statuses.

        None: not handed over (too many records, no writer listens, the connection was
        closed, the writer was leaving); the caller writes them itself. Raises the writer's
        UnknownModel refusal, or OperationalError when they were handed over and not
        acknowledged.
        """
        if len(records) > RELAY_MAX_RECORDS or self._stopping.is_set():
            return None
        left = time_left()
        budget = left if left is not None else current_app.config["AUREA_DB_TIMEOUT"]
        if budget <= 0:
            return None  # the caller fails on the spent budget as usual
        # Monotonic time is the same clock in every process of the host.
        deadline = time.monotonic() + budget
        connection = self._connection(budget)
        if connection is None:
            return None
        message = {"records": encode_records(records), "batch": batch, "deadline": deadline}
        try:
            connection.settimeout(max(deadline - time.monotonic(), 0.001))
            connection.sendall(frame(message))
        except OSError:
            # Not handed over whole: the writer drops a frame cut short.
            self._close_connection()
            return None
        try:
            # The writer answers by the deadline (and its grace); a second more for the way back.
            connection.settimeout(max(deadline - time.monotonic(), 0.0) + 1.0)
            answer = receive(connection)
        except (OSError, ValueError) as error:
            self._close_connection()
            raise lost(f"the writer did not answer: {error}") from error
        if answer is None:
            self._close_connection()
            raise lost("the writer closed the connection")
        if "statuses" in answer:
            return answer["statuses"]
        if "refused" in answer:
            from aurea.services.records import UnknownModel

            raise UnknownModel(answer["refused"]["message"], answer["refused"]["errors"])
        if "leaving" in answer:  # the writer stopped without reading these records
            self._close_connection()
            return None
        raise lost(answer["failed"])

    def _connection(self, timeout: float) -> socket.socket | None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.settimeout(min(timeout, CONNECT_TIMEOUT))  # a full backlog blocks
            connection.connect(self.socket_path)
            if peer_uid(connection) != os.getuid():
                log.error("write relay: %s belongs to another user; not used", self.socket_path)
                raise ConnectionRefusedError("the writer runs as another user")
        except OSError:
            connection.close()
            return None
        self._local.connection = connection
        return connection

    def _close_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            self._local.connection = None
            connection.close()


def peer_uid(connection: socket.socket) -> int:
    """The user id of the process at the other end of a Unix socket (SO_PEERCRED: Linux)."""
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    _pid, uid, _gid = _PEERCRED.unpack(credentials)
    return uid


def start_write_relay(app: Flask, alive: Callable[[], bool] | None = None) -> WriteRelay | None:
    """Start this process's relay if AUREA_WRITE_RELAY asks for one; return it.

    ``alive``: False once the process is shutting down (gunicorn's ``worker.alive``).
    """
    with app.app_context():
        wanted = relay_wanted(app.config["AUREA_WRITE_RELAY"], db.engine)
    if not wanted:
        return None
    if not hasattr(socket, "SO_PEERCRED"):
        log.warning("write relay off: this system cannot tell who listens on a Unix socket")
        return None
    directory = app.config["AUREA_RELAY_DIR"]
    refusal = unsafe_directory(directory)
    if refusal:
        log.warning("write relay off: AUREA_RELAY_DIR %s %s", directory, refusal)
        return None
    paths = relay_paths(directory, app.config["SQLALCHEMY_DATABASE_URI"])
    if paths is None:
        log.warning("write relay off: AUREA_RELAY_DIR's path is too long for a socket")
        return None
    relay = WriteRelay(app, *paths, alive=alive)
    app.extensions[EXTENSION_KEY] = relay
    relay.start()
    return relay


def stop_write_relay(app: Flask) -> None:
    relay = app.extensions.pop(EXTENSION_KEY, None)
    if relay is not None:
        relay.stop()


def write_relay() -> WriteRelay | None:
    return current_app.extensions.get(EXTENSION_KEY)


# -- the writer -----------------------------------------------------------------------------


def write_messages(messages: list[dict]) -> list[dict[str, Any]]:
    """Write every message's records in one transaction; return each message's answer.

    Runs in the app context. A message that cannot be read, or whose deadline has passed
    (its worker has answered 503 already), is answered as failed without being written.
    The transaction must end by the earliest deadline of the others: no record is committed
    after its worker stopped waiting for the answer.
    """
    from aurea.services.group_commit import Job
    from aurea.services.records import UnknownModel, write_group

    now = time.monotonic()
    jobs: list[Job] = []
    deadlines = []
    for message in messages:
        try:
            job = Job(decode_records(message["records"]), bool(message["batch"]))
            deadline = float(message["deadline"])
        except (KeyError, TypeError, ValueError) as error:
            job = Job([], False)
            job.finish(error=RelayLost(f"unreadable message: {error!r}"))
        else:
            if deadline <= now:
                job.finish(error=RelayLost("the request's database budget was spent"))
            else:
                deadlines.append(deadline)
        jobs.append(job)
    live = [job for job in jobs if not job.done]
    if live:
        # Past its deadline a worker still waits a second for the answer: the grace lets the
        # commit of a group whose earliest request is almost out of time finish.
        token = _deadline.set(min(deadlines) + DEADLINE_GRACE)
        try:
            write_group(lambda: live)
        except Exception as error:  # noqa: BLE001 - the whole group failed: each answers 503
            log.error("write relay: writing %d requests' records failed: %s", len(live), error)
            for job in live:
                if not job.done:
                    job.finish(error=error)
        finally:
            _deadline.reset(token)
            db.session.remove()
    answers: list[dict[str, Any]] = []
    for job in jobs:
        if job.statuses is not None:
            answers.append({"statuses": job.statuses})
        elif isinstance(job.error, UnknownModel):
            answers.append({"refused": {"message": job.error.message, "errors": job.error.errors}})
        else:
            answers.append({"failed": str(job.error)})
    return answers


class Writer:
    """The writer's loop: one thread, every request that arrived while it committed in the
    next transaction."""

    def __init__(self, socket_path: str, parent) -> None:
        self.socket_path = socket_path
        self.parent = parent  # readable: closed when the leading worker is gone
        self.selector = selectors.DefaultSelector()
        self.buffers: dict[socket.socket, bytearray] = {}
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.bound: int | None = None
        self.commits = 0  # transactions written, and records acknowledged by them
        self.records = 0

    def listen(self) -> None:
        # Only the leading worker's writer runs: a file at the path is a former writer's.
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        # Only this user's processes (the workers) may connect: no other user of the host.
        mask = os.umask(0o177)
        try:
            self.server.bind(self.socket_path)
        finally:
            os.umask(mask)
        self.bound = os.stat(self.socket_path).st_ino
        self.server.listen(128)
        self.server.setblocking(False)
        self.selector.register(self.server, selectors.EVENT_READ, "accept")
        self.selector.register(self.parent, selectors.EVENT_READ, "parent")

    def run(self) -> None:
        """Serve until the parent's pipe closes; then answer what is still sent, and stop."""
        parent_alive = True
        while parent_alive:
            parent_alive, _busy = self._step(None)
        self._stop_listening()
        # Records sent just before the socket closed are still answered, for a while: workers
        # keep their connections and may keep sending. What comes later is not read, and the
        # workers are told so (close).
        until = time.monotonic() + DRAIN_MAX
        while self._step(DRAIN_IDLE)[1] and time.monotonic() < until:
            pass
        self.close()

    def _step(self, timeout: float | None) -> tuple[bool, bool]:
        """Wait for events; answer the requests that arrived. Returns (parent alive, busy)."""
        parent_alive, busy = True, False
        arrived: list[tuple[socket.socket, dict]] = []
        for key, _events in self.selector.select(timeout):
            busy = True
            if key.data == "accept":
                self._accept()
            elif key.data == "parent":
                if not os.read(self.parent.fileno(), 4096):
                    parent_alive = False
                    self.selector.unregister(self.parent)
            else:
                arrived += self._read(key.fileobj)
        if arrived:
            self._answer(arrived)
        return parent_alive, busy

    def _stop_listening(self) -> None:
        try:  # unless a later writer listens there already
            if os.stat(self.socket_path).st_ino == self.bound:
                os.unlink(self.socket_path)
        except OSError:
            pass
        # Connections already queued are taken: they are answered, or told we are leaving.
        while self._accept():
            pass
        self.selector.unregister(self.server)
        self.server.close()

    def _accept(self) -> bool:
        try:
            connection, _ = self.server.accept()
        except OSError:  # none waiting
            return False
        connection.setblocking(False)
        self.buffers[connection] = bytearray()
        self.selector.register(connection, selectors.EVENT_READ, "peer")
        return True

    def _read(self, connection: socket.socket) -> list[tuple[socket.socket, dict]]:
        buffer = self.buffers[connection]
        try:
            while True:
                chunk = connection.recv(65536)
                if not chunk:  # the worker closed it (a frame cut short is dropped)
                    self._drop(connection)
                    return []
                buffer += chunk
        except BlockingIOError:
            pass
        except OSError:
            self._drop(connection)
            return []
        try:
            return [(connection, message) for message in unframe(buffer)]
        except ValueError:
            self._drop(connection)
            return []

    def _answer(self, arrived: list[tuple[socket.socket, dict]]) -> None:
        answers = write_messages([message for _connection, message in arrived])
        answered = sum(len(answer.get("statuses", ())) for answer in answers)
        self.commits += answered > 0
        self.records += answered
        for (connection, _message), answer in zip(arrived, answers, strict=True):
            # Not sent: the worker gave up waiting (it answered 503).
            if connection in self.buffers and not self._send(connection, answer, 1.0):
                self._drop(connection)

    @staticmethod
    def _send(connection: socket.socket, message: dict, timeout: float) -> bool:
        """Send ``message`` within ``timeout`` seconds; False if that failed."""
        try:
            connection.settimeout(timeout)
            connection.sendall(frame(message))
            connection.setblocking(False)
        except OSError:
            return False
        return True

    def _drop(self, connection: socket.socket) -> None:
        self.buffers.pop(connection, None)
        try:
            self.selector.unregister(connection)
        except (KeyError, ValueError):
            pass
        connection.close()

    def close(self) -> None:
        # Whatever a worker sent after the last read is not written: "leaving" tells it so,
        # and it writes those records itself.
        for connection in list(self.buffers):
            self._send(connection, {"leaving": True}, 0.1)
            self._drop(connection)
        self.selector.close()


def serve(socket_path: str, lock_fd: str | None = None) -> None:
    """The writer process: serve until the leading worker closes the pipe on our stdin.

    ``lock_fd``: the election lock, inherited from the leading worker and left open, so it
    stays held until this process exits.
    """
    from aurea import create_app

    # Ctrl-C and gunicorn's stop reach the whole process group: the writer leaves when its
    # worker does (the pipe closes), after answering what it holds.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
    )
    app = create_app()
    with app.app_context():
        writer = Writer(socket_path, sys.stdin)
        writer.listen()
        log.info("write relay: the writer (pid %d) listens on %s", os.getpid(), socket_path)
        writer.run()
        log.info(
            "write relay: the writer (pid %d) answered %d records in %d commits; exiting",
            os.getpid(),
            writer.records,
            writer.commits,
        )
