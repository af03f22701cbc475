"""The Flask application factory: create_app builds the app, its extensions and blueprints.

The ``aurea`` commands are added by :func:`aurea.cli.create_app_with_commands` (``wsgi.py``,
the ``aurea`` console script): the commands use the application and the simulator, which
builds applications of its own, so the factory does not import them back.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from aurea.api import register_blueprints
from aurea.auth import log_open_mode
from aurea.domain.windows import parse_window
from aurea.errors import register_error_handlers
from aurea.observability import register_observability
from aurea.services.objectives import check_objective_settings
from aurea.settings import INSTANCE_DIR, MIGRATIONS_DIR, Config
from aurea.storage.cache import init_cache
from aurea.storage.database import SQLITE_SYNCHRONOUS, DatabaseBudget, engine_options, init_database
from aurea.storage.extensions import db, migrate


def create_app(config_class: type[Config] = Config) -> Flask:
    """Build the application: config, extensions, observability, blueprints, errors."""
    # Named after the package (not aurea.app): the logger "aurea" and the package's templates.
    app = Flask("aurea", instance_path=str(INSTANCE_DIR), static_folder=None)
    app.config.from_object(config_class)
    check_settings(app.config)
    app.json.sort_keys = False
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)

    register_extensions(app)
    # Before the blueprints: request timing, logs and metrics wrap every other hook.
    register_observability(app)
    # One Api (and OpenAPI spec) per application: the test suite builds many apps.
    register_blueprints(app, Api(app))
    register_error_handlers(app)
    log_open_mode(app)
    # Outermost, the database budget of every request.
    app.wsgi_app = DatabaseBudget(  # type: ignore[method-assign]
        app.wsgi_app, app.config["AUREA_DB_TIMEOUT"]
    )
    return app


def check_settings(config) -> None:
    """Refuse to start on settings that would fail later, one request at a time."""
    parse_window(config["AUREA_WINDOW"])
    if not 0 <= config["AUREA_MIN_WEIGHT"] <= 1 / 3:
        raise RuntimeError("AUREA_MIN_WEIGHT must be between 0 and 1/3")
    if config["AUREA_MIN_REQUESTS"] < 1:
        raise RuntimeError("AUREA_MIN_REQUESTS must be at least 1")
    if config["AUREA_WARMUP"] not in ("listed", "all", "off"):
        raise RuntimeError("AUREA_WARMUP must be listed, all or off")
    check_objective_settings(config)
    if not 0 < config["AUREA_COOLDOWN_FAILURE_RATE"] <= 1:
        raise RuntimeError("AUREA_COOLDOWN_FAILURE_RATE must be in (0, 1]")
    step = config["AUREA_MAX_WEIGHT_STEP"]
    if step is not None and not 0 < step <= 1:
        raise RuntimeError("AUREA_MAX_WEIGHT_STEP must be in (0, 1]")
    if config["AUREA_SQLITE_SYNCHRONOUS"] not in SQLITE_SYNCHRONOUS:
        raise RuntimeError("AUREA_SQLITE_SYNCHRONOUS must be FULL or NORMAL")
    if config["AUREA_OTLP_MAX_BODY_BYTES"] < 1:
        raise RuntimeError("AUREA_OTLP_MAX_BODY_BYTES must be at least 1")
    if config["AUREA_DB_TIMEOUT"] <= 0:
        raise RuntimeError("AUREA_DB_TIMEOUT must be more than 0 seconds")


def register_extensions(app: Flask) -> None:
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS",
        engine_options(app.config["SQLALCHEMY_DATABASE_URI"], app.config["AUREA_DB_TIMEOUT"]),
    )
    db.init_app(app)
    init_cache(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    init_database(app)
