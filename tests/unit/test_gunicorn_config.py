"""gunicorn.conf.py: access log switch and the Prometheus multiprocess directory."""

import logging
import os
import runpy
import uuid
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


def fake_server(addresses) -> SimpleNamespace:
    """What on_starting uses of gunicorn's arbiter: its logger (gunicorn's has error_log)."""
    log = logging.getLogger(f"test.gunicorn.{uuid.uuid4().hex}")  # filters of its own
    return SimpleNamespace(
        log=SimpleNamespace(error_log=log, info=log.info),
        cfg=SimpleNamespace(reuse_port=True, address=addresses),
    )


def test_the_master_removes_the_dir_it_created_on_exit_and_only_that(environ, tmp_path):
    config = load_config()
    server = fake_server([("127.0.0.1", free_port())])
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


def time_wait_port() -> int:
    """A port no one listens on, with a connection the server side closed first: that
    side's socket stays in TIME_WAIT, as after a restart while clients kept connections."""
    import socket

    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server closes first: its end goes to TIME_WAIT
        client.recv(1)  # sees the FIN
        client.close()
    return port


def test_the_port_probe_passes_while_connections_of_a_stopped_server_linger_in_time_wait(environ):
    import socket

    port = time_wait_port()
    with socket.socket() as plain, pytest.raises(OSError):  # the lingering socket is there
        plain.bind(("127.0.0.1", port))
    load_config()["refuse_taken_port"](f"127.0.0.1:{port}")


def test_the_listening_at_line_names_the_address_that_each_worker_binds(environ, caplog):
    config = load_config()
    port = free_port()
    server = fake_server([("127.0.0.1", port), "/tmp/aurea.sock"])
    config["on_starting"](server)
    try:
        with caplog.at_level(logging.INFO, logger=server.log.error_log.name):
            # gunicorn's own call (arbiter.start) when the master holds no socket
            server.log.error_log.info("Listening at: %s (%s)", "", 1234)
        assert caplog.messages[-1] == (
            f"Listening at: http://127.0.0.1:{port},unix:/tmp/aurea.sock (1234)"
        )
    finally:
        config["on_exit"](server)
