"""`flask aurea optimize` for the weekly cron job."""

import pytest

from aurea.app_context import service_context
from aurea.services.weights import current_weights


def seed_two_models(record):
    record("gpt-4", 1.0, 0.01, True)
    record("gpt-3.5-turbo", 1.0, 0.03, False)
    record("gpt-3.5-turbo", 1.0, 0.03, True)


def test_optimize_command_prints_old_and_new_weights_and_saves_them(app, runner, record):
    seed_two_models(record)
    result = runner.invoke(args=["aurea", "optimize"])
    assert result.exit_code == 0, result.output
    assert "old:       cost=0.3300 quality=0.3400 latency=0.3300" in result.output
    assert "new:       cost=0.5200 quality=0.3800 latency=0.1000" in result.output
    assert "proportion" in result.output
    with app.app_context():
        weights = current_weights(service_context())
    assert weights.source == "optimize"
    assert weights.weights.cost == pytest.approx(0.52)


def test_optimize_command_dry_run_changes_nothing(app, runner, record):
    seed_two_models(record)
    result = runner.invoke(args=["aurea", "optimize", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "status:    proposed" in result.output
    assert "new:       cost=0.5200" in result.output
    assert "nothing was changed" in result.output
    with app.app_context():
        assert current_weights(service_context()).source == "default"


def test_optimize_command_explains_when_weights_stay(app, runner):
    result = runner.invoke(args=["aurea", "optimize"])
    assert result.exit_code == 0, result.output
    assert "status:    unchanged" in result.output
    assert "fewer than two models" in result.output


def test_optimize_command_on_unchanged_data_saves_no_new_row(app, runner, record):
    seed_two_models(record)
    assert "saved as weight_history row" in runner.invoke(args=["aurea", "optimize"]).output
    with app.app_context():
        saved = current_weights(service_context()).id
    result = runner.invoke(args=["aurea", "optimize"])
    assert result.exit_code == 0, result.output
    assert "status:    unchanged" in result.output
    assert "already match" in result.output
    assert "saved as" not in result.output
    with app.app_context():
        assert current_weights(service_context()).id == saved
