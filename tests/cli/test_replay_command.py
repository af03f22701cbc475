"""`flask aurea replay`: the deployment's own calls replayed through each policy."""

import json
from datetime import timedelta

import sqlalchemy as sa

from aurea.storage.extensions import db
from aurea.storage.models import RequestMetric


def log_week(clock, record, hours: int = 12) -> int:
    """Two models over ``hours``: gpt-4 good and slow, cheap-model fast and failing."""
    start = clock.current
    count = 0
    for h in range(hours):
        for i in range(6):
            clock.current = start + timedelta(hours=h, minutes=10 * i)
            if i % 2:
                record("cheap-model", 0.2, 0.0001, success=i % 3 == 0)
            else:
                record("gpt-4", 1.5, 0.01, success=True)
            count += 1
    clock.current = start + timedelta(hours=hours)
    return count


def run(runner, *args):
    result = runner.invoke(args=["aurea", "replay", *args])
    return result


def test_replay_estimates_each_policy_on_the_logged_calls(app, runner, clock, record):
    calls = log_week(clock, record)
    result = run(runner, "--json", "--hours", "24")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["calls"] == calls
    by_name = {p["policy"]: p for p in out["policies"]}
    assert list(by_name) == ["logged", "aurea", "seed", "latency", "random"]
    assert by_name["logged"]["accepted"] == calls
    # The logged half on gpt-4 earns 0.1 - 0.01 - 0.005 x 1.5 = 0.0825 per call; the
    # cheap model's successes (i = 3) 0.1 - 0.0001 - 0.001, its failures -0.0011.
    logged = (36 * 0.0825 + 12 * 0.0989 + 24 * -0.0011) / calls
    assert abs(by_name["logged"]["mean_utility_usd"] - logged) < 1e-5
    for name in ("aurea", "seed", "latency", "random"):
        assert 0 < by_name[name]["accepted"] <= calls
    # The latency rule keeps to the fast model, which fails two thirds of its calls here;
    # Aurea learns that gpt-4 earns more.
    assert by_name["aurea"]["mean_utility_usd"] > by_name["latency"]["mean_utility_usd"]


def test_replay_adds_the_changed_policy_when_given_settings(app, runner, clock, record):
    log_week(clock, record, hours=4)
    result = run(runner, "--json", "--set", "AUREA_SUCCESS_VALUE=0.001")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    names = [p["policy"] for p in out["policies"]]
    assert names == ["logged", "aurea", "aurea-changed", "seed", "latency", "random"]
    assert out["settings"] == {"AUREA_SUCCESS_VALUE": 0.001}
    changed = next(p for p in out["policies"] if p["policy"] == "aurea-changed")
    # A success worth a tenth of a cent: the cheap model wins, and is the one accepted.
    assert changed["mean_utility_usd"] is not None


def test_replay_prints_a_table_and_only_reads_the_database(app, runner, clock, record):
    calls = log_week(clock, record, hours=2)
    result = run(runner)
    assert result.exit_code == 0, result.output
    assert f"{calls} calls from" in result.output
    assert "aurea" in result.output and "latency" in result.output
    with app.app_context():
        rows = db.session.scalar(sa.select(sa.func.count()).select_from(RequestMetric))
    assert rows == calls


def test_replay_without_logged_calls_says_so(app, runner, clock):
    result = run(runner)
    assert result.exit_code != 0
    assert "no calls logged in the last 168 hours" in result.output


def test_replay_refuses_a_bad_setting(app, runner, clock, record):
    log_week(clock, record, hours=1)
    result = run(runner, "--set", "AUREA_EXPLORATION=7")
    assert result.exit_code != 0
    assert "AUREA_EXPLORATION" in result.output
    assert run(runner, "--set", "nonsense").exit_code != 0
