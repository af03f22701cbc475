"""gunicorn.conf.py: access log switch and the Prometheus multiprocess directory."""

import logging
import os
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support.server import ROOT, free_port

VARIABLES = (
    "PROMETHEUS_MULTIPROC_DIR",
    "AUREA_PROMETHEUS_CREATED_DIR",
    "AUREA_ACCESS_LOG",
    "GUNICORN_REUSE_PORT",
)


@pytest.fixture
def environ(monkeypatch):
    """A clean copy of the environment variables the config reads; restored afterwards."""
    for name in VARIABLES:
        # setenv first so that monkeypatch restores the original state, even "unset".
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)
    return monkeypatch


def load_config() -> dict:
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "-"), ("-", "-"), ("/var/log/aurea/access.log", "/var/log/aurea/access.log")]
    + [(off, None) for off in ("", " ", "off", "OFF", "none")],
)
def test_access_log_is_stdout_by_default_and_can_be_turned_off(environ, value, expected):
    if value is not None:
        environ.setenv("AUREA_ACCESS_LOG", value)
    assert load_config()["accesslog"] == expected


def test_the_access_log_leaves_out_query_strings(environ):
    log_format = load_config()["access_log_format"]
    assert "%(U)s" in log_format
    assert "%(r)s" not in log_format and "%(q)s" not in log_format


def test_a_configured_multiproc_dir_is_created_or_emptied_at_start(environ, tmp_path):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_12345.db").write_bytes(b"stale")
    (directory / "README").write_text("not ours")
    prepare = load_config()["prepare_multiproc_dir"]
    master = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}

    assert prepare(master) == directory
    assert sorted(p.name for p in directory.iterdir()) == ["README"]
    assert master == {"PROMETHEUS_MULTIPROC_DIR": str(directory)}

    missing = tmp_path / "new" / "dir"
    assert prepare({"PROMETHEUS_MULTIPROC_DIR": str(missing)}) == missing
    assert missing.is_dir()


def test_without_a_configured_dir_each_master_start_gets_a_fresh_one(environ):
    prepare = load_config()["prepare_multiproc_dir"]
    first_master: dict[str, str] = {}
    first = prepare(first_master)
    # A master re-executed by USR2 inherits the environment of the first one.
    second_master = dict(first_master)
    second = prepare(second_master)
    try:
        assert first.is_dir() and second.is_dir() and first != second
        assert first_master["PROMETHEUS_MULTIPROC_DIR"] == str(first)
        assert second_master["PROMETHEUS_MULTIPROC_DIR"] == str(second)
        assert second_master["AUREA_PROMETHEUS_CREATED_DIR"] == str(second)
    finally:
        for path in (first, second):
            path.rmdir()


def test_the_master_removes_the_dir_it_created_on_exit_and_only_that(environ, tmp_path):
    config = load_config()
    server = SimpleNamespace(
        log=logging.getLogger("test.gunicorn"),
        cfg=SimpleNamespace(reuse_port=True, address=[("127.0.0.1", free_port())]),
    )
    config["on_starting"](server)
    created = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert created.is_dir()
    config["on_exit"](server)
    assert not created.exists()

    configured = tmp_path / "prometheus"
    environ.setenv("PROMETHEUS_MULTIPROC_DIR", str(configured))
    environ.delenv("AUREA_PROMETHEUS_CREATED_DIR")
    config["on_starting"](server)
    config["on_exit"](server)
    assert configured.is_dir()


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("1", True), ("0", False)])
def test_each_worker_listens_on_its_own_socket_unless_turned_off(environ, value, expected):
    if value is not None:
        environ.setenv("GUNICORN_REUSE_PORT", value)
    assert load_config()["reuse_port"] is expected


def test_a_port_another_server_listens_on_is_refused_before_workers_share_it(environ):
    import socket

    refuse_taken_port = load_config()["refuse_taken_port"]
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as reuse_port binds
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]
        with pytest.raises(RuntimeError, match="already in use"):
            refuse_taken_port(f"127.0.0.1:{port}")
    refuse_taken_port(f"127.0.0.1:{port}")  # free again
