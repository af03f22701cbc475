"""The utility decision: Thompson sampling on expected utility, with bounded exploration.

For each eligible candidate (the caller's and the registry's exclusions, cooldowns and hard
limits are applied before, by the service) the success posterior is sampled ``draws`` times;
each draw's utility is ``success_value x p - cost - latency_cost x latency``, and the share of
draws a candidate wins is its probability of being best (``p_best``). The candidate with the
highest expected utility among those with data is the **greedy** choice. A selection then

1. with probability ``recheck_rate``, when some candidate has not been seen for
   ``recheck_hours`` (or never), goes to the one seen longest ago (reason ``recheck``): a
   price cut or a repaired model is noticed even when its old data says it is worse. A
   candidate whose expected utility is more than ``recheck_gap x success_value`` below the
   greedy choice's waits in proportion longer (``recheck_after``): a recheck costs its gap;
2. otherwise is drawn from ``p_best``, the share of everything but the greedy choice capped
   at ``exploration``: the reason is ``highest_expected_utility`` for the greedy choice,
   ``exploration`` for any other.

A model without data is never the greedy choice while a model with data is eligible: it is
tried only by exploration or a recheck, so at most ``exploration + recheck_rate`` of the
selections go to untried models, and a task's first selection goes to a tried model. Its cost
and latency, until its first record, are taken as the median of the tried candidates'.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from aurea.domain.errors import NothingEligible
from aurea.domain.estimators import BetaPosterior
from aurea.domain.objective import Objective, UtilityParts, utility_parts

GREEDY = "highest_expected_utility"
EXPLORATION = "exploration"
RECHECK = "recheck"
COLD_START = "cold_start"


@dataclass(frozen=True)
class Estimate:
    """What the decision knows of one candidate in the scope asked for."""

    model: str
    posterior: BetaPosterior
    cost: float | None  # None: no data yet
    latency: float | None
    requests: int  # in the window (task or model, as the scope says)
    last_seen_hours: float | None  # since the model's last record, any task; None: never
    excluded_by: str | None = None


@dataclass(frozen=True)
class Policy:
    exploration: float = 0.1
    recheck_hours: float = 6.0
    recheck_rate: float = 0.02
    recheck_gap: float = 0.05  # share of success_value below which rechecks keep their pace
    draws: int = 200


@dataclass(frozen=True)
class Ranked:
    estimate: Estimate
    parts: UtilityParts | None = None
    p_best: float = 0.0  # after the exploration cap
    tried: bool = True


@dataclass(frozen=True)
class UtilityDecision:
    selected_model: str
    reason: str
    explored: bool
    ranking: list[Ranked] = field(default_factory=list)

    @property
    def selected(self) -> Ranked:
        return next(r for r in self.ranking if r.estimate.model == self.selected_model)


def _priors(eligible: Sequence[Estimate]) -> tuple[float, float]:
    tried = [e for e in eligible if e.cost is not None and e.latency is not None]
    if not tried:
        return 0.0, 0.0
    return (
        statistics.median(e.cost for e in tried),
        statistics.median(e.latency for e in tried),
    )


def win_shares(
    eligible: Sequence[Estimate],
    objective: Objective,
    costs: dict[str, tuple[float, float]],
    rng: random.Random,
    draws: int,
) -> dict[str, float]:
    """The share of posterior draws each candidate wins (ties to the name sorted first)."""
    wins = dict.fromkeys((e.model for e in eligible), 0)
    ordered = sorted(eligible, key=lambda e: e.model)
    for _ in range(draws):
        best_model, best_value = None, float("-inf")
        for e in ordered:
            cost, latency = costs[e.model]
            value = objective.success_value * e.posterior.sample(rng) - cost
            value -= objective.latency_cost * latency
            if value > best_value:
                best_model, best_value = e.model, value
        wins[best_model] += 1
    return {m: n / draws for m, n in wins.items()}


def recheck_after(policy: Policy, objective: Objective, gap: float) -> float:
    """Hours after which a candidate ``gap`` USD worse than the greedy choice is rechecked:
    ``recheck_hours``, longer in proportion for a gap above ``recheck_gap`` x success_value
    (a recheck costs its gap, so the worse a model looked the rarer its rechecks)."""
    unit = policy.recheck_gap * objective.success_value
    if unit <= 0 or gap <= unit:
        return policy.recheck_hours
    return policy.recheck_hours * gap / unit


def cap_exploration(shares: dict[str, float], greedy: str, cap: float) -> dict[str, float]:
    """Scale the other candidates' shares so that together they are at most ``cap``."""
    others = 1.0 - shares[greedy]
    if others <= cap or others <= 0:
        return dict(shares)
    scale = cap / others
    out = {m: s * scale for m, s in shares.items() if m != greedy}
    out[greedy] = 1.0 - cap
    return out


