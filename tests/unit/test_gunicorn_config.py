"""gunicorn.conf.py: the access log switch."""

import runpy

import pytest

from tests.support.server import ROOT

VARIABLES = ("PROMETHEUS_MULTIPROC_DIR", "AUREA_PROMETHEUS_CREATED_DIR", "AUREA_ACCESS_LOG")


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
