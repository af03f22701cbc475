"""Domain errors and the one JSON error shape, registered once.

Every error answers ``{"code", "status", "message", "errors"?}``, the shape
flask-smorest uses for HTTP errors and invalid input (422 with per-field messages).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, jsonify
from sqlalchemy import exc as sa_exc

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class AureaError(Exception):
    """A request the service understood but must refuse."""

    status_code = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class InvalidWeights(AureaError):
    """Weights that are well-formed numbers but do not sum to 1."""


def error_body(status: HTTPStatus, message: str, errors: dict[str, Any] | None = None) -> dict:
    body: dict[str, Any] = {"code": status.value, "status": status.phrase, "message": message}
    if errors:
        body["errors"] = errors
    return body


def register_error_handlers(app: Flask) -> None:
    """Turn domain and database errors into JSON; HTTP errors are flask-smorest's."""

    @app.errorhandler(AureaError)
    def _domain_error(error: AureaError):
        status = HTTPStatus(error.status_code)
        response = jsonify(error_body(status, error.message, error.errors))
        if status == HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Bearer realm="aurea"'
        return response, status.value

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    def _database_unavailable(error: sa_exc.DBAPIError):
        log.error("database unavailable: %s", error.orig)
        status = HTTPStatus.SERVICE_UNAVAILABLE
        response = jsonify(error_body(status, "The database is unavailable; retry later."))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response, status.value
