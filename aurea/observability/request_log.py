"""One JSON line per request on the application logger, and gunicorn's error log under gunicorn.

The line holds the method, the path (without the query string), the status, the duration in
milliseconds, the client address and the actor (``flask.g.actor``, set by authentication once
it exists). Request bodies, query strings and headers (``Authorization`` in particular) are
never logged.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask

GUNICORN_ERROR_LOGGER = "gunicorn.error"


def use_gunicorn_error_log(app: Flask) -> bool:
    """Send the application's log records to gunicorn's error log, when running under gunicorn.

    gunicorn configures the ``gunicorn.error`` logger (``errorlog``, ``loglevel``) before it
    loads the application; elsewhere that logger has no handlers and nothing changes.
    """
    gunicorn_error = logging.getLogger(GUNICORN_ERROR_LOGGER)
    if not gunicorn_error.handlers:
        return False
    # Replaces Flask's default stderr handler; "aurea.*" module loggers propagate here too.
    app.logger.handlers = list(gunicorn_error.handlers)
    app.logger.setLevel(gunicorn_error.level)
    app.logger.propagate = False
    return True


def answer_fields(
    method: str, path: str, remote_addr: str | None, actor: Any, status: int, seconds: float
) -> dict[str, Any]:
    return {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "remote_addr": remote_addr,
        "actor": actor if actor is None or isinstance(actor, str) else str(actor),
    }


def log_fields(logger: logging.Logger, fields: dict[str, Any]) -> None:
    """Log one request as a single line of JSON (non-ASCII and newlines are escaped)."""
    logger.info(json.dumps(fields))
