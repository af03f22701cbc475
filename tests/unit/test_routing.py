"""Constraints, ranking, cold start and exploration, without a database."""

import random
from datetime import UTC, datetime

import pytest

from aurea.domain import routing
from aurea.domain.routing import Candidate, Constraints, decide, rank
from aurea.domain.scoring import DEFAULT_WEIGHTS, ModelStats, Weights, limit_step


def cand(name, n=10, ok=10, latency=1.0, cost=0.01, p95=None, **kw):
    stats = ModelStats(name, n, ok, latency, cost) if n else None
    return Candidate(name, stats=stats, p95_latency=p95 if p95 is not None else latency, **kw)


def test_hard_limits_exclude_before_scoring_and_say_which():
    ranking = rank(
        [
            cand("dear", cost=0.1),
            cand("slow", p95=9.0),
            cand("flaky", ok=5),
            cand("fine"),
        ],
        Constraints(max_cost=0.05, max_latency=5.0, min_success_rate=0.9),
        DEFAULT_WEIGHTS,
    )
    reasons = {e.candidate.model: e.excluded_by for e in ranking}
    assert reasons == {
        "dear": "max_cost",
        "slow": "max_latency",
        "flaky": "min_success_rate",
        "fine": None,
    }
    assert ranking[0].candidate.model == "fine" and ranking[0].score == pytest.approx(1.0)


def test_excluded_disabled_and_cooling_models_never_compete():
    until = datetime(2026, 1, 1, tzinfo=UTC)
    ranking = rank(
        [
            cand("a"),
            cand("b", enabled=False),
            cand("c", cooling_until=until),
            Candidate("ghost", registered=False),
        ],
        Constraints(exclude=frozenset({"a"})),
        DEFAULT_WEIGHTS,
    )
    assert {e.candidate.model: e.excluded_by for e in ranking} == {
        "a": "excluded",
        "b": "disabled",
        "c": "cooling_down",
        "ghost": "not_registered",
    }


def test_models_below_min_requests_do_not_compete_on_score():
    decision = decide(
        [cand("veteran", n=50, ok=25), cand("newcomer", n=2)],
        Constraints(min_requests=5),
        DEFAULT_WEIGHTS,
    )
    assert (decision.selected_model, decision.reason) == ("veteran", "highest_score")


def test_cold_start_picks_least_tried_when_none_has_enough_requests():
    decision = decide(
        [cand("a", n=3), cand("b", n=0), cand("c", n=0, enabled=False), cand("d", n=1)],
        Constraints(min_requests=5),
        DEFAULT_WEIGHTS,
    )
    assert (decision.selected_model, decision.reason, decision.score) == ("b", "cold_start", None)


def test_warmup_serves_a_candidate_short_of_data_before_scoring_the_others():
    pool = [cand("veteran", n=50, ok=50), cand("rookie", n=2), cand("newcomer", n=0)]
    decision = decide(pool, Constraints(min_requests=5), DEFAULT_WEIGHTS, warmup=True)
    assert (decision.selected_model, decision.reason, decision.score) == (
        "newcomer",
        "cold_start",
        None,
    )
    without = decide(pool, Constraints(min_requests=5), DEFAULT_WEIGHTS, warmup=False)
    assert (without.selected_model, without.reason) == ("veteran", "highest_score")


def test_warmup_ends_once_every_candidate_has_min_requests():
    pool = [cand("veteran", n=50, ok=50), cand("rookie", n=5, ok=0)]
    decision = decide(pool, Constraints(min_requests=5), DEFAULT_WEIGHTS, warmup=True)
    assert (decision.selected_model, decision.reason) == ("veteran", "highest_score")


def test_warmup_skips_models_excluded_for_other_reasons_than_data():
    pool = [
        cand("veteran", n=50, ok=50),
        cand("off", n=0, enabled=False),
        cand("dear", n=1, cost=9.0),
        cand("cooling", n=1, cooling_until=datetime(2030, 1, 1, tzinfo=UTC)),
    ]
    decision = decide(pool, Constraints(min_requests=5, max_cost=1.0), DEFAULT_WEIGHTS, warmup=True)
    assert (decision.selected_model, decision.reason) == ("veteran", "highest_score")


