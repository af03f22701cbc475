"""Application configuration, read from the environment in one place.

``config`` at the repository's root re-exports these names for a checkout's scripts and tests.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

PACKAGE_DIR = Path(__file__).resolve().parent
# Installed from a wheel (``pip install .``), the package carries migrations/ and scenarios/
# inside it. In a checkout (``make run``, or ``pip install -e .``) they sit at the
# repository's root, beside instance/.
INSTALLED = (PACKAGE_DIR / "migrations").is_dir()
BASE_DIR = PACKAGE_DIR if INSTALLED else PACKAGE_DIR.parent
MIGRATIONS_DIR = BASE_DIR / "migrations"
SCENARIOS_DIR = BASE_DIR / "scenarios"
# Where the default SQLite database goes: the checkout's
# instance/, or for an installed package Flask's own choice for one, <prefix>/var/aurea-instance.
INSTANCE_DIR = Path(sys.prefix) / "var" / "aurea-instance" if INSTALLED else BASE_DIR / "instance"


def normalize_database_url(url: str) -> str:
    """Select the psycopg 3 driver for plain ``postgresql://`` URLs, and make relative SQLite
    paths absolute.

    SQLAlchemy would otherwise pick psycopg2, which is not installed. A relative SQLite path
    (``sqlite:///instance/aurea.db``) is taken from the current directory, as a shell user
    means it; Flask-SQLAlchemy would otherwise resolve it against the app's instance folder
    (``instance/instance/aurea.db``).
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return absolute_sqlite_url(url)


def absolute_sqlite_url(url: str) -> str:
    """``url`` with a relative SQLite file path made absolute against the current directory;
    other URLs, in-memory databases and ``file:`` URIs are returned as they are."""
    if not url.startswith("sqlite"):
        return url
    parsed = make_url(url)
    database = parsed.database
    if (
        not database
        or database == ":memory:"
        or database.startswith("file:")
        or parsed.query.get("uri") in ("true", "1")
        or Path(database).is_absolute()
    ):
        return url
    return parsed.set(database=str(Path.cwd() / database)).render_as_string(hide_password=False)


def _optional_float_env(name: str) -> float | None:
    raw = os.environ.get(name, "").strip()
    return None if raw == "" else _float_env(name, 0.0)


def _bool_env(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise RuntimeError(f"{name} must be true or false, got {raw!r}")


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a number, got {raw!r}") from exc


class Config:
    """Production defaults; every knob can be set through an AUREA_* variable."""

    SQLALCHEMY_DATABASE_URI = normalize_database_url(
        os.environ.get("AUREA_DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'aurea.db'}"
    )
    # Seconds a request may wait for the database before it fails with a 503: for a lock
    # (SQLite busy_timeout), or on PostgreSQL for a connection and every answer in total.
    AUREA_DB_TIMEOUT = _float_env("AUREA_DB_TIMEOUT", 10.0)
    # Seconds GET /readyz may wait for the database before answering 503; kept short
    # so that probes never hang (PostgreSQL rounds connection timeouts up to 2 s).
    AUREA_READY_TIMEOUT = _float_env("AUREA_READY_TIMEOUT", 2.0)
    # FULL: an acknowledged record survives a power loss (fsync per commit). NORMAL (in WAL
    # mode): it survives a crash of Aurea or of the host's processes, not of the host itself,
    # and commits need no fsync. See docs/storage.md.
    AUREA_SQLITE_SYNCHRONOUS = os.environ.get("AUREA_SQLITE_SYNCHRONOUS", "FULL").upper()
    # Smallest weight optimize may give a criterion, so none is ever ignored.
    AUREA_MIN_WEIGHT = _float_env("AUREA_MIN_WEIGHT", 0.1)
    # Window of recent data that scores, metrics and optimize read: 1h, 24h, 7d, 30d or all.
    AUREA_WINDOW = os.environ.get("AUREA_WINDOW", "7d")
    # Task rows a model needs in the window before its task statistics replace its global ones.
    AUREA_MIN_REQUESTS = int(_float_env("AUREA_MIN_REQUESTS", 1))
    # Cold start first: while a candidate has fewer than min_requests, it is chosen before any
    # scoring. "listed": only for models named in the request's models= (default); "all": every
    # enabled registered model too; "off": only when no model has enough requests.
    AUREA_WARMUP = os.environ.get("AUREA_WARMUP", "listed").strip().lower()
    # How select ranks models: "utility" (expected utility in USD under the objective below,
    # with Thompson sampling) or "weighted" (the seed's weighted min-max score). See
    # docs/decisions.md.
    AUREA_OBJECTIVE = os.environ.get("AUREA_OBJECTIVE", "utility").strip().lower()
    # The objective in real units: what a successful call is worth (USD), what a second of
    # latency costs (USD), and an optional hard cap on a model's expected cost per call (USD).
    AUREA_SUCCESS_VALUE = _float_env("AUREA_SUCCESS_VALUE", 0.10)
    AUREA_LATENCY_COST = _float_env("AUREA_LATENCY_COST", 0.005)
    AUREA_MAX_PRICE = _optional_float_env("AUREA_MAX_PRICE")
    # Per-task objectives (JSON), e.g. {"code": {"success_value": 0.5}}: a task's fields
    # replace the ones above for selections with that task.
    AUREA_TASK_OBJECTIVES = os.environ.get("AUREA_TASK_OBJECTIVES", "")
    # Utility mode: at most this share of selections explores (goes to a model other than the
    # one with the highest expected utility). Weighted mode: the share of selections sent to a
    # Thompson-sampled model. Unset: 0.1 in utility mode, 0 in weighted mode.
    AUREA_EXPLORATION = _optional_float_env("AUREA_EXPLORATION")
    # Utility mode: a candidate not seen for this many hours gets a recheck with this
    # probability per selection (a price cut or a repaired model is noticed).
    AUREA_RECHECK_HOURS = _float_env("AUREA_RECHECK_HOURS", 6.0)
    AUREA_RECHECK_RATE = _float_env("AUREA_RECHECK_RATE", 0.02)
    # Estimates (utility mode): half-lives in hours of the success counts and of the cost
    # and latency means, the long memory (pseudo-requests), the pseudo-requests a task's
    # estimate is shrunk toward its model's with, and the change detector's false-alarm
    # level (0 turns change detection off).
    AUREA_SUCCESS_HALF_LIFE_HOURS = _float_env("AUREA_SUCCESS_HALF_LIFE_HOURS", 24.0)
    AUREA_PRICE_HALF_LIFE_HOURS = _float_env("AUREA_PRICE_HALF_LIFE_HOURS", 3.0)
    AUREA_MEMORY = _float_env("AUREA_MEMORY", 50.0)
    AUREA_TASK_PRIOR = _float_env("AUREA_TASK_PRIOR", 5.0)
    AUREA_CHANGE_DELTA = _float_env("AUREA_CHANGE_DELTA", 0.05)
    # A drifting success rate is followed along its trend when the slope is this many
    # standard errors from 0 (0 turns the correction off; aurea.domain.estimators).
    AUREA_SUCCESS_TREND_Z = _float_env("AUREA_SUCCESS_TREND_Z", 3.0)
    # After a detected drop in success, the hours since it fade with this half-life (hours),
    # so that a model left alone after an incident is retried once it may be repaired.
    AUREA_INCIDENT_HALF_LIFE_HOURS = _optional_float_env("AUREA_INCIDENT_HALF_LIFE_HOURS")
    # When that is unset, the half-life is sqrt(this / requests an hour in the scope over the
    # last day) hours: 1 h at 600 requests an hour, 4.5 h at 30 (0 turns the fade off).
    AUREA_INCIDENT_REQUEST_HOURS = _float_env("AUREA_INCIDENT_REQUEST_HOURS", 600.0)
    # Seed for exploration draws (unset: unpredictable); for reproducible runs and tests.
    AUREA_RANDOM_SEED = _optional_float_env("AUREA_RANDOM_SEED")
    # Refuse records for models that are not registered instead of registering them.
    AUREA_STRICT_MODELS = _bool_env("AUREA_STRICT_MODELS", False)
    # Cooldown: a model whose failure rate over the lookback reaches the rate, with at least
    # the minimum number of requests, is skipped for AUREA_COOLDOWN_SECONDS, then tried again.
    AUREA_COOLDOWN_FAILURE_RATE = _float_env("AUREA_COOLDOWN_FAILURE_RATE", 0.5)
    AUREA_COOLDOWN_MIN_REQUESTS = int(_float_env("AUREA_COOLDOWN_MIN_REQUESTS", 5))
    AUREA_COOLDOWN_SECONDS = _float_env("AUREA_COOLDOWN_SECONDS", 1800)
    AUREA_COOLDOWN_LOOKBACK_SECONDS = _float_env("AUREA_COOLDOWN_LOOKBACK_SECONDS", 60)
    # The most any weight may move in one optimize run (unset: no limit).
    AUREA_MAX_WEIGHT_STEP = _optional_float_env("AUREA_MAX_WEIGHT_STEP")
    # Seconds a worker may reuse a computed select/metrics answer (0: never). Writes
    # through the same worker clear it at once; other workers' writes show within this bound.
    AUREA_CACHE_SECONDS = _float_env("AUREA_CACHE_SECONDS", 1.0)
    # Request bodies above this size are refused with 413 before being parsed.
    MAX_CONTENT_LENGTH = int(_float_env("AUREA_MAX_BODY_BYTES", 1024 * 1024))
    # POST /v1/traces (OTLP): the largest export body, both as sent and once inflated.
    AUREA_OTLP_MAX_BODY_BYTES = int(_float_env("AUREA_OTLP_MAX_BODY_BYTES", 16 * 1024 * 1024))

    SQLALCHEMY_TRACK_MODIFICATIONS = False
    JSON_SORT_KEYS = False

    API_TITLE = "Aurea Orchestrator"
    API_VERSION = "1.0.0"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    OPENAPI_SWAGGER_UI_URL = "/static/swagger-ui/"
    OPENAPI_REDOC_PATH = "/redoc"
    OPENAPI_REDOC_URL = "/static/redoc/redoc.standalone.js"


class TestingConfig(Config):
    """Configuration for the test suite; the database URL is set per test."""

    TESTING = True
    # Tests check each answer right after each write; tests of the cache turn it on.
    AUREA_CACHE_SECONDS = 0.0
    SQLALCHEMY_DATABASE_URI = "sqlite://"
