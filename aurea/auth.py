"""Bearer tokens with roles: recorder (record), reader (read), admin (everything).

Until the first token is created the service runs open, so the embedded default
needs no set-up; from then on every /router endpoint needs a token (revoking every
token does not reopen the service). Tokens are stored as SHA-256 digests only and
compared in constant time. Each worker reuses the token list for up to
AUREA_CACHE_SECONDS, so a revocation takes effect within that bound.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

import sqlalchemy as sa
from flask import g, request

from aurea.errors import AureaError
from aurea.storage.cache import token_cache
from aurea.storage.extensions import db
from aurea.storage.models import ApiToken

log = logging.getLogger(__name__)

RECORD, READ, ADMIN = "record", "read", "admin"
PERMISSIONS = {
    "recorder": frozenset({RECORD}),
    "reader": frozenset({READ}),
    "admin": frozenset({RECORD, READ, ADMIN}),
}
TOKEN_PREFIX = "aurea_"
SECURITY = [{"bearerAuth": []}]
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API token from `flask aurea tokens create`. Not needed while no token "
    "exists (the service then runs open).",
}


class Unauthenticated(AureaError):
    status_code = HTTPStatus.UNAUTHORIZED


class Forbidden(AureaError):
    status_code = HTTPStatus.FORBIDDEN


@dataclass(frozen=True)
class KnownTokens:
    any_created: bool
    active: tuple[tuple[str, str, str], ...]  # (sha256 hex, name, role)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _load_tokens() -> KnownTokens:
    rows = db.session.execute(
        sa.select(ApiToken.token_sha256, ApiToken.name, ApiToken.role, ApiToken.revoked_at)
    ).all()
    active = tuple((h, name, role) for h, name, role, revoked in rows if revoked is None)
    return KnownTokens(any_created=bool(rows), active=active)


def known_tokens() -> KnownTokens:
    return token_cache().get_or_compute(("api_tokens",), _load_tokens)


def authenticate(permission: str, allow_query_token: bool = False) -> None:
    """Check the request's bearer token for ``permission``; set ``g.actor`` to its name.

    With ``allow_query_token`` (pages a browser opens, where a header is hard to send),
    a ``?token=`` query parameter is accepted when there is no Authorization header.
    """
    header = request.headers.get("Authorization")
    query_token = request.args.get("token", "") if allow_query_token else None
    g.actor = authorize(header, permission, query_token)


def authorize(header: str | None, permission: str, query_token: str | None = None) -> str | None:
    """The actor (token name) allowed ``permission`` by an ``Authorization`` header, or by
    ``query_token`` when there is no header; None while the service runs open.

    Raises Unauthenticated or Forbidden. Needs an application context (the token cache).
    """
    tokens = known_tokens()
    if not tokens.any_created:
        return None
    presented = _presented_token(header, query_token)
    if not presented:
        raise Unauthenticated("Missing bearer token: send 'Authorization: Bearer <token>'.")
    presented_digest = digest(presented.strip())
    match = None
    for known_digest, name, role in tokens.active:
        # Compare every token, in constant time each, whatever matches.
        if hmac.compare_digest(known_digest, presented_digest):
            match = (name, role)
    if match is None:
        raise Unauthenticated("Unknown or revoked token.")
    name, role = match
    if permission not in PERMISSIONS[role]:
        raise Forbidden(f"The {role} role may not {permission} here.")
    return name


def _presented_token(header: str | None, query_token: str | None) -> str:
    if header is None and query_token is not None:
        return query_token.strip()
    scheme, _, presented = (header or "").partition(" ")
    return presented.strip() if scheme.lower() == "bearer" else ""


def requires(permission: str, allow_query_token: bool = False) -> Callable:
    """Guard a view (before its arguments are parsed) and document the bearer scheme."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            authenticate(permission, allow_query_token)
            return view(*args, **kwargs)

        guarded._apidoc = copy.deepcopy(getattr(view, "_apidoc", {}))
        manual = guarded._apidoc.setdefault("manual_doc", {})
        manual["security"] = SECURITY
        manual.setdefault("responses", {}).update(
            {
                "401": {"description": "Missing, unknown or revoked token."},
                "403": {"description": "The token's role does not allow this."},
            }
        )
        return guarded

    return decorate


def current_actor() -> str | None:
    return g.get("actor")


def log_open_mode(app) -> None:
    """Say at start-up when the service runs without authentication."""
    try:
        with app.app_context():
            open_mode = not _load_tokens().any_created
            db.session.remove()
    except sa.exc.SQLAlchemyError:
        return  # not migrated yet: `flask db upgrade` runs before serving
    if open_mode:
        log.warning(
            "Aurea runs OPEN: no API token exists, so every /router endpoint answers "
            "without authentication. Create one with: aurea tokens create --name NAME "
            "--role admin (in a checkout: .venv/bin/flask --app wsgi aurea tokens create ...)"
        )
