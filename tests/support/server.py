"""Run the real service under gunicorn for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn_server(database_url: str, workers: int, log_dir: Path, extra_args=(), env=None):
    """Serve ``wsgi:app`` with the project's gunicorn.conf.py; yield the base URL."""
    with gunicorn_process(database_url, workers, log_dir, extra_args, env) as (base_url, _):
        yield base_url


@contextmanager
def gunicorn_process(
    database_url: str,
    workers: int,
    log_dir: Path,
    extra_args=(),
    env=None,
    log_name: str = "gunicorn.log",
):
    """Like gunicorn_server, but yield (base URL, master process): tests may kill it.

    The master leads its own process group, so ``os.killpg(process.pid, ...)`` reaches
    every worker too.
    """
    port = free_port()
    environment = {
        **os.environ,
        "AUREA_DATABASE_URL": database_url,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        **(env or {}),
    }
    log_path = log_dir / log_name
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", *extra_args, "wsgi:app"],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base_url, process, log_path)
        yield base_url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def wait_until_serving(base_url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early:\n{log_path.read_text()}")
        try:
            if requests.get(base_url + "/", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not start:\n{log_path.read_text()}")
