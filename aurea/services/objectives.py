"""The objective and decision settings in force: configuration, per task, per request."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from aurea.domain.decide import Policy
from aurea.domain.estimators import EstimatorSettings
from aurea.domain.objective import OBJECTIVE_MODES, UTILITY, WEIGHTED, Objective

OBJECTIVE_FIELDS = ("success_value", "latency_cost", "max_price")
WEIGHTED_EXPLORATION = 0.0
UTILITY_EXPLORATION = 0.1


def parse_task_objectives(raw: str) -> dict[str, dict[str, float | None]]:
    """AUREA_TASK_OBJECTIVES: ``{"task": {"success_value": 0.5, ...}}``; raise ValueError."""
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("must be a JSON object of task -> objective fields")
    out = {}
    for task, fields in data.items():
        if not isinstance(fields, dict) or set(fields) - set(OBJECTIVE_FIELDS):
            raise ValueError(f"task {task!r}: fields must be among {', '.join(OBJECTIVE_FIELDS)}")
        for name, value in fields.items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f"task {task!r}: {name} must be a number")
        Objective(**{**_configured_defaults(), **fields})  # validates the values
        out[task] = dict(fields)
    return out


def _configured_defaults() -> dict:
    return {"success_value": 0.1, "latency_cost": 0.005, "max_price": None}


def check_objective_settings(config: Mapping) -> None:
    """Refuse settings that would fail on every selection."""
    if config["AUREA_OBJECTIVE"] not in OBJECTIVE_MODES:
        raise RuntimeError("AUREA_OBJECTIVE must be utility or weighted")
    try:
        base_objective(config)
    except ValueError as exc:
        raise RuntimeError(f"AUREA_SUCCESS_VALUE/LATENCY_COST/MAX_PRICE: {exc}") from None
    try:
        parse_task_objectives(config["AUREA_TASK_OBJECTIVES"])
    except ValueError as exc:
        raise RuntimeError(f"AUREA_TASK_OBJECTIVES {exc}") from None
    exploration = config["AUREA_EXPLORATION"]
    if exploration is not None and not 0 <= exploration <= 1:
        raise RuntimeError("AUREA_EXPLORATION must be between 0 and 1")
    if not 0 <= config["AUREA_RECHECK_RATE"] <= 1:
        raise RuntimeError("AUREA_RECHECK_RATE must be between 0 and 1")
    if config["AUREA_RECHECK_HOURS"] <= 0:
        raise RuntimeError("AUREA_RECHECK_HOURS must be more than 0")
    incident = config.get("AUREA_INCIDENT_HALF_LIFE_HOURS")
    if incident is not None and incident <= 0:
        raise RuntimeError("AUREA_INCIDENT_HALF_LIFE_HOURS must be more than 0")
    request_hours = config.get("AUREA_INCIDENT_REQUEST_HOURS", 0)
    if not isinstance(request_hours, int | float) or not 0 <= request_hours < math.inf:
        raise RuntimeError("AUREA_INCIDENT_REQUEST_HOURS must be 0 or more")
    for name in ("AUREA_SUCCESS_HALF_LIFE_HOURS", "AUREA_PRICE_HALF_LIFE_HOURS"):
        if config[name] <= 0:
            raise RuntimeError(f"{name} must be more than 0")
    for name in ("AUREA_MEMORY", "AUREA_TASK_PRIOR"):
        if config[name] < 0:
            raise RuntimeError(f"{name} must be 0 or more")
    trend_z = config.get("AUREA_SUCCESS_TREND_Z", 0)
    if not isinstance(trend_z, int | float) or not 0 <= trend_z < math.inf:
        raise RuntimeError("AUREA_SUCCESS_TREND_Z must be 0 or more")
    if not 0 <= config["AUREA_CHANGE_DELTA"] < 1:
        raise RuntimeError("AUREA_CHANGE_DELTA must be in [0, 1)")


def base_objective(config: Mapping) -> Objective:
    return Objective(
        success_value=config["AUREA_SUCCESS_VALUE"],
        latency_cost=config["AUREA_LATENCY_COST"],
        max_price=config["AUREA_MAX_PRICE"],
    )


def objective_for(config: Mapping, task: str | None, overrides: Mapping | None = None) -> Objective:
    """The configured objective, with the task's fields, then the request's, replacing it."""
    fields = base_objective(config).as_dict()
    if task is not None:
        fields.update(parse_task_objectives(config["AUREA_TASK_OBJECTIVES"]).get(task, {}))
    for name in OBJECTIVE_FIELDS:
        if overrides and overrides.get(name) is not None:
            fields[name] = overrides[name]
    return Objective(**fields)


def mode_for(config: Mapping, requested: str | None = None) -> str:
    return requested or config["AUREA_OBJECTIVE"]


def exploration_for(config: Mapping, mode: str) -> float:
    configured = config["AUREA_EXPLORATION"]
    if configured is not None:
        return configured
    return UTILITY_EXPLORATION if mode == UTILITY else WEIGHTED_EXPLORATION


def estimator_settings(config: Mapping) -> EstimatorSettings:
    delta = config["AUREA_CHANGE_DELTA"]
    return EstimatorSettings(
        success_half_life_hours=config["AUREA_SUCCESS_HALF_LIFE_HOURS"],
        price_half_life_hours=config["AUREA_PRICE_HALF_LIFE_HOURS"],
        memory=config["AUREA_MEMORY"],
        task_prior=config["AUREA_TASK_PRIOR"],
        change_delta=delta if delta > 0 else None,
        incident_half_life_hours=config.get("AUREA_INCIDENT_HALF_LIFE_HOURS"),
        incident_request_hours=config.get("AUREA_INCIDENT_REQUEST_HOURS"),
        trend_z=config.get("AUREA_SUCCESS_TREND_Z") or None,
    )


def decision_policy(config: Mapping) -> Policy:
    return Policy(
        exploration=exploration_for(config, UTILITY),
        recheck_hours=config["AUREA_RECHECK_HOURS"],
        recheck_rate=config["AUREA_RECHECK_RATE"],
    )


__all__ = ["UTILITY", "WEIGHTED"]
