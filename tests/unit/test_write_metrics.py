"""Write metrics are created on first use and never fail a write."""

import logging
import os
import subprocess
import sys
from pathlib import Path

from aurea import write_metrics

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, multiproc_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_importing_aurea_opens_no_metrics_file_and_needs_no_metrics_directory(tmp_path):
    existing = tmp_path / "metrics"
    existing.mkdir()
    assert run_python("import aurea, aurea.database", existing).returncode == 0
    assert list(existing.iterdir()) == []  # e.g. the optimize cron job leaves nothing behind
    missing = tmp_path / "removed"
    done = run_python("import aurea, aurea.database", missing)
    assert done.returncode == 0, done.stderr


def test_the_first_observation_writes_the_metrics_file(tmp_path):
    done = run_python("from aurea.write_metrics import observe_group; observe_group(3)", tmp_path)
    assert done.returncode == 0, done.stderr
    assert [p.name.split("_")[0] for p in tmp_path.iterdir()] == ["histogram"]


def test_a_failing_metric_is_logged_once_and_never_raises(monkeypatch, caplog):
    def broken(*_args, **_kwargs):
        raise FileNotFoundError("the metrics directory is gone")

    monkeypatch.setattr(write_metrics, "_created", {})
    monkeypatch.setattr(write_metrics, "_failed", False)
    monkeypatch.setattr(write_metrics, "Histogram", broken)
    with caplog.at_level(logging.WARNING, logger="aurea.write_metrics"):
        write_metrics.observe_commit(0.001)
        write_metrics.observe_group(2)
    warnings = [r for r in caplog.records if r.name == "aurea.write_metrics"]
    assert len(warnings) == 1 and "directory is gone" in warnings[0].getMessage()