def test_warmup_comes_before_exploration():
    pool = [cand("veteran", n=50, ok=50), cand("newcomer", n=0)]
    rng = random.Random(3)
    picks = {
        decide(pool, Constraints(min_requests=1), DEFAULT_WEIGHTS, 1.0, rng, warmup=True).reason
        for _ in range(20)
    }
    assert picks == {"cold_start"}


def test_no_model_qualifies_lists_every_candidate_with_its_reason():
    with pytest.raises(routing.NothingEligible) as caught:
        decide(
            [cand("a", cost=1.0), cand("b", enabled=False)],
            Constraints(max_cost=0.5),
            DEFAULT_WEIGHTS,
        )
    assert {e.candidate.model: e.excluded_by for e in caught.value.ranking} == {
        "a": "max_cost",
        "b": "disabled",
    }


def test_weights_decide_between_cheap_and_reliable():
    pool = [cand("cheap", ok=5, cost=0.001), cand("solid", ok=10, cost=0.1)]
    assert decide(pool, Constraints(), Weights(0.9, 0.05, 0.05)).selected_model == "cheap"
    assert decide(pool, Constraints(), Weights(0.05, 0.9, 0.05)).selected_model == "solid"


def test_exploration_off_is_deterministic():
    pool = [cand("a", ok=9), cand("b", n=0)]
    picks = {
        decide(pool, Constraints(), DEFAULT_WEIGHTS, 0.0, random.Random(i)).selected_model
        for i in range(50)
    }
    assert picks == {"a"}


def test_full_exploration_samples_and_favours_untried_over_failing_models():
    pool = [cand("good", n=100, ok=95), cand("bad", n=100, ok=5), cand("untried", n=0)]
    rng = random.Random(42)
    decisions = [decide(pool, Constraints(), DEFAULT_WEIGHTS, 1.0, rng) for _ in range(400)]
    assert all(d.explored and d.reason == "exploration" for d in decisions)
    counts = {m: sum(d.selected_model == m for d in decisions) for m in ("good", "bad", "untried")}
    # Beta(1, 1) beats Beta(96, 6) about 6 % of the time; Beta(6, 96) practically never.
    assert counts["bad"] == 0
    assert 8 <= counts["untried"] <= 50
    assert counts["good"] == 400 - counts["untried"]


def test_exploration_never_picks_excluded_models():
    pool = [cand("a"), cand("off", n=0, enabled=False)]
    rng = random.Random(1)
    assert {
        decide(pool, Constraints(), DEFAULT_WEIGHTS, 1.0, rng).selected_model for _ in range(50)
    } == {"a"}


def test_limit_step_scales_the_move_so_weights_still_sum_to_one():
    old, new = Weights(0.33, 0.34, 0.33), Weights(0.6, 0.1, 0.3)
    limited = limit_step(old, new, 0.09)
    # largest move is 0.27 (cost); a third of the way: 0.42 / 0.26 / 0.32
    assert (limited.cost, limited.quality, limited.latency) == pytest.approx((0.42, 0.26, 0.32))
    assert limited.sums_to_one()
    assert limit_step(old, new, None) == new
    assert limit_step(old, new, 0.5) == new


def test_equal_scores_go_to_the_name_that_sorts_first():
    decision = decide([cand("zeta"), cand("alpha"), cand("mid")], Constraints(), DEFAULT_WEIGHTS)
    assert decision.selected_model == "alpha"
    assert [e.candidate.model for e in decision.ranking] == ["alpha", "mid", "zeta"]


def test_nothing_registered_means_nothing_qualifies():
    with pytest.raises(routing.NothingEligible):
        decide([], Constraints(), DEFAULT_WEIGHTS)
