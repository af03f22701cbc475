"""Replay the deployment's own logged calls through routing policies (docs/replay.md).

Reads the raw rows of the last ``hours`` (at most ``limit``, the newest) into plain
``LoggedCall`` values first, then replays them through each policy: Aurea as configured,
Aurea with the ``changes`` a team is considering, and the simulator's baselines. Each Aurea
policy runs the real service code on its own throwaway SQLite database; the deployment's
database is only read.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa

from aurea.services.context import Context
from aurea.services.objectives import objective_for
from aurea.simulation.replay import LoggedCall, PolicyEstimate, logged_estimate, replay
from aurea.storage.models import RequestMetric

BASELINES = ("seed", "latency", "random")
CHANGED = "aurea-changed"


def logged_calls(ctx: Context, hours: float, limit: int) -> list[LoggedCall]:
    """The newest ``limit`` raw rows of the last ``hours``, oldest first."""
    since = ctx.now() - timedelta(hours=hours)
    m = RequestMetric
    rows = ctx.session.execute(
        sa.select(m.created_at, m.model, m.task, m.latency, m.cost, m.success)
        .where(m.created_at >= since)
        .order_by(m.created_at.desc(), m.id.desc())
        .limit(limit)
    ).all()
    return [LoggedCall(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in reversed(rows)]


def replay_policies(
    ctx: Context, calls: list[LoggedCall], changes: dict, seed: int = 0, baselines=BASELINES
) -> list[PolicyEstimate]:
    """The logged decisions' own utility, then each policy's replay estimate."""
    from aurea.simulation.aurea_policy import AureaPolicy
    from aurea.simulation.policies import LatencyPolicy, RandomPolicy, SeedPolicy

    config = ctx.config

    def objective_of(task):
        return objective_for(config, task)

    logged = logged_estimate(calls, objective_of)
    if not calls:
        return [logged]
    start = calls[0].at
    # The deployment's objective and decision settings, so "aurea" is Aurea as it runs here.
    current = {
        k: v
        for k, v in config.items()
        if k.startswith("AUREA_")
        and k not in ("AUREA_DATABASE_URL", "AUREA_CLOCK", "AUREA_CACHE_SECONDS")
        and (v is None or isinstance(v, int | float | str))
    }
    current["AUREA_RANDOM_SEED"] = float(seed)
    # One policy at a time: each Aurea policy pushes its own application context.
    makers = [("aurea", lambda: AureaPolicy("aurea", start, current))]
    if changes:
        makers.append((CHANGED, lambda: AureaPolicy(CHANGED, start, {**current, **changes})))
    baseline_makers = {
        "seed": SeedPolicy,
        "latency": LatencyPolicy,
        "random": lambda: RandomPolicy(seed),
    }
    makers += [(name, baseline_makers[name]) for name in baselines]
    out = [logged]
    # Each Aurea policy migrates a throwaway database: keep Alembic's progress lines quiet.
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)
    try:
        for _name, make in makers:
            out += _replay_one(calls, make, objective_of)
    finally:
        alembic_log.setLevel(level)
    return out


def _replay_one(calls, make, objective_of) -> list[PolicyEstimate]:
    policy = make()
    try:
        return replay(calls, [policy], objective_of)
    finally:
        policy.close()