@dataclass(frozen=True)
class Prepared:
    """What a decision computes once per set of inputs; ``choose`` draws from it."""

    ranking: list[Ranked]
    greedy: Estimate
    eligible: list[Estimate]
    stale: list[Estimate]
    shares: dict[str, float]
    any_tried: bool


def prepare(
    estimates: Sequence[Estimate], objective: Objective, policy: Policy, rng: random.Random
) -> Prepared:
    """Rank ``estimates`` and compute their win shares; raise NothingEligible when every one
    is excluded."""
    eligible = _named([e for e in estimates if e.excluded_by is None])
    default_cost, default_latency = _priors(eligible)
    costs = {
        e.model: (
            default_cost if e.cost is None else e.cost,
            default_latency if e.latency is None else e.latency,
        )
        for e in estimates
    }
    parts = {
        e.model: utility_parts(objective, e.posterior.mean, *costs[e.model]) for e in estimates
    }
    if not eligible:
        raise NothingEligible(
            [Ranked(e, parts[e.model], 0.0, e.requests > 0) for e in _named(estimates)]
        )
    tried = [e for e in eligible if e.requests > 0]
    # max() keeps the first of equal keys: ties go to the name sorted first.
    greedy = max(tried or eligible, key=lambda e: parts[e.model].expected_utility)
    shares = win_shares(eligible, objective, costs, rng, policy.draws)
    shares = cap_exploration(shares, greedy.model, policy.exploration)
    best = parts[greedy.model].expected_utility
    stale = [
        e
        for e in eligible
        if e is not greedy
        and (
            e.last_seen_hours is None
            or e.last_seen_hours
            >= recheck_after(policy, objective, best - parts[e.model].expected_utility)
        )
    ]
    ranking = sorted(
        (Ranked(e, parts[e.model], shares.get(e.model, 0.0), e.requests > 0) for e in estimates),
        key=lambda r: (
            r.estimate.excluded_by is not None,
            -r.parts.expected_utility,
            r.estimate.model,
        ),
    )
    return Prepared(ranking, greedy, eligible, stale, shares, bool(tried))


def choose(prepared: Prepared, policy: Policy, rng: random.Random) -> UtilityDecision:
    """Draw one selection from a prepared decision (see the module docstring)."""
    p = prepared
    if p.stale and rng.random() < policy.recheck_rate:
        pick = max(p.stale, key=_age)
        reason = RECHECK
    else:
        pick = _draw(p.eligible, p.shares, rng)
        reason = GREEDY if pick is p.greedy else EXPLORATION
        if not p.any_tried and pick is p.greedy:
            reason = COLD_START
    return UtilityDecision(pick.model, reason, reason not in (GREEDY, COLD_START), p.ranking)


def decide(
    estimates: Sequence[Estimate], objective: Objective, policy: Policy, rng: random.Random
) -> UtilityDecision:
    """Prepare and choose at once."""
    return choose(prepare(estimates, objective, policy, rng), policy, rng)


def _named(estimates: Sequence[Estimate]) -> list[Estimate]:
    return sorted(estimates, key=lambda e: e.model)


def _age(e: Estimate) -> float:
    return float("inf") if e.last_seen_hours is None else e.last_seen_hours


def _draw(eligible: Sequence[Estimate], shares: dict[str, float], rng: random.Random) -> Estimate:
    u = rng.random()
    ordered = sorted(eligible, key=lambda e: e.model)
    for e in ordered:
        u -= shares.get(e.model, 0.0)
        if u < 0:
            return e
    return max(ordered, key=lambda e: shares.get(e.model, 0.0))
