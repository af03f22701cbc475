"""Scenario truth over time, the baseline policies and the recovery measure (pure)."""

import argparse
import pickle
from datetime import UTC, datetime, timedelta

import pytest

from aurea.simulation.policies import LatencyPolicy, Outcome, SeedPolicy
from aurea.simulation.report import incident_shares, recovery
from aurea.simulation.runner import Request
from aurea.simulation.scenario import parse_scenario
from aurea.simulation.table import _policies, markdown, summarize

START = datetime(2026, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)


def scenario(**extra):
    data = {
        "hours": 10,
        "requests_per_hour": 2,
        "utility": {"cost": 10, "latency": 0.1},
        "models": {
            "a": {"latency_median": 1.0, "latency_sigma": 0.0, "cost": 0.01, "success": 0.9},
            "b": {"latency_median": 0.5, "latency_sigma": 0.0, "cost": 0.01, "success": 0.8},
            "c": {"latency_median": 0.5, "latency_sigma": 0.0, "cost": 0.0, "success": 1.0,
                  "from_hours": 6},
        },
        "changes": [
            {"model": "a", "at_hours": 2, "until_hours": 4, "success": 0.1, "incident": True}
        ],
    }  # fmt: skip
    return parse_scenario({**data, **extra})


def test_changes_apply_only_inside_their_window_and_mark_incidents():
    s = scenario()
    assert [s.truth("a", h * H).success for h in (1, 2, 3, 4)] == [0.9, 0.1, 0.1, 0.9]
    assert [s.failing("a", h * H) for h in (1, 2, 4)] == [False, True, False]
    assert s.expected_utility("a", None, H) == pytest.approx(0.9 - 0.1 - 0.1)


def test_new_models_are_available_from_their_hour_and_count_as_change_points():
    s = scenario()
    assert s.available(5 * H) == ["a", "b"]
    assert s.available(6 * H) == ["a", "b", "c"]
    assert [at / H for at, _ in s.change_points()] == [2, 4, 6]


def test_unknown_fields_are_refused():
    with pytest.raises(ValueError, match="unknown field"):
        scenario(changes=[{"model": "a", "at_hours": 1, "succes": 0.5}])


def test_seed_policy_scores_untried_models_at_one_half():
    policy = SeedPolicy()
    assert policy.choose(START, None, ["b", "a"]) == "a"  # all untried: 0.5 each, by name
    # b: dearer, slower and failing, so it scores 0 against c; untried a's 0.5 beats it.
    policy.observe([Outcome("b", None, 1.0, 1.0, False, START)], START)
    policy.observe([Outcome("c", None, 0.1, 0.0, True, START)], START)
    assert policy.choose(START, None, ["a", "b", "c"]) == "c"
    policy.observe([Outcome("c", None, 2.0, 2.0, False, START)] * 3, START)
    assert policy.choose(START, None, ["a", "b", "c"]) == "a"


def test_latency_policy_tries_untried_models_first_then_averages_the_last_ten():
    policy = LatencyPolicy()
    assert policy.choose(START, None, ["a", "b"]) == "a"
    policy.observe([Outcome("a", None, 5.0, 0, True, START)], START)
    assert policy.choose(START, None, ["a", "b"]) == "b"
    policy.observe([Outcome("b", None, 9.0, 0, True, START)] * 3, START)
    policy.observe([Outcome("b", None, 1.0, 0, True, START)] * 10, START)
    assert policy.choose(START, None, ["a", "b"]) == "b"  # only the last 10 count


def test_recovery_counts_hours_until_the_best_share_stays_above_half():
    s = scenario(changes=[])  # one change point: c appears at hour 6
    requests = [
        Request(i, START + h * H, h * H, None, 0, 0, {"a": 1.0, "b": 0.0}, 1.0)
        for i, h in enumerate(x / 2 for x in range(20))
    ]
    # Best (a) is chosen from hour 7 on; before it, b.
    chosen = ["a" if r.elapsed >= 7 * H else "b" for r in requests]
    assert recovery(s, requests, chosen) == [{"change": "c appears", "at_hours": 6, "hours": 1}]
    assert recovery(s, requests, ["b"] * 20)[0]["hours"] is None


