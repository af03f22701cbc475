"""Creating, listing and revoking API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from aurea.auth import digest, new_token
from aurea.errors import AureaError
from aurea.services.context import Context
from aurea.storage.database import write_session
from aurea.storage.models import ApiToken


class TokenError(AureaError):
    pass


@dataclass(frozen=True)
class TokenInfo:
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


def create_token(ctx: Context, name: str, role: str) -> str:
    """Store a new token's digest and return the token itself (shown once, never stored)."""
    token = new_token()
    session = write_session(ctx.session)
    if session.scalar(sa.select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise TokenError(f"A token named {name!r} already exists.")
    session.add(ApiToken(name=name, role=role, token_sha256=digest(token), created_at=ctx.now()))
    session.commit()
    ctx.token_cache.clear()
    return token


def list_tokens(ctx: Context) -> list[TokenInfo]:
    rows = ctx.session.scalars(sa.select(ApiToken).order_by(ApiToken.name))
    return [TokenInfo(t.name, t.role, t.created_at, t.revoked_at) for t in rows]


def revoke_token(ctx: Context, name: str) -> None:
    session = write_session(ctx.session)
    token = session.scalar(sa.select(ApiToken).where(ApiToken.name == name))
    if token is None:
        raise TokenError(f"No token named {name!r}.")
    if token.revoked_at is None:
        token.revoked_at = ctx.now()
    session.commit()
    ctx.token_cache.clear()
