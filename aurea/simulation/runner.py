"""Drive policies through a scenario: select -> draw the outcome -> record, step by step.

Every policy sees the same traffic and the same random draws (common random numbers): the
k-th request has one task, one uniform for success and one normal for latency, whichever
model serves it. A run is deterministic for a given seed.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aurea.simulation.aurea_policy import AureaPolicy
from aurea.simulation.names import POLICIES
from aurea.simulation.policies import LatencyPolicy, Outcome, Policy, RandomPolicy, SeedPolicy
from aurea.simulation.scenario import Scenario

# aurea-weighted-optimize only on request: optimize tunes the weighted mode's weights, which
# the default utility mode does not use (docs/decisions.md, "Optimize").
DEFAULT_POLICIES = tuple(p for p in POLICIES if p != "aurea-weighted-optimize")


@dataclass(frozen=True)
class Request:
    index: int
    at: datetime
    elapsed: timedelta
    task: str | None
    u: float  # success if u < the model's success probability
    z: float  # latency = median * exp(sigma * z)
    utilities: dict[str, float]  # true expected utility of each model available then
    best: float


@dataclass
class PolicyRun:
    name: str
    chosen: list[str] = field(default_factory=list)
    realized: list[float] = field(default_factory=list)
    seconds: float = 0.0
    database: dict[str, int] | None = None
    optimize_runs: int | None = None


def traffic(scenario: Scenario, seed: int) -> list[tuple[datetime, list[Request]]]:
    """The requests of each step (evenly spaced in it), with the step's end."""
    rng = random.Random(f"{seed}:traffic")
    tasks, shares = list(scenario.tasks), list(scenario.tasks.values())
    per_step = scenario.requests_per_hour * (scenario.step / timedelta(hours=1))
    steps, due, index, elapsed = [], 0.0, 0, timedelta(0)
    while elapsed < scenario.duration:
        due += per_step
        count = math.floor(due + 1e-9)
        due -= count
        step = []
        for j in range(count):
            offset = elapsed + scenario.step * (j + 0.5) / count
            task = rng.choices(tasks, shares)[0] if tasks else None
            u, z = rng.random(), rng.gauss(0.0, 1.0)
            utilities = {
                m: scenario.expected_utility(m, task, offset) for m in scenario.available(offset)
            }
            best = max(utilities.values())
            step.append(
                Request(index, scenario.start + offset, offset, task, u, z, utilities, best)
            )
            index += 1
        elapsed += scenario.step
        steps.append((scenario.start + elapsed, step))
    return steps


class OraclePolicy(Policy):
    """Knows the truth: the highest expected utility now (ties by name). Regret 0."""

    name = "oracle"

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario

    def choose(self, at, task, available):
        elapsed = at - self.scenario.start
        return max(
            sorted(available), key=lambda m: self.scenario.expected_utility(m, task, elapsed)
        )


def objective_settings(scenario: Scenario) -> dict:
    """The scenario's utility as the settings a user would give Aurea (docs/decisions.md).

    A scenario's utility is ``success - cost_weight x cost - latency_weight x latency``; in
    USD (divided by cost_weight) a success is worth ``1 / cost_weight`` and a second of
    latency costs ``latency_weight / cost_weight``: the same ranking, in real units.
    """
    u = scenario.utility
    if u.cost <= 0:
        raise ValueError("a scenario's utility needs a positive cost weight to be stated in USD")
    return {"AUREA_SUCCESS_VALUE": 1.0 / u.cost, "AUREA_LATENCY_COST": u.latency / u.cost}


def make_policy(name: str, scenario: Scenario, seed: int, settings: dict | None = None) -> Policy:
    """Build a policy; ``settings`` (AUREA_* values) apply to every Aurea policy.

    ``aurea`` is the default utility mode told the scenario's objective; ``aurea-unconfigured``
    is a fresh install (the default objective); ``aurea-weighted`` the seed's weighted score
    (AUREA_OBJECTIVE=weighted); ``aurea-weighted-optimize`` that with the weekly optimize.
    """
    # Exploration draws are seeded in every Aurea policy, so any run is reproducible.
    settings = {"AUREA_RANDOM_SEED": float(seed), **(settings or {})}
    told = {**objective_settings(scenario), **settings}
    if name == "oracle":
        return OraclePolicy(scenario)
    if name == "aurea":
        return AureaPolicy(name, scenario.start, told)
    if name == "aurea-unconfigured":
        return AureaPolicy(name, scenario.start, settings)
    if name == "aurea-weighted":
        return AureaPolicy(name, scenario.start, {"AUREA_OBJECTIVE": "weighted", **settings})
    if name == "aurea-weighted-optimize":
        weighted = {"AUREA_OBJECTIVE": "weighted", **settings}
        return AureaPolicy(name, scenario.start, weighted, weekly_optimize=True)
    if name == "seed":
        return SeedPolicy()
    if name == "latency":
        return LatencyPolicy()
    if name == "random":
        return RandomPolicy(seed)
    raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}")


def run_policy(policy: Policy, scenario: Scenario, steps) -> PolicyRun:
    run = PolicyRun(policy.name)
    began = time.perf_counter()
    try:
        for step_end, requests in steps:
            outcomes = []
            for r in requests:
                model = policy.choose(r.at, r.task, sorted(r.utilities))
                truth = scenario.truth(model, r.elapsed)
                days = r.elapsed / timedelta(days=1)
                success = r.u < truth.success_for(r.task)
                latency = truth.median_at(days) * math.exp(truth.latency_sigma * r.z)
                outcomes.append(Outcome(model, r.task, latency, truth.cost, success, r.at))
                run.chosen.append(model)
                run.realized.append(scenario.utility.expected(float(success), truth.cost, latency))
            policy.observe(outcomes, step_end)
        if isinstance(policy, AureaPolicy):
            run.database = policy.database_counts()
            run.optimize_runs = policy.optimize_runs if policy.next_optimize else None
    finally:
        policy.close()
    run.seconds = time.perf_counter() - began
    return run


def simulate(scenario: Scenario, policies=DEFAULT_POLICIES, seed: int = 0, settings=None):
    """Run each policy in turn on the same traffic; return the traffic and the runs."""
    steps = traffic(scenario, seed)
    runs = [
        run_policy(make_policy(name, scenario, seed, settings), scenario, steps)
        for name in policies
    ]
    return steps, runs
