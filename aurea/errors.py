"""Domain errors and the one JSON error shape, registered once.

Every error answers ``{"code", "status", "message", "errors"?}``, the shape
flask-smorest uses for HTTP errors and invalid input (422 with per-field messages).
"""

from __future__ import annotations

import logging
import sqlite3
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


# PostgreSQL's undefined_table and undefined_column; SQLite's messages for the same.
MISSING_SCHEMA_SQLSTATES = frozenset({"42P01", "42703"})
MISSING_SCHEMA_SQLITE = ("no such table", "no such column")
MIGRATE_HINT = (
    "The database has no Aurea schema, or an older one: run `aurea migrate` "
    "(or `flask --app wsgi db upgrade`) against it."
)


def schema_missing(error: sa_exc.DBAPIError) -> bool:
    """Whether ``error`` comes from tables or columns the migrations have not created yet."""
    orig = error.orig
    if getattr(orig, "sqlstate", None) in MISSING_SCHEMA_SQLSTATES:  # psycopg
        return True
    return isinstance(orig, sqlite3.OperationalError) and str(orig).startswith(
        MISSING_SCHEMA_SQLITE
    )


def _schema_missing(error: sa_exc.DBAPIError):
    log.error("database schema missing or behind the migrations: %s", error.orig)
    status = HTTPStatus.SERVICE_UNAVAILABLE
    return jsonify(error_body(status, MIGRATE_HINT)), status.value


def register_error_handlers(app: Flask) -> None:
    """Turn domain and database errors into JSON; HTTP errors are flask-smorest's."""

    @app.errorhandler(AureaError)
    def _domain_error(error: AureaError):
        status = HTTPStatus(error.status_code)
        response = jsonify(error_body(status, error.message, error.errors))
        if status == HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Bearer realm="aurea"'
        return response, status.value

    @app.errorhandler(sa_exc.ProgrammingError)
    def _programming_error(error: sa_exc.ProgrammingError):
        if not schema_missing(error):
            raise error  # a bug: Flask's 500
        return _schema_missing(error)

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    def _database_unavailable(error: sa_exc.DBAPIError):
        if schema_missing(error):
            return _schema_missing(error)
        log.error("database unavailable: %s", error.orig)
        status = HTTPStatus.SERVICE_UNAVAILABLE
        response = jsonify(error_body(status, "The database is unavailable; retry later."))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response, status.value
