"""What a team values, in US dollars, and the expected utility of a model under it.

Expected utility of one call = success_value x P(success) - expected cost
                               - latency_cost x expected latency (seconds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

UTILITY = "utility"
WEIGHTED = "weighted"
OBJECTIVE_MODES = (UTILITY, WEIGHTED)

# The fresh-install objective (see docs/decisions.md, "Defaults"): a successful answer is
# worth 10 cents, a second of waiting costs half a cent, no price cap.
DEFAULT_SUCCESS_VALUE = 0.10
DEFAULT_LATENCY_COST = 0.005


@dataclass(frozen=True)
class Objective:
    """The exchange rates of one decision."""

    success_value: float = DEFAULT_SUCCESS_VALUE  # USD a successful call is worth
    latency_cost: float = DEFAULT_LATENCY_COST  # USD a second of latency costs
    max_price: float | None = None  # USD: a model whose expected cost is above is excluded

    def __post_init__(self) -> None:
        for name in ("success_value", "latency_cost"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0")
        if self.max_price is not None and not (
            math.isfinite(self.max_price) and self.max_price >= 0
        ):
            raise ValueError("max_price must be a finite number >= 0")

    def as_dict(self) -> dict:
        return {
            "success_value": self.success_value,
            "latency_cost": self.latency_cost,
            "max_price": self.max_price,
        }


@dataclass(frozen=True)
class UtilityParts:
    """One candidate's expected utility in USD, and what it is made of."""

    expected_utility: float
    value: float  # success_value x P(success)
    cost: float  # expected cost of a call
    latency_cost: float  # latency_cost x expected latency
    p_success: float
    latency: float

    def as_dict(self) -> dict:
        return {
            "expected_utility": self.expected_utility,
            "value": self.value,
            "cost": self.cost,
            "latency_cost": self.latency_cost,
            "p_success": self.p_success,
            "latency": self.latency,
        }


def expected_utility(objective: Objective, p_success: float, cost: float, latency: float) -> float:
    return objective.success_value * p_success - cost - objective.latency_cost * latency


def utility_parts(
    objective: Objective, p_success: float, cost: float, latency: float
) -> UtilityParts:
    value = objective.success_value * p_success
    waiting = objective.latency_cost * latency
    return UtilityParts(value - cost - waiting, value, cost, waiting, p_success, latency)
