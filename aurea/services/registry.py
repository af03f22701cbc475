"""The model registry: which models exist, and whether select may use them now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.clock import now
from aurea.database import write_session
from aurea.errors import AureaError
from aurea.extensions import db
from aurea.models import RegisteredModel

ACTIVE, COOLING_DOWN, DISABLED = "active", "cooling_down", "disabled"


class ModelExists(AureaError):
    status_code = HTTPStatus.CONFLICT


class ModelNotFound(AureaError):
    status_code = HTTPStatus.NOT_FOUND


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str | None
    enabled: bool
    cooldown_until: datetime | None
    created_at: datetime
    # USD per million tokens (None: not priced), for records given as token counts.
    input_usd_per_million_tokens: float | None = None
    output_usd_per_million_tokens: float | None = None

    def state(self, at: datetime) -> str:
        if not self.enabled:
            return DISABLED
        if self.cooldown_until is not None and self.cooldown_until > at:
            return COOLING_DOWN
        return ACTIVE

    def cooling_until(self, at: datetime) -> datetime | None:
        """The end of a running cooldown, or None."""
        return self.cooldown_until if self.state(at) == COOLING_DOWN else None


def _info(m: RegisteredModel) -> ModelInfo:
    return ModelInfo(
        m.name,
        m.description,
        m.enabled,
        m.cooldown_until,
        m.created_at,
        m.input_usd_per_million_tokens,
        m.output_usd_per_million_tokens,
    )


def load_registry(session: Session) -> list[ModelInfo]:
    rows = session.scalars(sa.select(RegisteredModel).order_by(RegisteredModel.name))
    return [_info(m) for m in rows]


def list_models() -> list[ModelInfo]:
    return load_registry(db.session)


def create_model(
    name: str,
    description: str | None = None,
    input_usd_per_million_tokens: float | None = None,
    output_usd_per_million_tokens: float | None = None,
) -> ModelInfo:
    session = write_session()
    if session.scalar(sa.select(RegisteredModel.id).where(RegisteredModel.name == name)):
        raise ModelExists(f"Model {name!r} is already registered.")
    model = RegisteredModel(
        name=name,
        description=description,
        created_at=now(),
        enabled=True,
        input_usd_per_million_tokens=input_usd_per_million_tokens,
        output_usd_per_million_tokens=output_usd_per_million_tokens,
    )
    session.add(model)
    session.commit()
    return _info(model)


def update_model(name: str, **changes) -> ModelInfo:
    """Change ``enabled``, ``description`` or the token prices of a registered model."""
    session = write_session()
    model = session.scalar(sa.select(RegisteredModel).where(RegisteredModel.name == name))
    if model is None:
        raise ModelNotFound(f"No model named {name!r} is registered.")
    for key, value in changes.items():
        setattr(model, key, value)
    session.commit()
    return _info(model)
