"""The cost of token counts at a model's prices (pure: no database)."""

import pytest

from aurea.services.pricing import TokenPrices, cost_from_tokens, unpriced_reason


def test_cost_is_tokens_times_price_per_million_for_each_kind():
    prices = TokenPrices(input_usd_per_million_tokens=2.5, output_usd_per_million_tokens=10.0)
    assert cost_from_tokens(prices, 1200, 300) == pytest.approx(1200 * 2.5e-6 + 300 * 10e-6)


def test_a_missing_price_cannot_price_tokens_of_its_kind():
    prices = TokenPrices(input_usd_per_million_tokens=1.0, output_usd_per_million_tokens=None)
    assert cost_from_tokens(prices, 1000, 5) is None
    assert cost_from_tokens(None, 1000, None) is None


def test_absent_or_zero_counts_need_no_price():
    embedding = TokenPrices(input_usd_per_million_tokens=0.02, output_usd_per_million_tokens=None)
    assert cost_from_tokens(embedding, 5000, None) == pytest.approx(1e-4)
    assert cost_from_tokens(embedding, 5000, 0) == pytest.approx(1e-4)
    assert cost_from_tokens(None, 0, 0) == 0.0


def test_unpriced_reason_names_the_model_and_how_to_price_it():
    unregistered = unpriced_reason("ghost", None, None)
    assert "'ghost'" in unregistered and "not registered" in unregistered
    unpriced = unpriced_reason("gpt-4", TokenPrices(None, None), None)
    assert "PATCH /router/models/gpt-4" in unpriced
    assert unpriced_reason("gpt-4", TokenPrices(1.0, 1.0), 0.5) is None


def test_a_computed_cost_above_the_recordable_bound_is_refused():
    assert "more than 1e9" in unpriced_reason("gpt-4", TokenPrices(1e9, 1e9), 2e12)
