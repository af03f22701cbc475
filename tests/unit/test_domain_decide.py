"""The utility decision, the cooldown rule and the objective, without Flask or a database."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from aurea.domain import decide
from aurea.domain.cooldown import (
    CooldownRule,
    MinuteCounts,
    cooldown_end,
    degraded_since,
    model_cooldowns,
    trips,
)
from aurea.domain.estimators import UNIFORM, BetaPosterior
from aurea.domain.objective import Objective, expected_utility, utility_parts

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def estimate(model, alpha=90, beta=10, cost=0.001, latency=1.0, requests=100, seen=0.1):
    return decide.Estimate(model, BetaPosterior(alpha, beta), cost, latency, requests, seen)


def untried(model):
    return decide.Estimate(model, UNIFORM, None, None, 0, None)


def test_expected_utility_in_usd_with_its_parts():
    # 0.1 * 0.9 - 0.01 - 0.005 * 2 = 0.07
    objective = Objective(success_value=0.1, latency_cost=0.005)
    assert expected_utility(objective, 0.9, 0.01, 2.0) == pytest.approx(0.07)
    parts = utility_parts(objective, 0.9, 0.01, 2.0)
    assert (parts.value, parts.cost, parts.latency_cost) == pytest.approx((0.09, 0.01, 0.01))


def test_objective_refuses_negative_or_infinite_rates():
    with pytest.raises(ValueError):
        Objective(success_value=-1)
    with pytest.raises(ValueError):
        Objective(latency_cost=float("inf"))


def test_cap_exploration_scales_the_other_shares_to_the_cap():
    capped = decide.cap_exploration({"a": 0.5, "b": 0.3, "c": 0.2}, "a", 0.1)
    assert capped == pytest.approx({"a": 0.9, "b": 0.06, "c": 0.04})
    assert decide.cap_exploration({"a": 0.95, "b": 0.05}, "a", 0.1) == {"a": 0.95, "b": 0.05}


def test_recheck_waits_in_proportion_to_the_gap_above_the_reference():
    policy = decide.Policy(recheck_hours=6, recheck_gap=0.05)
    objective = Objective(success_value=1.0)
    assert decide.recheck_after(policy, objective, 0.01) == 6
    assert decide.recheck_after(policy, objective, 0.2) == pytest.approx(24)


def test_untried_model_is_never_the_greedy_choice_while_a_tried_one_qualifies():
    policy = decide.Policy(exploration=0.0, recheck_rate=0.0)
    rng = random.Random(1)
    for _ in range(50):
        d = decide.decide([estimate("tried"), untried("new")], Objective(), policy, rng)
        assert (d.selected_model, d.reason) == ("tried", decide.GREEDY)


def test_untried_model_is_tried_by_a_recheck_and_the_reason_says_so():
    policy = decide.Policy(exploration=0.0, recheck_rate=1.0)
    d = decide.decide([estimate("tried"), untried("new")], Objective(), policy, random.Random(1))
    assert (d.selected_model, d.reason, d.explored) == ("new", decide.RECHECK, True)


def test_only_untried_models_is_a_cold_start():
    policy = decide.Policy(exploration=0.0, recheck_rate=0.0)
    d = decide.decide([untried("b"), untried("a")], Objective(), policy, random.Random(1))
    assert (d.selected_model, d.reason) == ("a", decide.COLD_START)


def test_exploration_share_stays_under_the_cap():
    # Two models with the same posterior: Thompson sampling alone would split 50/50.
    policy = decide.Policy(exploration=0.1, recheck_rate=0.0)
    rng = random.Random(3)
    picks = [
        decide.decide([estimate("a"), estimate("b")], Objective(), policy, rng) for _ in range(400)
    ]
    explored = sum(d.explored for d in picks)
    assert 0 < explored < 400 * 0.2
    assert all((d.reason == decide.EXPLORATION) == d.explored for d in picks)


def test_higher_value_of_success_prefers_the_more_reliable_model():
    reliable = estimate("reliable", alpha=99, beta=1, cost=0.02)
    cheap = estimate("cheap", alpha=80, beta=20, cost=0.001)
    policy = decide.Policy(exploration=0.0, recheck_rate=0.0)
    rng = random.Random(2)
    assert decide.decide([reliable, cheap], Objective(0.01, 0), policy, rng).selected_model == (
        "cheap"
    )
    assert decide.decide([reliable, cheap], Objective(1.0, 0), policy, rng).selected_model == (
        "reliable"
    )


def test_every_candidate_excluded_raises_with_the_ranking():
    excluded = decide.Estimate("a", UNIFORM, None, None, 0, None, excluded_by="disabled")
    with pytest.raises(decide.NothingEligible) as info:
        decide.decide([excluded], Objective(), decide.Policy(), random.Random(1))
    assert [r.estimate.model for r in info.value.ranking] == ["a"]


RULE = CooldownRule(failure_rate=0.5, min_requests=5, lookback_seconds=60, seconds=600)


def test_cooldown_trips_on_the_lookback_and_lasts_from_the_end_of_the_minute():
    minutes = [MinuteCounts(T0, 4, 3), MinuteCounts(T0 + MIN, 2, 1)]
    # At T0: 4 requests < 5. At T0+1m: 6 requests, 4 failures over the lookback: trips.
    until = T0 + 2 * MIN + timedelta(seconds=600)
    assert cooldown_end(minutes, RULE, T0 + 5 * MIN) == until
    assert cooldown_end(minutes, RULE, until) is None
    assert cooldown_end(minutes[:1], RULE, T0 + 5 * MIN) is None


def test_minutes_before_a_cooldown_ended_do_not_count_toward_the_next():
    until = T0 + 2 * MIN + timedelta(seconds=600)
    later = until + MIN  # a whole minute after the end
    minutes = [MinuteCounts(T0, 10, 10), MinuteCounts(later, 2, 2)]
    assert cooldown_end(minutes, RULE, later + MIN) is None  # only 2 requests since


def test_every_cooldown_is_listed_with_the_minute_it_tripped_in():
    later = T0 + 30 * MIN
    minutes = [MinuteCounts(T0, 10, 9), MinuteCounts(later, 6, 6)]
    found = trips(minutes, RULE, later + MIN)
    assert [(t.start, t.until) for t in found] == [
        (T0, T0 + MIN + timedelta(seconds=600)),
        (later, later + MIN + timedelta(seconds=600)),
    ]
    assert trips(minutes, RULE, later - MIN) == found[:1]


def test_a_cooled_model_stays_degraded_until_its_calls_since_show_its_old_rate():
    # 100 calls at 90 % an hour before; a cooldown trips at T0 and ends at T0 + 11 min.
    history = [MinuteCounts(T0 - 60 * MIN, 100, 10), MinuteCounts(T0, 6, 6)]
    end = T0 + MIN + timedelta(seconds=600)
    assert degraded_since(history, RULE, T0 + 5 * MIN) == T0  # cooling down
    assert degraded_since(history, RULE, end + 5 * MIN) == T0  # over by the clock, no calls yet
    # 10 calls since at 60 %: below 0.9 - 2 * sqrt(0.9 * 0.1 / 10) = 0.71, still degraded
    bad = history + [MinuteCounts(end + MIN, 10, 4)]
    assert degraded_since(bad, RULE, end + 2 * MIN) == T0
    # 10 calls since at 80 %: above 0.71, back
    back = history + [MinuteCounts(end + MIN, 10, 2)]
    assert degraded_since(back, RULE, end + 2 * MIN) is None
    # The calls that judge are those of the last cooldown length (10 min): the bad ones age out.
    assert degraded_since(bad, RULE, end + 12 * MIN) == T0
    recovered = bad + [MinuteCounts(end + 8 * MIN, 10, 1)]
    assert degraded_since(recovered, RULE, end + 12 * MIN) is None
    # No calls before the cooldown: nothing to compare with, left to the change test.
    assert degraded_since([MinuteCounts(T0, 6, 6)], RULE, end + MIN) is None
    assert degraded_since(history[:1], RULE, T0 + MIN) is None  # no cooldown at all


def test_a_model_failing_on_one_task_cools_down_there_only():
    failing = [MinuteCounts(T0, 10, 9)]
    healthy = [MinuteCounts(T0, 10, 0)]
    now = T0 + 3 * MIN
    cooldowns = model_cooldowns({("m", "code"): failing, ("m", "chat"): healthy}, RULE, now)
    assert cooldowns["m"].everywhere is None
    assert cooldowns["m"].until("chat") is None
    assert cooldowns["m"].until("code") == T0 + MIN + timedelta(seconds=600)


def test_a_model_failing_on_every_task_it_served_cools_down_everywhere():
    failing = [MinuteCounts(T0, 10, 9)]
    now = T0 + 3 * MIN
    cooldowns = model_cooldowns({("m", "code"): failing, ("m", "chat"): failing}, RULE, now)
    assert cooldowns["m"].everywhere == T0 + MIN + timedelta(seconds=600)
    assert cooldowns["m"].until("translation") == cooldowns["m"].everywhere
