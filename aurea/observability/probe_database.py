"""A second, impatient engine on the application's database, for probes and scrapes.

GET /readyz and the weights read by GET /metrics must answer within seconds even when the
database hangs, so they do not use the application's engine (whose timeouts follow
``AUREA_DB_TIMEOUT``, 10 s by default) but this one: no pool (every use really connects),
connections and statements limited to ``AUREA_READY_TIMEOUT`` seconds.
"""

from __future__ import annotations

import math

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from aurea.storage.extensions import db

EXTENSION_KEY = "aurea_probe_engine"


def impatient_engine(url: sa.URL, timeout: float) -> Engine:
    """An unpooled engine on ``url`` whose connections and statements give up after ``timeout``."""
    if url.get_backend_name() == "sqlite":
        # Seconds to wait for a lock; opening a file never hangs.
        return sa.create_engine(url, poolclass=NullPool, connect_args={"timeout": timeout})
    # libpq counts whole seconds (and waits at least 2); statement_timeout is in milliseconds.
    options = url.query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    statement_timeout = f"-c statement_timeout={max(1, int(timeout * 1000))}"
    return sa.create_engine(
        url.update_query_dict({"options": f"{options} {statement_timeout}".strip()}),
        poolclass=NullPool,
        connect_args={"connect_timeout": max(1, math.ceil(timeout))},
    )


def register_probe_engine(app: Flask) -> None:
    with app.app_context():
        url = db.engine.url
    app.extensions[EXTENSION_KEY] = impatient_engine(url, app.config["AUREA_READY_TIMEOUT"])


def probe_engine() -> Engine:
    """The impatient engine of the current application."""
    return current_app.extensions[EXTENSION_KEY]
