"""Aurea as a policy: the real application and service layer on a throwaway SQLite database.

Each run builds its own app (``create_app``) on a fresh temporary file migrated with
``flask_migrate.upgrade``, with a FrozenClock as AUREA_CLOCK (records carry simulated time;
windows and cooldowns read it) and no read cache. Selections go through
``selection.select_model``, outcomes through ``records.record_requests`` (one batch per
simulated step, each record stamped with its own time), optimize through
``optimize.optimize_weights`` on the simulated calendar.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade

from aurea.app import create_app
from aurea.app_context import service_context
from aurea.clock import FrozenClock
from aurea.domain import routing
from aurea.services import optimize, records, registry, selection
from aurea.services.aggregates import roll_up
from aurea.services.registry import ModelExists
from aurea.services.scope import Scope
from aurea.settings import MIGRATIONS_DIR, Config
from aurea.simulation.policies import Policy
from aurea.storage.extensions import db
from aurea.storage.models import ModelStatsHourly, RequestMetric


def next_weekly(after: datetime) -> datetime:
    """The next Sunday 02:00 UTC strictly after ``after`` (the README's cron line)."""
    day = after.replace(hour=2, minute=0, second=0, microsecond=0)
    day += timedelta(days=(6 - day.weekday()) % 7)
    return day if day > after else day + timedelta(days=7)


class AureaPolicy(Policy):
    def __init__(
        self, name: str, start: datetime, settings: dict | None = None, weekly_optimize=False
    ) -> None:
        self.name = name
        self.clock = FrozenClock(start)
        self.directory = tempfile.TemporaryDirectory(prefix="aurea-sim-")
        path = Path(self.directory.name) / "aurea.db"
        config = type(
            "SimulationConfig",
            (Config,),
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
                "AUREA_CLOCK": self.clock,
                # Inputs are reused within a simulated step: every record batch (a commit)
                # clears the cache, as a write through a worker does.
                "AUREA_CACHE_SECONDS": 1e9,
                **(settings or {}),
            },
        )
        self.app = create_app(config)
        self.context = self.app.app_context()
        self.context.push()
        # A throwaway database: skip the fsync of every commit (the service keeps FULL).
        sa.event.listen(db.engine, "connect", _no_fsync)
        db.engine.dispose()
        upgrade(directory=str(MIGRATIONS_DIR))
        self.ctx = service_context()
        self.next_optimize = next_weekly(start) if weekly_optimize else None
        self.optimize_runs = 0
        self.registered: set[str] = set()

    def choose(self, at, task, available):
        self.clock.current = at
        for name in available:
            if name not in self.registered:  # a model appears: the operator registers it
                try:
                    registry.create_model(self.ctx, name)
                except ModelExists:  # one of the models migrations register (a replay)
                    pass
                self.registered.add(name)
        constraints = routing.Constraints(
            models=tuple(available), min_requests=self.app.config["AUREA_MIN_REQUESTS"]
        )
        scope = Scope.from_request(self.ctx.config, task=task)
        return selection.select_model(self.ctx, scope, constraints).selected_model

    def observe(self, outcomes, at):
        self.clock.current = at
        if outcomes:
            records.record_requests(
                self.ctx,
                [
                    records.Record(o.model, o.latency, o.cost, o.success, task=o.task, at=o.at)
                    for o in outcomes
                ],
            )
        while self.next_optimize is not None and self.next_optimize <= at:
            self.clock.current = self.next_optimize
            scope = Scope.from_request(self.ctx.config)
            optimize.optimize_weights(self.ctx, scope, actor="simulator")
            self.optimize_runs += 1
            self.next_optimize = next_weekly(self.next_optimize)
            self.clock.current = at

    def database_counts(self) -> dict[str, int]:
        """Raw rows and the requests the hourly aggregates count: they must agree."""
        roll_up(db.session)
        raw = db.session.scalar(sa.select(sa.func.count()).select_from(RequestMetric))
        aggregated = db.session.scalar(sa.select(sa.func.sum(ModelStatsHourly.requests)))
        return {"raw_rows": int(raw), "aggregate_requests": int(aggregated or 0)}

    def close(self) -> None:
        db.session.remove()
        db.engine.dispose()
        self.context.pop()
        self.directory.cleanup()


def _no_fsync(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous = OFF")
    cursor.close()
