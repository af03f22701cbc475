"""Pure scoring and weight optimisation: statistics in, scores and weights out.

Nothing here touches Flask or the database, so every formula is unit-tested
with hand-computed numbers. The formulas are the ones in README "How it works".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WEIGHT_SUM_TOLERANCE = 1e-6
CRITERIA = ("cost", "quality", "latency")


@dataclass(frozen=True)
class Weights:
    """How much cost, quality and latency count in a model's score."""

    cost: float
    quality: float
    latency: float

    @property
    def total(self) -> float:
        return self.cost + self.quality + self.latency

    def sums_to_one(self) -> bool:
        return math.isclose(self.total, 1.0, rel_tol=0.0, abs_tol=WEIGHT_SUM_TOLERANCE)

    def as_dict(self) -> dict[str, float]:
        return {
            "cost_weight": self.cost,
            "quality_weight": self.quality,
            "latency_weight": self.latency,
        }


DEFAULT_WEIGHTS = Weights(cost=0.33, quality=0.34, latency=0.33)


@dataclass(frozen=True)
class ModelStats:
    """Aggregated outcomes of one model's recorded requests (at least one)."""

    model: str
    total_requests: int
    successes: int
    average_latency: float
    average_cost: float

    @property
    def success_rate(self) -> float:
        return self.successes / self.total_requests


@dataclass(frozen=True)
class ModelScore:
    """A model's three component scores and their weighted sum."""

    model: str
    cost_score: float
    quality_score: float
    latency_score: float
    score: float


def inverted_min_max(values: Mapping[str, float]) -> dict[str, float]:
    """Map each value to ``1 - (x - min) / (max - min)``; 1.0 for all when max == min.

    The lowest value scores 1.0 and the highest 0.0: lower cost or latency is better.
    """
    if not values:
        return {}
    low, high = min(values.values()), max(values.values())
    if high == low:
        return {key: 1.0 for key in values}
    span = high - low
    return {key: 1.0 - (value - low) / span for key, value in values.items()}


def score_models(stats: Sequence[ModelStats], weights: Weights) -> dict[str, ModelScore]:
    """Score every model that has data against the others, under ``weights``."""
    cost_scores = inverted_min_max({s.model: s.average_cost for s in stats})
    latency_scores = inverted_min_max({s.model: s.average_latency for s in stats})
    scores = {}
    for s in stats:
        quality = s.success_rate
        cost, latency = cost_scores[s.model], latency_scores[s.model]
        scores[s.model] = ModelScore(
            model=s.model,
            cost_score=cost,
            quality_score=quality,
            latency_score=latency,
            score=cost * weights.cost + quality * weights.quality + latency * weights.latency,
        )
    return scores


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Return population stdev / mean, or 0.0 when the mean is 0 (or no values)."""
    if not values:
        return 0.0
    mean = statistics.fmean(values)
    if mean == 0:
        return 0.0
    return statistics.pstdev(values) / abs(mean)


@dataclass(frozen=True)
class WeightProposal:
    """What optimize would set, or why it keeps the current weights."""

    weights: Weights | None
    variation: dict[str, float]
    reason: str


def propose_weights(stats: Sequence[ModelStats], floor: float) -> WeightProposal:
    """Propose weights proportional to each criterion's variation across models.

    ``weight_i = floor + (1 - 3 * floor) * cv_i / sum(cv)``: the floor keeps every
    criterion in play, so a cheap model that always fails cannot win because quality
    fell to weight zero.
    """
    if not 0.0 <= floor <= 1.0 / 3.0:
        raise ValueError(f"floor must be between 0 and 1/3, got {floor}")
    variation = {
        "cost": coefficient_of_variation([s.average_cost for s in stats]),
        "quality": coefficient_of_variation([s.success_rate for s in stats]),
        "latency": coefficient_of_variation([s.average_latency for s in stats]),
    }
    if len(stats) < 2:
        return WeightProposal(None, variation, "fewer than two models have data; weights kept")
    total = sum(variation.values())
    if total == 0:
        return WeightProposal(None, variation, "no criterion varies across models; weights kept")
    share = {name: floor + (1 - 3 * floor) * cv / total for name, cv in variation.items()}
    weights = Weights(cost=share["cost"], quality=share["quality"], latency=share["latency"])
    return WeightProposal(
        weights, variation, "weights set in proportion to each criterion's variation"
    )


def stats_for_task(
    global_stats: Mapping[str, ModelStats],
    task_stats: Mapping[str, ModelStats],
    min_requests: int,
) -> tuple[dict[str, ModelStats], frozenset[str]]:
    """Pick each model's task statistics, or its global ones when the task has too few rows.

    Returns the statistics to score on and the models whose global statistics stood in.
    """
    chosen, fallback = {}, set()
    for model, overall in global_stats.items():
        specific = task_stats.get(model)
        if specific is not None and specific.total_requests >= min_requests:
            chosen[model] = specific
        else:
            chosen[model] = overall
            fallback.add(model)
    return chosen, frozenset(fallback)


def limit_step(old: Weights, new: Weights, max_step: float | None) -> Weights:
    """Move from ``old`` toward ``new`` by at most ``max_step`` in any weight.

    Both sum to 1, and so does every point between them: the move is scaled down
    as a whole rather than clipped weight by weight.
    """
    if max_step is None:
        return new
    largest = max(
        abs(new.cost - old.cost), abs(new.quality - old.quality), abs(new.latency - old.latency)
    )
    if largest <= max_step:
        return new
    t = max_step / largest
    return Weights(
        cost=old.cost + t * (new.cost - old.cost),
        quality=old.quality + t * (new.quality - old.quality),
        latency=old.latency + t * (new.latency - old.latency),
    )