def test_incident_shares_count_each_incident_window_on_its_own():
    s = scenario(
        changes=[
            {"model": "a", "at_hours": 2, "until_hours": 4, "success": 0.1, "incident": True,
             "label": "a down"},
            {"model": "b", "at_hours": 5, "success": 0.5, "label": "b worse"},
            {"model": "b", "at_hours": 8, "until_hours": 9, "success": 0.0, "incident": True},
            {"model": "c", "at_hours": 4, "until_hours": 7, "success": 0.0, "incident": True},
        ]
    )  # fmt: skip
    requests = [
        Request(i, START + h * H, h * H, None, 0, 0, dict.fromkeys(s.available(h * H), 0.0), 0.0)
        for i, h in enumerate(x / 2 for x in range(20))
    ]
    # Inside a's window (hours 2 to 4: four requests) a serves one; inside b's (hour 8 to 9:
    # two requests) b serves both. The change that is not an incident is not counted. c's
    # window starts at hour 4, but c is there only from hour 6: of its two requests, c gets one.
    chosen = ["a" if r.elapsed == 3.5 * H else "c" if r.elapsed == 6 * H else "b" for r in requests]
    assert incident_shares(s, requests, chosen) == [
        {"change": "a down", "share": 0.25},
        {"change": "b incident", "share": 1.0},
        {"change": "c incident", "share": 0.5},
    ]


def test_the_table_shows_the_median_share_of_each_incident_over_the_seeds():
    def report(seed, shares):
        policy = {
            "cumulative_regret": 1.0,
            "incident_share": 0.1,
            "incident_shares": [{"change": "x down", "share": v} for v in shares],
            "recovery": [],
            "mean_utility": 1.0,
            "requests": 10,
        }
        return {"scenario": "s", "seed": seed, "policies": {"aurea": policy, "oracle": policy,
                                                           "latency": policy}}  # fmt: skip

    summary = summarize([report(1, [0.1]), report(2, [0.3]), report(3, [0.2])])
    assert summary["s"]["policies"]["aurea"]["incident_shares"] == [
        {"change": "x down", "share": 0.2}
    ]
    assert "| 0.100 | 0.200 |" in markdown(summary)


def test_the_table_gives_the_ratio_of_the_means_beside_the_ratio_of_the_medians():
    def report(seed, aurea_regret):
        def policy(regret):
            return {
                "cumulative_regret": regret,
                "incident_share": None,
                "incident_shares": [],
                "recovery": [],
                "mean_utility": 1.0,
                "requests": 10,
            }

        policies = {"aurea": policy(aurea_regret), "oracle": policy(0.0), "latency": policy(10.0)}
        return {"scenario": "s", "seed": seed, "policies": policies}

    # Aurea's regrets 2, 3 and 40: median 3 (ratio 0.30), mean 15 (ratio 1.50): one bad seed.
    summary = summarize([report(1, 2.0), report(2, 3.0), report(3, 40.0)])
    assert summary["s"]["policies"]["aurea"]["mean_regret"] == 15.0
    assert "| s | 3.0 | 10.0 | 0.30 | 1.50 | - |" in markdown(summary)


def test_the_table_runs_the_policies_asked_for_with_the_oracle_and_aurea():
    assert _policies("latency,seed") == ("oracle", "aurea", "latency", "seed")
    with pytest.raises(argparse.ArgumentTypeError):
        _policies("latency,nonsense")


def test_the_table_without_a_baseline_shows_no_ratio():
    policy = {
        "cumulative_regret": 2.0,
        "incident_share": None,
        "incident_shares": [],
        "recovery": [],
        "mean_utility": 1.0,
        "requests": 10,
    }
    report = {"scenario": "s", "seed": 1, "policies": {"aurea": policy, "oracle": policy}}
    assert "| s | 2.0 | - | - | - |" in markdown(summarize([report]))


def test_a_failing_run_names_its_scenario_seed_and_the_refusal(monkeypatch):
    from aurea.services.selection import NoModelQualifies
    from aurea.simulation import runner, table

    def refuse(*_args, **_kwargs):
        raise NoModelQualifies("No model satisfies the constraints.", {"candidates": {"a": "x"}})

    monkeypatch.setattr(runner, "simulate", refuse)
    with pytest.raises(table.RunFailed) as failed:
        table.run_one(("steady", 7, ("oracle", "aurea")))
    message = str(failed.value)
    assert message.startswith("steady seed 7: NoModelQualifies: No model satisfies")
    assert "'a': 'x'" in message
    # the process pool pickles it back to the parent
    assert str(pickle.loads(pickle.dumps(failed.value))) == message
