"""Pure scoring and optimisation, checked against numbers computed by hand."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aurea.domain.scoring import (
    DEFAULT_WEIGHTS,
    ModelScore,
    ModelStats,
    Weights,
    coefficient_of_variation,
    inverted_min_max,
    propose_weights,
    score_models,
)


def stats(model, latency, cost, success_rate, n=100):
    return ModelStats(model, n, round(success_rate * n), latency, cost)


def test_inverted_min_max_gives_lowest_one_and_highest_zero():
    assert inverted_min_max({"a": 1.0, "b": 2.0, "c": 4.0}) == {
        "a": 1.0,
        "b": pytest.approx(2 / 3),
        "c": 0.0,
    }


def test_inverted_min_max_gives_everyone_one_when_all_equal():
    assert inverted_min_max({"a": 0.5, "b": 0.5}) == {"a": 1.0, "b": 1.0}


def test_inverted_min_max_of_nothing_is_empty():
    assert inverted_min_max({}) == {}


def test_seed_example_scores_cheap_fast_model_highest():
    # gpt-4: cost 0.03, latency 0.8; gpt-3.5: cost 0.002, latency 0.3; both succeed.
    scores = score_models(
        [stats("gpt-4", 0.8, 0.03, 1.0, 1), stats("gpt-3.5-turbo", 0.3, 0.002, 1.0, 1)],
        DEFAULT_WEIGHTS,
    )
    # gpt-4: cost 0, latency 0, quality 1 -> 0.34; gpt-3.5: 1, 1, 1 -> 1.0
    assert scores["gpt-4"].score == pytest.approx(0.34)
    assert scores["gpt-3.5-turbo"].score == pytest.approx(1.0)
    assert max(scores.values(), key=lambda s: s.score).model == "gpt-3.5-turbo"


def test_three_model_scores_match_hand_computation():
    weights = Weights(cost=0.2, quality=0.5, latency=0.3)
    scores = score_models(
        [
            stats("a", latency=2.0, cost=0.01, success_rate=0.5),
            stats("b", latency=1.0, cost=0.02, success_rate=0.75),
            stats("c", latency=0.5, cost=0.04, success_rate=1.0),
        ],
        weights,
    )
    # cost scores 1, 2/3, 0; latency scores 0, 2/3, 1
    assert scores["a"] == ModelScore("a", 1.0, 0.5, 0.0, pytest.approx(0.45))
    assert scores["b"].cost_score == pytest.approx(2 / 3)
    assert scores["b"].latency_score == pytest.approx(2 / 3)
    assert scores["b"].score == pytest.approx(2 / 3 * 0.2 + 0.75 * 0.5 + 2 / 3 * 0.3)
    assert scores["c"].score == pytest.approx(0.8)
    assert max(scores.values(), key=lambda s: s.score).model == "c"


def test_single_model_gets_full_cost_and_latency_scores():
    scores = score_models([stats("solo", 3.0, 1.0, 0.25)], DEFAULT_WEIGHTS)
    assert scores["solo"].score == pytest.approx(0.33 + 0.25 * 0.34 + 0.33)


def test_coefficient_of_variation_is_population_stdev_over_mean():
    # values 0.01, 0.03: mean 0.02, population stdev 0.01
    assert coefficient_of_variation([0.01, 0.03]) == pytest.approx(0.5)


def test_coefficient_of_variation_is_zero_when_mean_is_zero():
    assert coefficient_of_variation([0.0, 0.0, 0.0]) == 0.0


def test_propose_weights_follows_documented_formula():
    proposal = propose_weights([stats("a", 1.0, 0.01, 1.0), stats("b", 1.0, 0.03, 0.5)], floor=0.1)
    # cv: cost 0.5, quality 0.25/0.75 = 1/3, latency 0; sum 5/6
    assert proposal.variation == {
        "cost": pytest.approx(0.5),
        "quality": pytest.approx(1 / 3),
        "latency": 0.0,
    }
    assert proposal.weights.cost == pytest.approx(0.1 + 0.7 * 0.6)
    assert proposal.weights.quality == pytest.approx(0.1 + 0.7 * 0.4)
    assert proposal.weights.latency == pytest.approx(0.1)


def test_propose_weights_never_drops_quality_below_floor():
    # A cheap model that always fails: quality varies hugely but cost varies more.
    proposal = propose_weights(
        [stats("cheap", 1.0, 0.0001, 0.01), stats("good", 1.0, 0.1, 1.0)], floor=0.1
    )
    assert proposal.weights.quality >= 0.1
    assert proposal.weights.latency == pytest.approx(0.1)


def test_propose_weights_keeps_weights_with_one_model():
    proposal = propose_weights([stats("solo", 1.0, 0.01, 1.0)], floor=0.1)
    assert proposal.weights is None
    assert "fewer than two models" in proposal.reason


def test_propose_weights_keeps_weights_when_nothing_varies():
    proposal = propose_weights([stats("a", 1.0, 0.01, 1.0), stats("b", 1.0, 0.01, 1.0)], floor=0.1)
    assert proposal.weights is None
    assert "no criterion varies" in proposal.reason


def test_propose_weights_rejects_floor_above_one_third():
    with pytest.raises(ValueError):
        propose_weights([], floor=0.4)


def test_weights_sum_check_uses_one_millionth_tolerance():
    assert Weights(0.33, 0.34, 0.33 + 5e-7).sums_to_one()
    assert not Weights(0.33, 0.34, 0.33 + 2e-6).sums_to_one()


finite = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
model_stats = st.lists(
    st.builds(
        lambda i, lat, cost, n, s: ModelStats(f"m{i}", n, min(s, n), lat, cost),
        st.integers(0, 10_000),
        finite,
        finite,
        st.integers(1, 1000),
        st.integers(0, 1000),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda s: s.model,
)


@given(model_stats, st.floats(min_value=0, max_value=1 / 3))
def test_proposed_weights_sum_to_one_and_respect_floor(all_stats, floor):
    proposal = propose_weights(all_stats, floor)
    if proposal.weights is not None:
        assert proposal.weights.sums_to_one()
        for value in (proposal.weights.cost, proposal.weights.quality, proposal.weights.latency):
            assert value >= floor - 1e-12


@given(model_stats)
def test_scores_stay_between_zero_and_one(all_stats):
    for s in score_models(all_stats, DEFAULT_WEIGHTS).values():
        for value in (s.cost_score, s.quality_score, s.latency_score):
            assert 0.0 <= value <= 1.0
        assert -1e-12 <= s.score <= 1.0 + 1e-12
        assert not math.isnan(s.score)
