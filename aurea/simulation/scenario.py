"""Scenarios: the true behaviour of each model over simulated time, traffic, and what the user
wants. Loaded from small JSON files (see ``scenarios/`` and the README). Pure: no Flask, no DB.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from aurea.settings import SCENARIOS_DIR


@dataclass(frozen=True)
class Truth:
    """A model's true behaviour at one moment."""

    latency_median: float  # seconds; latency is lognormal around it
    latency_sigma: float
    cost: float  # USD per request
    success: float  # probability of success (tasks without their own)
    task_success: dict[str, float] = field(default_factory=dict)
    latency_growth_per_day: float = 1.0  # slow drift: the median is multiplied daily

    def success_for(self, task: str | None) -> float:
        return self.task_success.get(task, self.success) if task else self.success

    def median_at(self, days: float) -> float:
        return self.latency_median * self.latency_growth_per_day**days

    def mean_latency(self, days: float) -> float:
        return self.median_at(days) * math.exp(self.latency_sigma**2 / 2)


@dataclass(frozen=True)
class Change:
    """From ``at`` (until ``until``, if set) the model behaves with ``fields`` replaced."""

    model: str
    at: timedelta
    until: timedelta | None
    fields: dict
    incident: bool = False  # the model is failing during the change: counted in the report
    label: str = ""


@dataclass(frozen=True)
class Utility:
    """What the user wants: ``success - cost * cost_per_usd - latency * latency_per_second``."""

    cost: float
    latency: float

    def expected(self, success: float, cost: float, latency: float) -> float:
        return success - self.cost * cost - self.latency * latency


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    start: datetime
    duration: timedelta
    requests_per_hour: float
    step: timedelta
    utility: Utility
    models: dict[str, Truth]
    available_from: dict[str, timedelta]
    changes: list[Change]
    tasks: dict[str, float]  # task -> share of traffic; empty: no task labels

    def available(self, elapsed: timedelta) -> list[str]:
        """Models a client can call ``elapsed`` into the run, by name."""
        return sorted(m for m in self.models if self.available_from.get(m, timedelta(0)) <= elapsed)

    def truth(self, model: str, elapsed: timedelta) -> Truth:
        truth = self.models[model]
        for c in self.changes:
            if c.model == model and c.at <= elapsed and (c.until is None or elapsed < c.until):
                truth = replace(truth, **c.fields)
        return truth

    def expected_utility(self, model: str, task: str | None, elapsed: timedelta) -> float:
        t = self.truth(model, elapsed)
        days = elapsed / timedelta(days=1)
        return self.utility.expected(t.success_for(task), t.cost, t.mean_latency(days))

    def failing(self, model: str, elapsed: timedelta) -> bool:
        """Whether ``model`` is inside one of its incident windows."""
        return any(
            c.incident
            and c.model == model
            and c.at <= elapsed
            and (c.until is None or elapsed < c.until)
            for c in self.changes
        )

    def change_points(self) -> list[tuple[timedelta, str]]:
        """Moments the best model may change: changes, their ends, and new models."""
        points = set()
        for c in self.changes:
            points.add((c.at, c.label or f"{c.model} changes"))
            if c.until is not None:
                points.add((c.until, f"{c.label or c.model} ends"))
        for model, since in self.available_from.items():
            if since > timedelta(0):
                points.add((since, f"{model} appears"))
        return sorted(p for p in points if p[0] < self.duration)


TRUTH_FIELDS = {
    "latency_median",
    "latency_sigma",
    "cost",
    "success",
    "task_success",
    "latency_growth_per_day",
}


def _hours(value) -> timedelta:
    return timedelta(hours=float(value))


def _fields(raw: dict, where: str) -> dict:
    unknown = set(raw) - TRUTH_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
    return dict(raw)


def parse_scenario(data: dict, name: str = "scenario") -> Scenario:
    """Build a Scenario from its JSON form; raise ValueError on anything unexpected."""
    models, available_from = {}, {}
    for model, raw in data["models"].items():
        raw = dict(raw)
        if "from_hours" in raw:
            available_from[model] = _hours(raw.pop("from_hours"))
        models[model] = Truth(**_fields(raw, f"model {model}"))
    changes = []
    for i, raw in enumerate(data.get("changes", [])):
        raw = dict(raw)
        model = raw.pop("model")
        if model not in models:
            raise ValueError(f"change {i}: unknown model {model!r}")
        changes.append(
            Change(
                model=model,
                at=_hours(raw.pop("at_hours")),
                until=_hours(raw.pop("until_hours")) if "until_hours" in raw else None,
                incident=bool(raw.pop("incident", False)),
                label=raw.pop("label", ""),
                fields=_fields(raw, f"change {i}"),
            )
        )
    utility = data["utility"]
    tasks = data.get("tasks", {})
    if tasks and not math.isclose(sum(tasks.values()), 1.0, abs_tol=1e-9):
        raise ValueError("task shares must sum to 1")
    return Scenario(
        name=data.get("name", name),
        description=data.get("description", ""),
        start=datetime.fromisoformat(data.get("start", "2026-01-05T00:00:00+00:00")),
        duration=_hours(data["hours"]),
        requests_per_hour=float(data["requests_per_hour"]),
        step=timedelta(minutes=float(data.get("step_minutes", 10))),
        utility=Utility(cost=float(utility["cost"]), latency=float(utility["latency"])),
        models=models,
        available_from=available_from,
        changes=changes,
        tasks=dict(tasks),
    )


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    return parse_scenario(json.loads(path.read_text()), name=path.stem)


def resolve_scenario(name: str) -> Path:
    """A path as given, or ``scenarios/NAME.json``."""
    path = Path(name)
    if path.exists() or path.suffix:
        return path
    return SCENARIOS_DIR / f"{name}.json"


def rescale(
    scenario: Scenario, hours: float | None = None, requests_per_hour: float | None = None
) -> Scenario:
    """Shorten a scenario or change its traffic (for quick runs and tests)."""
    if hours is not None:
        scenario = replace(scenario, duration=min(scenario.duration, timedelta(hours=hours)))
    if requests_per_hour is not None:
        scenario = replace(scenario, requests_per_hour=requests_per_hour)
    return scenario
