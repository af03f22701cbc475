"""Estimators and the change detector, against hand-computed values."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from aurea.domain.changes import glr_split, kl_bernoulli, latest_change, threshold
from aurea.domain.estimators import (
    BetaPosterior,
    EstimatorSettings,
    HourCounts,
    HourRow,
    estimate_models,
    shrink,
    success_posterior,
    success_trend,
    trend_corrected,
    weight,
    weighted_means,
)


def hour(age, n, s, latency=0.0, cost=0.0):
    return HourCounts(age, n, s, latency, cost)


def test_weight_halves_every_half_life_and_is_one_without_one():
    assert weight(24, 24) == pytest.approx(0.5)
    assert weight(12, 24) == pytest.approx(math.sqrt(0.5))
    assert weight(100, None) == 1.0
    assert weight(-1, 24) == 1.0  # an hour in the future is not worth more than now


def test_success_posterior_discounts_old_hours_into_the_long_memory():
    # Hour 1 (age 24 h, half-life 24 h): 8 of 10 at weight 0.5; hour 2 (now): 2 of 4.
    # recent: s = 0.5*8 + 2 = 6, f = 0.5*2 + 2 = 3; let go: s = 4, f = 1 (5 < memory 50).
    p = success_posterior([hour(24, 10, 8), hour(0, 4, 2)], 24, memory=50)
    assert (p.alpha, p.beta) == pytest.approx((1 + 6 + 4, 1 + 3 + 1))


def test_success_posterior_caps_the_long_memory_and_drops_hours_before_a_change():
    # change_at=1: hour 1 counts only in the memory (10 requests at 0.8, capped to 4):
    # alpha = 1 + 2 + 4*0.8, beta = 1 + 2 + 4*0.2.
    p = success_posterior([hour(24, 10, 8), hour(0, 4, 2)], 24, memory=4, change_at=1)
    assert (p.alpha, p.beta) == pytest.approx((6.2, 3.8))


def test_the_hours_after_a_change_fade_with_the_incident_half_life():
    # Hour 2 (age 2 h) is after the change: weight 0.5 ** (2 / 2) = 0.5 with a 2 h half-life,
    # so recent s = 0.5 * 2 = 1, f = 0.5 * 8 = 4; hour 1 and the rest of hour 2 go to the
    # memory, which is 0 here. Without it the weight is 0.5 ** (2 / 24).
    hours = [hour(10, 100, 95), hour(2, 10, 2)]
    p = success_posterior(hours, 24, memory=0, change_at=1, after_change_half_life_hours=2)
    assert (p.alpha, p.beta) == pytest.approx((2.0, 5.0))
    w = 0.5 ** (2 / 24)
    p = success_posterior(hours, 24, memory=0, change_at=1)
    assert (p.alpha, p.beta) == pytest.approx((1 + 2 * w, 1 + 8 * w))


def test_only_a_drop_in_success_uses_the_incident_half_life():
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)

    def rows(before, after):
        # 40 hours at ``before`` then 6 at ``after``, 100 requests an hour, ending 2 h ago.
        out = []
        for i in range(46):
            start = now - timedelta(hours=48 - i)
            s = before if i < 40 else after
            out.append(HourRow(start, "m", "", 100, s, 100.0, 1.0, start))
        return out

    plain = EstimatorSettings(memory=0)
    fast = EstimatorSettings(memory=0, incident_half_life_hours=1)
    drop = rows(95, 30)
    assert estimate_models(drop, None, now, plain)["m"].change_at is not None
    # After a drop the incident's hours fade: far fewer pseudo-requests remain.
    assert (
        estimate_models(drop, None, now, fast)["m"].posterior.strength
        < estimate_models(drop, None, now, plain)["m"].posterior.strength / 5
    )
    rise = rows(30, 95)
    assert estimate_models(rise, None, now, fast)["m"].posterior == (
        estimate_models(rise, None, now, plain)["m"].posterior
    )


def test_the_incident_half_life_shrinks_with_the_square_root_of_traffic():
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)

    def rows(per_hour, hours=48, task="", others=0):
        # ``hours`` hours at 95 % then 6 at 30 %, the newest the hour before now; ``others``
        # requests an hour of another task beside them, always successful.
        out = []
        for i in range(hours):
            start = now - timedelta(hours=hours - i)
            s = round(per_hour * (0.95 if i < hours - 6 else 0.3))
            out.append(HourRow(start, "m", task, per_hour, s, 1.0, 1.0, start))
            if others:
                out.append(HourRow(start, "m", "other", others, others, 1.0, 1.0, start))
        return out

    def strength(data, task=None, **kw):
        settings = EstimatorSettings(memory=0, **{"success_half_life_hours": None, **kw})
        return estimate_models(data, task, now, settings)["m"].posterior.strength

    # The 23 hours that started in the last day hold 23 * 600 requests: 600 an hour, so a
    # half-life of sqrt(600 / 600) = 1 h. The prior's 2, then the six hours from the drop on
    # (ages 0.5 .. 5.5 h: an hour's age is to its middle) at that half-life.
    expected = 2 + sum(600 * 0.5 ** (a + 0.5) for a in range(6))
    assert strength(rows(600), incident_request_hours=600) == pytest.approx(expected)
    # At 6 an hour: sqrt(600 / 6) = 10 h, the same as a fixed 10-hour incident half-life.
    assert strength(rows(6), incident_request_hours=600) == pytest.approx(
        strength(rows(6), incident_half_life_hours=10)
    )
    # Nine hours of rows, younger than a day: the rate is over those nine hours (150 an hour
    # over 9 hours: sqrt(600 / 150) = 2 h), not over 24.
    assert strength(rows(150, hours=9), incident_request_hours=600) == pytest.approx(
        strength(rows(150, hours=9), incident_half_life_hours=2)
    )
    # Never slower than the success half-life (here 1.5 h against sqrt(600 / 6) = 10 h).
    assert strength(
        rows(6), incident_request_hours=600, success_half_life_hours=1.5
    ) == pytest.approx(strength(rows(6), incident_half_life_hours=1.5, success_half_life_hours=1.5))
    # A task's incident fades at its own traffic's pace (6 an hour: 10 h), not at the
    # deployment's (600 + 594 an hour).
    busy = rows(6, task="code", others=594)
    assert strength(busy, task="code", incident_request_hours=600) == pytest.approx(
        strength(busy, task="code", incident_half_life_hours=10)
    )
    # An explicit half-life wins over the traffic-scaled one.
    assert strength(rows(600), incident_request_hours=600, incident_half_life_hours=4) == (
        pytest.approx(strength(rows(600), incident_half_life_hours=4))
    )


def test_success_posterior_of_a_task_is_shrunk_toward_its_models_rate():
    # No task rows: the prior alone, 5 pseudo-requests at the model's 0.9.
    p = success_posterior([], 24, memory=50, prior_mean=0.9, prior_strength=5)
    assert (p.alpha, p.beta) == pytest.approx((4.5, 0.5))
    assert p.mean == pytest.approx(0.9)


# Three hours, 100 requests each, at ages 0.5, 1.5 and 2.5 h, succeeding 70, 80 and 90 times:
# the rate fell 0.1 an hour. Unweighted (no half-life): mean age 1.5, level 0.8, spread
# 100 (1 + 0 + 1) = 200, slope (100 (-1)(-0.1) + 100 (1)(0.1)) / 200 = 0.1 per hour of age,
# slope variance 0.8 x 0.2 x 200 / 200^2 = 0.0008 (sd 0.0283, z 3.54).
FALLING = [hour(2.5, 100, 90), hour(1.5, 100, 80), hour(0.5, 100, 70)]


def test_the_success_trend_is_the_weighted_line_through_the_hourly_rates():
    trend = success_trend(FALLING, None)
    assert (trend.level, trend.mean_age, trend.slope) == pytest.approx((0.8, 1.5, 0.1))
    assert trend.slope_variance == pytest.approx(0.0008)
    assert trend.z == pytest.approx(0.1 / math.sqrt(0.0008))
    assert success_trend(FALLING[:2], None) is None  # two hours: no spread to fit a line


def test_a_significant_drift_moves_the_posterior_to_now_and_widens_it():
    # Posterior Beta(1 + 240, 1 + 60): strength 302, the recent counts 300 of it. The mean
    # moves by -(300/302) x 0.1 x 1.5 = -45/302, to 196/302 (the fitted rate now is 0.65).
    before = success_posterior(FALLING, None, memory=0)
    assert (before.alpha, before.beta) == (241, 61)
    after = trend_corrected(before, FALLING, None, z=3)
    assert after.mean == pytest.approx(196 / 302)
    variance = 241 * 61 / (302**2 * 303) + (300 / 302 * 1.5) ** 2 * 0.0008
    mean = 196 / 302
    assert after.strength == pytest.approx(mean * (1 - mean) / variance - 1)
    assert after.sd == pytest.approx(math.sqrt(variance), rel=1e-6)


def test_a_drift_below_the_z_threshold_or_a_steady_rate_leaves_the_posterior_alone():
    before = success_posterior(FALLING, None, memory=0)
    assert trend_corrected(before, FALLING, None, z=4) == before  # z 3.54 < 4
    steady = [hour(2.5, 100, 80), hour(1.5, 100, 80), hour(0.5, 100, 80)]
    flat = success_posterior(steady, None, memory=0)
    assert trend_corrected(flat, steady, None, z=0.5) == flat


def test_a_burst_of_failures_is_not_taken_for_a_drift():
    # 270 of 300, then 6 of 15, then 9 of 10: the line through them (slope 0.098 an hour,
    # z 3.5) misses the middle and last hours by 0.3; the residuals' chi-square, about 21,
    # is far above the 3 + 3 sqrt(6) = 10.3 a line's binomial noise allows.
    burst = [hour(3.5, 300, 270), hour(1.5, 15, 6), hour(0.5, 10, 9)]
    trend = success_trend(burst, None)
    assert trend.z > 3 and not trend.is_line
    assert trend.misfit == pytest.approx(20.7, abs=0.5)
    posterior = success_posterior(burst, None, memory=0)
    assert trend_corrected(posterior, burst, None, z=3) == posterior
    assert success_trend(FALLING, None).is_line  # exactly on a line: misfit 0


def test_estimates_follow_a_drift_only_when_the_trend_correction_is_on():
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    rows = [  # the hours starting 3, 2 and 1 h ago: ages 2.5, 1.5 and 0.5 h, as FALLING
        HourRow(now - timedelta(hours=h), "m", "", 100, s, 10.0, 0.1, now)
        for h, s in ((3, 90), (2, 80), (1, 70))
    ]
    plain = EstimatorSettings(success_half_life_hours=None, memory=0, change_delta=None)
    drift = EstimatorSettings(success_half_life_hours=None, memory=0, change_delta=None, trend_z=3)
    assert estimate_models(rows, None, now, plain)["m"].posterior.mean == pytest.approx(241 / 302)
    assert estimate_models(rows, None, now, drift)["m"].posterior.mean == pytest.approx(196 / 302)


def test_beta_posterior_mean_sd_and_interval():
    p = BetaPosterior(9, 1)
    assert p.mean == pytest.approx(0.9)
    assert p.sd == pytest.approx(math.sqrt(9 / (100 * 11)))
    low, high = p.interval()
    assert low == pytest.approx(0.9 - 1.645 * p.sd)
    assert high == 1.0  # clipped


def test_weighted_means_weigh_hours_by_requests_and_age():
    # weights 1 and 0.5: requests 2 + 1 = 3; cost (0.2 + 0.2) / 3; latency (1 + 1) / 3.
    means = weighted_means([hour(0, 2, 2, 1.0, 0.2), hour(3, 2, 2, 2.0, 0.4)], 3)
    assert means == pytest.approx((0.4 / 3, 2 / 3))
    assert weighted_means([], 3) is None


def test_shrink_mixes_pseudo_requests_at_the_general_mean():
    assert shrink(0.9, 5, 0.5, 5) == pytest.approx(0.7)


def test_kl_bernoulli_hand_computed():
    assert kl_bernoulli(0.5, 0.25) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))
    assert kl_bernoulli(1.0, 0.5) == pytest.approx(math.log(2))
    assert kl_bernoulli(0.3, 0.3) == 0.0


def test_glr_split_finds_the_hour_the_rate_changed():
    k, stat = glr_split([(10, 10), (10, 0)])
    assert k == 1
    assert stat == pytest.approx(20 * math.log(2))
    assert threshold(20) == pytest.approx(math.log(3 * 20**1.5 / 0.05))
    assert latest_change([(10, 10), (10, 0)]) == 1


def test_latest_change_ignores_noise_of_a_steady_rate():
    assert latest_change([(10, 9), (10, 9), (10, 8), (10, 9)]) == 0
    assert latest_change([]) == 0


def test_latest_change_finds_the_last_of_two_changes():
    # Split 1 of [20/20, 0/20, 20/20]: 20 kl(1, 2/3) + 40 kl(1/2, 2/3) = 10.47 > ln(3*60^1.5/0.05)
    # = 10.24; then [0/20, 20/20] splits at its first hour: the latest change is at hour 2.
    assert latest_change([(20, 20), (20, 0), (20, 20)]) == 2


def test_a_cooldown_counts_as_a_drop_from_the_hour_it_tripped_in():
    # 48 hours at 90 %, then in the current hour a burst of 5 failures too small for the
    # change test (GLR 11.5 against a threshold of 16.8) but enough for a cooldown.
    now = datetime(2026, 6, 1, 12, 30, tzinfo=UTC)
    rows = [  # the hours starting 3, 2 and 1 h ago: ages 2.5, 1.5 and 0.5 h, as FALLING
        HourRow(now - timedelta(hours=48 - i, minutes=30), "m", "", 100, 90, 1.0, 1.0, now)
        for i in range(48)
    ]
    rows.append(HourRow(now - timedelta(minutes=30), "m", "", 5, 0, 1.0, 1.0, now))
    settings = EstimatorSettings(memory=50, success_half_life_hours=None)
    unaware = estimate_models(rows, None, now, settings)["m"]
    assert unaware.change_at is None
    # 4320 successes and 485 failures on Beta(1, 1)
    assert unaware.posterior.mean == pytest.approx(4321 / 4807)
    tripped = estimate_models(rows, None, now, settings, {"m": now - timedelta(minutes=5)})["m"]
    assert tripped.change_at == now - timedelta(minutes=30)
    # The 48 hours before count in the long memory only: 50 pseudo-requests at 90 %; the
    # five failures since count in full (no half-life): Beta(1 + 45, 1 + 5 + 5).
    assert (tripped.posterior.alpha, tripped.posterior.beta) == pytest.approx((46, 11))
    # A trip the hours since do not show as a drop (they succeed as often) is ignored.
    rows[-1] = HourRow(now - timedelta(minutes=30), "m", "", 10, 10, 1.0, 1.0, now)
    healthy = estimate_models(rows, None, now, settings, {"m": now - timedelta(minutes=5)})
    assert healthy["m"].change_at is None
