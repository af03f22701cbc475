"""gunicorn settings: ``aurea serve`` (``gunicorn -c python:aurea.gunicorn_conf``), and
``make run`` through the checkout's gunicorn.conf.py."""

import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# gunicorn's own variable; Aurea defaults to 2 workers instead of gunicorn's 1.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads per worker: requests waiting for a commit's flush to disk leave the CPU to others
# (PostgreSQL flushes the commits that wait together at once); GUNICORN_THREADS=1 gives
# gunicorn's sync workers.
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new
# connections over them. With one shared socket, gthread workers accept greedily: a burst
# of keep-alive connections (a client's pool) often landed 7 or 8 to 1 on one worker,
# which then ran on one CPU while the other idled (``make bench``). The cost: a
# connection is bound to its worker's queue, so one still queued when that worker dies
# is reset (clients retry), and a worker that is busy gets its share all the same.
# GUNICORN_REUSE_PORT=0 returns to the shared socket.
reuse_port = os.environ.get("GUNICORN_REUSE_PORT", "1") != "0"
graceful_timeout = 10


def access_log_setting(value):
    """``AUREA_ACCESS_LOG``: unset means stdout (``-``); ``off``, ``none`` or empty disable it."""
    if value is None:
        return "-"
    value = value.strip()
    return None if value.lower() in ("", "off", "none") else value


accesslog = access_log_setting(os.environ.get("AUREA_ACCESS_LOG"))
# gunicorn's default format, with the path (%(U)s) instead of the request line (%(r)s):
# query strings are never logged, as they may hold a token (GET /dashboard?token=...).
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s"'
# The application's logs (one JSON line per request) go to the error log too.
errorlog = "-"
loglevel = os.environ.get("AUREA_LOG_LEVEL", "info")
# gunicorn's control socket (one per user by default) is not used by Aurea, and
# several instances on one host (tests, blue/green) would contend for it.
control_socket_disable = True
# The app must be loaded in the workers, after on_starting has set PROMETHEUS_MULTIPROC_DIR.
preload_app = False

# Prometheus multiprocess mode. Every worker writes its metrics to files in
# PROMETHEUS_MULTIPROC_DIR and /metrics merges them, whichever worker answers.
# If the variable is set, that directory is used and emptied at start (the files
# of a previous run would otherwise be added to this one's). If not, each master
# start gets a fresh temporary directory, removed on exit. A directory created by
# a previous master (inherited through a USR2 re-exec) is not reused.
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
CREATED_DIR = "AUREA_PROMETHEUS_CREATED_DIR"


def prepare_multiproc_dir(environ=os.environ):
    """Choose, create or empty the metrics directory; export it to the workers."""
    configured = environ.get(MULTIPROC_DIR)
    if configured and configured != environ.get(CREATED_DIR):
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        environ.pop(CREATED_DIR, None)
    else:
        path = Path(tempfile.mkdtemp(prefix="aurea-prometheus-"))
        environ[CREATED_DIR] = str(path)
    environ[MULTIPROC_DIR] = str(path)
    return path


def refuse_taken_port(address: str) -> None:
    """Fail when something already listens on ``address`` (``host:port``).

    With reuse_port, a second server on the same port (a forgotten instance, another
    checkout) would not fail to bind: it would silently share the connections. So the
    master checks first, binding without SO_REUSEPORT, which any listener refuses.
    """
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As gunicorn binds its own sockets: the connections a previous run closed linger in
        # TIME_WAIT on the port for a minute, and must not fail a restart. A listener still
        # refuses the probe (Linux lets SO_REUSEADDR bind beside anything but a listener).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError as error:
            raise RuntimeError(f"{address} is already in use: {error.strerror}") from None


def address_names(addresses) -> str:
    """The bound addresses as gunicorn names its sockets: ``http://host:port``, ``unix:path``."""
    names = []
    for address in addresses:
        if isinstance(address, tuple):
            host, port = address[0], address[1]
            names.append(f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}")
        else:
            names.append(f"unix:{address}")
    return ",".join(names)


class NameTheAddresses(logging.Filter):
    """Fill in gunicorn's "Listening at: %s (%s)" line when it names no socket.

    The master names the sockets it holds; with reuse_port it holds none (each worker binds
    its own after the line is logged), so the line read "Listening at:  (pid)".
    """

    def __init__(self, addresses: str) -> None:
        super().__init__()
        self.addresses = addresses

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            isinstance(record.msg, str)
            and record.msg.startswith("Listening at:")
            and isinstance(record.args, tuple)
            and record.args
            and record.args[0] == ""
        ):
            record.args = (self.addresses, *record.args[1:])
        return True


def on_starting(server):
    if server.cfg.reuse_port and hasattr(socket, "SO_REUSEPORT"):
        server.log.error_log.addFilter(NameTheAddresses(address_names(server.cfg.address)))
        if not os.environ.get("GUNICORN_PID"):  # not a USR2 re-exec
            for address in server.cfg.address:
                if isinstance(address, tuple):
                    refuse_taken_port(f"{address[0]}:{address[1]}")
    path = prepare_multiproc_dir()
    server.log.info("Prometheus multiprocess directory: %s", path)


def post_worker_init(worker):
    # PostgreSQL: the day partitions of request_metrics for the coming days (a no-op when
    # they exist; aurea/services/partitions.py). Never fatal: rows of a day without a
    # partition go to the default one.
    from aurea.app_context import ensure_partitions_logged

    ensure_partitions_logged(worker.wsgi)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    created = os.environ.get(CREATED_DIR)
    if created and created == os.environ.get(MULTIPROC_DIR):
        shutil.rmtree(created, ignore_errors=True)
