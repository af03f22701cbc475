"""Routing policies that Aurea is compared with. Pure: they see only their own outcomes.

A policy chooses a model for each request (``choose``) and is told the outcomes of its own
choices once a simulated step ends (``observe``), like a real client would learn them.
Aurea itself, driven through its service layer and a database, is in ``aurea_policy.py``.
"""

from __future__ import annotations

import random
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aurea.domain.scoring import DEFAULT_WEIGHTS, ModelStats, propose_weights, score_models


@dataclass(frozen=True)
class Outcome:
    model: str
    task: str | None
    latency: float
    cost: float
    success: bool
    at: datetime


class Policy:
    name = "policy"

    def choose(self, at: datetime, task: str | None, available: Sequence[str]) -> str:
        raise NotImplementedError

    def observe(self, outcomes: Sequence[Outcome], at: datetime) -> None:
        """Learn the outcomes of the step that ended at ``at``."""

    def close(self) -> None:
        """Release what the policy holds (databases)."""


class RandomPolicy(Policy):
    name = "random"

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"{seed}:random")

    def choose(self, at, task, available):
        return self.rng.choice(list(available))


class LatencyPolicy(Policy):
    """Lowest average latency over each model's last ``samples`` calls (LiteLLM's
    latency-based routing); a model never tried counts as 0 s, so it is tried first."""

    name = "latency"

    def __init__(self, samples: int = 10) -> None:
        self.recent: dict[str, deque] = defaultdict(lambda: deque(maxlen=samples))

    def choose(self, at, task, available):
        def average(model: str) -> float:
            seen = self.recent[model]
            return sum(seen) / len(seen) if seen else 0.0

        return min(available, key=lambda m: (average(m), m))

    def observe(self, outcomes, at):
        for o in outcomes:
            self.recent[o.model].append(o.latency)


class SeedPolicy(Policy):
    """The original product: all-time averages, weights in proportion to each criterion's
    coefficient of variation with no floor, and a model never tried scored 0.5."""

    name = "seed"
    UNTRIED_SCORE = 0.5

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0])

    def choose(self, at, task, available):
        stats = [
            ModelStats(m, int(t[0]), int(t[1]), t[2] / t[0], t[3] / t[0])
            for m, t in sorted(self.totals.items())
            if m in available
        ]
        weights = propose_weights(stats, floor=0.0).weights or DEFAULT_WEIGHTS
        scores = {m: s.score for m, s in score_models(stats, weights).items()}
        # max keeps the first of equal scores: ties go to the name that sorts first.
        return max(sorted(available), key=lambda m: scores.get(m, self.UNTRIED_SCORE))

    def observe(self, outcomes, at):
        for o in outcomes:
            t = self.totals[o.model]
            t[0] += 1
            t[1] += int(o.success)
            t[2] += o.latency
            t[3] += o.cost
