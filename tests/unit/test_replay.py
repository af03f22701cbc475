"""The rejection-sampling replay (aurea.simulation.replay), with hand-computed cases."""

from datetime import UTC, datetime, timedelta

import pytest

from aurea.domain.objective import Objective
from aurea.simulation.policies import Policy
from aurea.simulation.replay import LoggedCall, call_utility, logged_estimate, replay

T0 = datetime(2026, 6, 1, tzinfo=UTC)
OBJECTIVE = Objective(success_value=0.1, latency_cost=0.005)


def call(minutes, model, success=True, latency=2.0, cost=0.01, task=None):
    return LoggedCall(T0 + timedelta(minutes=minutes), model, task, latency, cost, success)


class Always(Policy):
    def __init__(self, model):
        self.name, self.model, self.seen, self.candidates = f"always-{model}", model, [], []

    def choose(self, at, task, available):
        self.candidates.append(list(available))
        return self.model

    def observe(self, outcomes, at):
        self.seen.extend((o.model, o.success, at) for o in outcomes)


def test_call_utility_is_value_times_success_minus_cost_and_latency_cost():
    # 0.1 x 1 - 0.01 - 0.005 x 2 = 0.08; a failure: 0 - 0.01 - 0.005 x 1 = -0.015
    assert call_utility(OBJECTIVE, call(0, "a")) == pytest.approx(0.08)
    assert call_utility(OBJECTIVE, call(0, "a", success=False, latency=1.0)) == pytest.approx(
        -0.015
    )


def test_a_policy_earns_only_the_calls_whose_logged_model_it_would_have_chosen():
    calls = [
        call(0, "a"),  # 0.08
        call(1, "b"),
        call(2, "a", success=False, latency=1.0),  # -0.015
        call(3, "b"),
    ]
    [a, b] = [replay(calls, [Always(m)], lambda _t: OBJECTIVE)[0] for m in ("a", "b")]
    assert (a.logged, a.accepted) == (4, 2)
    assert a.mean_utility == pytest.approx((0.08 - 0.015) / 2)
    assert b.accepted == 2 and b.mean_utility == pytest.approx(0.08)
    assert a.as_dict()["estimated_total_usd"] == pytest.approx(4 * (0.08 - 0.015) / 2, abs=1e-4)


def test_a_policy_learns_only_accepted_outcomes_at_the_end_of_each_step():
    policy = Always("a")
    calls = [call(0, "a"), call(5, "b"), call(12, "a", success=False), call(25, "a")]
    replay(calls, [policy], lambda _t: OBJECTIVE)
    # Steps of 10 minutes from the first call: the first outcome at +10, the third at +20.
    assert policy.seen == [
        ("a", True, T0 + timedelta(minutes=10)),
        ("a", False, T0 + timedelta(minutes=20)),
        ("a", True, T0 + timedelta(minutes=30)),
    ]


def test_candidates_are_the_models_logged_so_far():
    policy = Always("a")
    replay([call(0, "a"), call(1, "b"), call(2, "a")], [policy], lambda _t: OBJECTIVE)
    assert policy.candidates == [["a"], ["a", "b"], ["a", "b"]]


def test_the_interval_is_a_90_percent_normal_interval_of_the_mean():
    calls = [call(0, "a"), call(1, "a", success=False, latency=1.0)]
    [est] = replay(calls, [Always("a")], lambda _t: OBJECTIVE)
    mean = (0.08 - 0.015) / 2
    sd = 0.0475  # population sd of {0.08, -0.015}
    half = 1.645 * sd / 1  # sqrt(variance / (n - 1)), n = 2
    low, high = est.interval
    assert (low, high) == (pytest.approx(mean - half), pytest.approx(mean + half))


def test_the_logged_estimate_accepts_every_call_with_the_tasks_objective():
    legal = Objective(success_value=1.0, latency_cost=0.0)
    calls = [call(0, "a", task="legal"), call(1, "a")]
    est = logged_estimate(calls, lambda t: legal if t == "legal" else OBJECTIVE)
    assert est.accepted == 2
    assert est.mean_utility == pytest.approx((0.99 + 0.08) / 2)


def test_no_calls_give_no_estimate():
    [est] = replay([], [Always("a")], lambda _t: OBJECTIVE)
    assert est.accepted == 0 and est.mean_utility is None and est.interval is None
