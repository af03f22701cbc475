"""Replay: what each policy would have earned on a deployment's own logged calls.

The estimator is the rejection-sampling replay of Li, Chu, Langford and Wang ("Unbiased offline
evaluation of contextual-bandit-based news article recommendation algorithms", WSDM 2011).
The logged calls are streamed in time order. For each one, every policy is asked which model it
would choose, among the models seen so far, for the call's task. When its choice is the model
the call was logged with, the call is **accepted**: the policy earns the call's utility and
learns its outcome (at the end of each ``step``, as the simulator does). Otherwise the call is
skipped for that policy, which learns nothing from it.

Assumptions (docs/replay.md):

- A call's outcome would have been the same whoever chose the model (no interference).
- The estimate is unbiased when the logged choices were made uniformly at random among the
  candidates, independently of the past (Li et al., theorem 1). Aurea's own log is not: a
  policy that disagrees with it is judged on the calls it agrees on, which may be few and
  unlike the rest. ``accepted`` says how many calls stand behind each figure; compare
  policies on similar acceptance, and treat an estimate from a few dozen calls as a hint.
- The candidates of a call are the models that have been logged at or before it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from aurea.domain.objective import Objective
from aurea.simulation.policies import Outcome, Policy

STEP = timedelta(minutes=10)
Z90 = 1.645


@dataclass(frozen=True)
class LoggedCall:
    at: datetime
    model: str
    task: str | None
    latency: float
    cost: float
    success: bool


def call_utility(objective: Objective, call: LoggedCall) -> float:
    """USD: success_value x success - cost - latency_cost x latency."""
    return (
        objective.success_value * float(call.success)
        - call.cost
        - objective.latency_cost * call.latency
    )


@dataclass
class PolicyEstimate:
    policy: str
    logged: int = 0
    accepted: int = 0
    utility_sum: float = 0.0
    utility_squares: float = 0.0

    def add(self, utility: float) -> None:
        self.accepted += 1
        self.utility_sum += utility
        self.utility_squares += utility * utility

    @property
    def mean_utility(self) -> float | None:
        return self.utility_sum / self.accepted if self.accepted else None

    @property
    def interval(self) -> tuple[float, float] | None:
        """A 90 % normal interval of the mean utility per call; None under two calls."""
        if self.accepted < 2:
            return None
        mean = self.utility_sum / self.accepted
        variance = max(0.0, self.utility_squares / self.accepted - mean * mean)
        half = Z90 * math.sqrt(variance / (self.accepted - 1))
        return (mean - half, mean + half)

    def as_dict(self) -> dict:
        interval = self.interval
        mean = self.mean_utility
        return {
            "policy": self.policy,
            "logged_calls": self.logged,
            "accepted": self.accepted,
            "acceptance": round(self.accepted / self.logged, 4) if self.logged else None,
            "mean_utility_usd": None if mean is None else round(mean, 6),
            "interval_90": None if interval is None else [round(v, 6) for v in interval],
            "estimated_total_usd": None if mean is None else round(mean * self.logged, 4),
        }


def logged_estimate(calls: Sequence[LoggedCall], objective_of) -> PolicyEstimate:
    """What the logged decisions themselves earned (every call accepted)."""
    out = PolicyEstimate("logged", logged=len(calls))
    for c in calls:
        out.add(call_utility(objective_of(c.task), c))
    return out


def replay(
    calls: Iterable[LoggedCall],
    policies: Sequence[Policy],
    objective_of: Callable[[str | None], Objective],
    step: timedelta = STEP,
) -> list[PolicyEstimate]:
    """Replay ``calls`` (sorted by time here) through each policy; see the module docstring.

    ``objective_of(task)`` gives the objective a call's utility is measured with.
    """
    ordered = sorted(calls, key=lambda c: c.at)
    estimates = [PolicyEstimate(p.name, logged=len(ordered)) for p in policies]
    if not ordered:
        return estimates
    pending: list[list[Outcome]] = [[] for _ in policies]
    seen: set[str] = set()
    step_end = ordered[0].at + step
    for call in ordered:
        while call.at >= step_end:
            for policy, outcomes in zip(policies, pending, strict=True):
                policy.observe(outcomes, step_end)
                outcomes.clear()
            step_end += step
        seen.add(call.model)
        candidates = sorted(seen)
        utility = call_utility(objective_of(call.task), call)
        for policy, estimate, outcomes in zip(policies, estimates, pending, strict=True):
            if policy.choose(call.at, call.task, candidates) != call.model:
                continue
            estimate.add(utility)
            outcomes.append(
                Outcome(call.model, call.task, call.latency, call.cost, call.success, call.at)
            )
    for policy, outcomes in zip(policies, pending, strict=True):
        policy.observe(outcomes, step_end)
    return estimates


def table(estimates: Sequence[PolicyEstimate]) -> str:
    lines = [
        f"{'policy':<22} {'accepted':>9} {'share':>6} {'USD/call':>10} {'90% interval':>23}",
    ]
    for e in estimates:
        d = e.as_dict()
        mean = "-" if d["mean_utility_usd"] is None else f"{d['mean_utility_usd']:.5f}"
        interval = (
            "-"
            if d["interval_90"] is None
            else f"{d['interval_90'][0]:.5f} .. {d['interval_90'][1]:.5f}"
        )
        share = "-" if d["acceptance"] is None else f"{d['acceptance']:.0%}"
        lines.append(f"{e.policy:<22} {e.accepted:>9} {share:>6} {mean:>10} {interval:>23}")
    return "\n".join(lines)
