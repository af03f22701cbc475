"""Settings the app refuses at start, instead of failing later one request at a time."""

import re

import pytest

from aurea.app import check_settings
from config import Config, normalize_database_url


def settings(**changes):
    values = {k: getattr(Config, k) for k in dir(Config) if k.isupper()}
    return {**values, **changes}


def test_the_default_settings_are_accepted():
    check_settings(settings())


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("AUREA_WARMUP", "sometimes", "AUREA_WARMUP must be listed, all or off"),
        ("AUREA_MIN_REQUESTS", 0, "AUREA_MIN_REQUESTS must be at least 1"),
        ("AUREA_EXPLORATION", 1.5, "AUREA_EXPLORATION must be between 0 and 1"),
        ("AUREA_WINDOW", "fortnight", "window"),
        ("AUREA_MAX_WEIGHT_STEP", 0.0, "AUREA_MAX_WEIGHT_STEP must be in (0, 1]"),
        ("AUREA_SQLITE_SYNCHRONOUS", "OFF", "AUREA_SQLITE_SYNCHRONOUS must be FULL or NORMAL"),
        (
            "AUREA_INCIDENT_HALF_LIFE_HOURS",
            0.0,
            "AUREA_INCIDENT_HALF_LIFE_HOURS must be more than 0",
        ),
        ("AUREA_INCIDENT_REQUEST_HOURS", -1.0, "AUREA_INCIDENT_REQUEST_HOURS must be 0 or more"),
        ("AUREA_SUCCESS_TREND_Z", -1.0, "AUREA_SUCCESS_TREND_Z must be 0 or more"),
    ],
)
def test_a_bad_setting_stops_the_app_from_starting(name, value, message):
    with pytest.raises((RuntimeError, ValueError), match=re.escape(message)):
        check_settings(settings(**{name: value}))


def test_a_relative_sqlite_path_is_taken_from_the_current_directory(tmp_path, monkeypatch):
    from aurea.storage.extensions import db
    from tests.conftest import make_app

    monkeypatch.chdir(tmp_path)
    url = normalize_database_url("sqlite:///data/aurea.db?timeout=3")
    assert url == f"sqlite:///{tmp_path / 'data' / 'aurea.db'}?timeout=3"
    (tmp_path / "data").mkdir()
    app = make_app("sqlite:///data/aurea.db")  # as the flask CLI and gunicorn build it
    with app.app_context():
        # not resolved against the app's instance folder (instance/instance/aurea.db)
        assert db.engine.url.database == str(tmp_path / "data" / "aurea.db")
        db.engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:////var/lib/aurea/aurea.db",
        "sqlite:///file:aurea?mode=memory&uri=true",
        "postgresql+psycopg://aurea@db/aurea",
    ],
)
def test_memory_absolute_and_other_database_urls_are_left_as_they_are(url):
    assert normalize_database_url(url) == url
