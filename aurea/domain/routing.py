"""Which model to use: constraints, ranking, cold start and exploration. Pure: no Flask, no DB.

The order of checks for each candidate is: excluded by the caller, disabled, cooling down,
then the hard limits (max_cost, max_latency on the p95, min_success_rate) for a model with
data, then enough requests in the window (min_requests). Only models that pass everything
compete on score. When none does, the least-tried model that failed only for lack of data is
chosen (cold start); when there is none of those either, nothing qualifies. With ``warmup``,
that cold start comes first: while any candidate is short only of data, the least-tried one is
chosen even if others could be scored, so every model gets min_requests before the scores decide.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aurea.domain.errors import NothingEligible
from aurea.domain.scoring import ModelStats, Weights, score_models

HIGHEST_SCORE = "highest_score"
COLD_START = "cold_start"
EXPLORATION = "exploration"

EXCLUDED = "excluded"
NOT_REGISTERED = "not_registered"
DISABLED = "disabled"
COOLING_DOWN = "cooling_down"
MAX_COST = "max_cost"
MAX_LATENCY = "max_latency"
MIN_SUCCESS_RATE = "min_success_rate"
INSUFFICIENT_DATA = "min_requests"


@dataclass(frozen=True)
class Candidate:
    model: str
    enabled: bool = True
    cooling_until: datetime | None = None  # set while a cooldown is running
    stats: ModelStats | None = None
    p95_latency: float | None = None
    registered: bool = True


@dataclass(frozen=True)
class Constraints:
    models: tuple[str, ...] | None = None
    exclude: frozenset[str] = field(default_factory=frozenset)
    max_cost: float | None = None
    max_latency: float | None = None
    min_success_rate: float | None = None
    min_requests: int = 1


@dataclass(frozen=True)
class RankEntry:
    candidate: Candidate
    score: float | None = None
    cost_score: float | None = None
    quality_score: float | None = None
    latency_score: float | None = None
    excluded_by: str | None = None


@dataclass(frozen=True)
class Decision:
    selected_model: str
    score: float | None
    reason: str
    explored: bool
    ranking: list[RankEntry]


def exclusion(c: Candidate, k: Constraints) -> str | None:
    """Return the first check ``c`` fails, or None when it may compete on score."""
    if not c.registered:
        return NOT_REGISTERED
    if c.model in k.exclude:
        return EXCLUDED
    if not c.enabled:
        return DISABLED
    if c.cooling_until is not None:
        return COOLING_DOWN
    s = c.stats
    if s is not None:
        if k.max_cost is not None and s.average_cost > k.max_cost:
            return MAX_COST
        if (
            k.max_latency is not None
            and c.p95_latency is not None
            and c.p95_latency > k.max_latency
        ):
            return MAX_LATENCY
        if k.min_success_rate is not None and s.success_rate < k.min_success_rate:
            return MIN_SUCCESS_RATE
    if s is None or s.total_requests < k.min_requests:
        return INSUFFICIENT_DATA
    return None


def rank(candidates: Sequence[Candidate], k: Constraints, weights: Weights) -> list[RankEntry]:
    """Score the qualifying candidates against each other; list every candidate, best first."""
    reasons = {c.model: exclusion(c, k) for c in candidates}
    qualifying = [c.stats for c in candidates if reasons[c.model] is None]
    scores = score_models(qualifying, weights)
    entries = []
    for c in candidates:
        s = scores.get(c.model)
        entries.append(
            RankEntry(
                candidate=c,
                score=s.score if s else None,
                cost_score=s.cost_score if s else None,
                quality_score=s.quality_score if s else None,
                latency_score=s.latency_score if s else None,
                excluded_by=reasons[c.model],
            )
        )
    return sorted(entries, key=lambda e: (e.score is None, -(e.score or 0.0), e.candidate.model))


def thompson_pick(pool: Sequence[Candidate], rng: random.Random) -> Candidate:
    """Draw each model's success rate from Beta(successes + 1, failures + 1); take the best."""

    def draw(c: Candidate) -> float:
        s = c.stats
        ok = s.successes if s else 0
        failed = (s.total_requests - s.successes) if s else 0
        return rng.betavariate(ok + 1, failed + 1)

    return max(pool, key=lambda c: (draw(c), c.model))


def decide(
    candidates: Sequence[Candidate],
    constraints: Constraints,
    weights: Weights,
    exploration: float = 0.0,
    rng: random.Random | None = None,
    warmup: bool = False,
) -> Decision:
    """Pick a model: a cold start (first with ``warmup``), the best score, or an exploration."""
    ranking = rank(candidates, constraints, weights)
    scored = [e for e in ranking if e.excluded_by is None]
    cold = [e.candidate for e in ranking if e.excluded_by == INSUFFICIENT_DATA]
    if scored and not (warmup and cold):
        if exploration > 0 and (rng or random).random() < exploration:
            pool = [e.candidate for e in ranking if e.excluded_by in (None, INSUFFICIENT_DATA)]
            pick = thompson_pick(pool, rng or random.Random())
            entry = next(e for e in ranking if e.candidate is pick)
            return Decision(pick.model, entry.score, EXPLORATION, True, ranking)
        best = scored[0]  # ranking is sorted by score, ties by name
        return Decision(best.candidate.model, best.score, HIGHEST_SCORE, False, ranking)
    if not cold:
        raise NothingEligible(ranking)
    pick = min(cold, key=lambda c: (c.stats.total_requests if c.stats else 0, c.model))
    return Decision(pick.model, None, COLD_START, False, ranking)
