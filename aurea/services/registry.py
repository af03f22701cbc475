"""The model registry: which models exist, and whether select may use them now."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurea.domain.cooldown import ModelCooldown
from aurea.errors import AureaError
from aurea.services.aggregates import roll_up
from aurea.services.context import Context
from aurea.services.cooldown import load_cooldowns, rule_from_config
from aurea.storage.database import write_session
from aurea.storage.models import NO_TASK, RegisteredModel

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
    created_at: datetime
    # USD per million tokens (None: not priced), for records given as token counts.
    input_usd_per_million_tokens: float | None = None
    output_usd_per_million_tokens: float | None = None
    cooldown: ModelCooldown | None = None  # the cooldowns running when it was read

    def state(self, at: datetime) -> str:
        """``disabled``, ``cooling_down`` (on every task it served) or ``active``."""
        if not self.enabled:
            return DISABLED
        if self.cooldown_until(at) is not None:
            return COOLING_DOWN
        return ACTIVE

    def cooldown_until(self, at: datetime) -> datetime | None:
        """The end of a cooldown on every task, running at ``at``, or None."""
        until = self.cooldown.everywhere if self.cooldown else None
        return until if until is not None and until > at else None

    def cooling_until(self, at: datetime, task: str | None = None) -> datetime | None:
        """When the model may serve ``task`` again (None: it may at ``at``)."""
        if self.cooldown is None:
            return None
        until = self.cooldown.until(task or NO_TASK)
        return until if until is not None and until > at else None

    def cooling_tasks(self, at: datetime) -> dict[str, datetime]:
        """The tasks the model is cooling down on at ``at``, with their ends."""
        if self.cooldown is None:
            return {}
        return {t: u for t, u in sorted(self.cooldown.tasks.items()) if u > at}


def _info(m: RegisteredModel, cooldown: ModelCooldown | None = None) -> ModelInfo:
    return ModelInfo(
        m.name,
        m.description,
        m.enabled,
        m.created_at,
        m.input_usd_per_million_tokens,
        m.output_usd_per_million_tokens,
        cooldown,
    )


def load_registry(session: Session, config: Mapping, at: datetime) -> list[ModelInfo]:
    """The registered models, with the cooldowns running at ``at``."""
    cooldowns = load_cooldowns(session, rule_from_config(config), at)
    rows = session.scalars(sa.select(RegisteredModel).order_by(RegisteredModel.name))
    return [_info(m, cooldowns.get(m.name)) for m in rows]


def list_models(ctx: Context) -> list[ModelInfo]:
    """The registry, with cooldowns judged on every committed record (rolled up first)."""
    roll_up(ctx.session)
    return load_registry(ctx.session, ctx.config, ctx.now())


def create_model(
    ctx: Context,
    name: str,
    description: str | None = None,
    input_usd_per_million_tokens: float | None = None,
    output_usd_per_million_tokens: float | None = None,
) -> ModelInfo:
    session = write_session(ctx.session)
    if session.scalar(sa.select(RegisteredModel.id).where(RegisteredModel.name == name)):
        raise ModelExists(f"Model {name!r} is already registered.")
    model = RegisteredModel(
        name=name,
        description=description,
        created_at=ctx.now(),
        enabled=True,
        input_usd_per_million_tokens=input_usd_per_million_tokens,
        output_usd_per_million_tokens=output_usd_per_million_tokens,
    )
    session.add(model)
    session.commit()
    return _info(model)


def update_model(ctx: Context, name: str, **changes) -> ModelInfo:
    """Change ``enabled``, ``description`` or the token prices of a registered model."""
    session = write_session(ctx.session)
    model = session.scalar(sa.select(RegisteredModel).where(RegisteredModel.name == name))
    if model is None:
        raise ModelNotFound(f"No model named {name!r} is registered.")
    for key, value in changes.items():
        setattr(model, key, value)
    session.commit()
    return _info(model)
