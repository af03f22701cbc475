"""The services' :class:`~aurea.services.context.Context` for the running Flask app.

Views, CLI commands and the simulator call :func:`service_context` inside an app context;
services themselves never read ``current_app`` or ``db.session``. The per-process state
lives in ``app.extensions``, created on first use.
"""

from __future__ import annotations

import logging
import random

import sqlalchemy as sa
from flask import current_app

from aurea.clock import now
from aurea.services.context import Context
from aurea.services.decisions import DecisionLog
from aurea.services.partitions import ensure_partitions
from aurea.storage.cache import read_cache, token_cache
from aurea.storage.extensions import db

DECISIONS = "aurea_decisions"
RNG = "aurea_rng"
REGISTERED = "aurea_registered_models"

log = logging.getLogger(__name__)


def service_context() -> Context:
    app = current_app
    extensions = app.extensions
    if RNG not in extensions:  # once per process and app (a Random seeds itself from urandom)
        extensions.setdefault(DECISIONS, DecisionLog())
        extensions.setdefault(REGISTERED, set())
        extensions.setdefault(RNG, random.Random(app.config["AUREA_RANDOM_SEED"]))  # last
    return Context(
        session=db.session,
        config=app.config,
        cache=read_cache(),
        token_cache=token_cache(),
        rng=extensions[RNG],
        decisions=extensions[DECISIONS],
        registered=extensions[REGISTERED],
    )


def ensure_partitions_logged(app) -> None:
    """:func:`ensure_partitions` for a starting worker: errors are logged, never raised (the
    database may be down, or not migrated yet)."""
    try:
        with app.app_context():
            try:
                created = ensure_partitions(db.session(), now().date())
            finally:
                db.session.remove()
    except sa.exc.SQLAlchemyError as error:
        log.warning("request_metrics partitions not checked: %s", error)
        return
    if created:
        log.info("created request_metrics partitions: %s", ", ".join(created))
