"""examples/openai_routing.py end to end: the OpenAI SDK routed by a live Aurea, no internet."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

import pytest
import sqlalchemy as sa

from aurea.client import AureaClient
from aurea.storage.extensions import db
from aurea.storage.models import RequestMetric
from examples.openai_routing import PRICES, call_cost, parse_args
from tests.support.server import ROOT

pytestmark = pytest.mark.slow

CALLS = 6


def run_example(*args: str, env: dict[str, str] | None = None) -> list[dict]:
    completed = subprocess.run(
        [sys.executable, "-m", "examples.openai_routing", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return [json.loads(line) for line in completed.stdout.splitlines()]


def test_every_routed_call_is_recorded_with_its_computed_cost(live_aurea):
    calls = run_example(
        "--aurea-url", live_aurea.base_url,
        "--token", live_aurea.tokens["admin"],
        "--calls", str(CALLS),
        "--task", "example-chat",
    )  # fmt: skip

    assert len(calls) == CALLS
    costs_by_model: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        assert call["model"] in PRICES  # routed to a registered model
        assert call["answer"] == f"({call['model']}) Hello!"
        expected = call_cost(call["model"], call["prompt_tokens"], call["completion_tokens"])
        assert call["cost"] == pytest.approx(expected) and expected > 0
        costs_by_model[call["model"]].append(call["cost"])

    reader = AureaClient(live_aurea.base_url, token=live_aurea.tokens["reader"])
    metrics = reader.metrics(task="example-chat", window="1h")
    assert sum(entry["total_requests"] for entry in metrics.values()) == CALLS
    for model, costs in costs_by_model.items():
        assert metrics[model]["total_requests"] == len(costs)
        assert metrics[model]["success_rate"] == 1.0
        assert metrics[model]["average_cost"] == pytest.approx(sum(costs) / len(costs))

    with live_aurea.app.app_context():
        stored = dict(
            db.session.execute(
                sa.select(RequestMetric.request_id, RequestMetric.cost).where(
                    RequestMetric.task == "example-chat"
                )
            ).all()
        )
        db.session.remove()
    assert stored == pytest.approx({call["request_id"]: call["cost"] for call in calls})


def test_the_aurea_url_and_token_may_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("AUREA_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("AUREA_TOKEN", "aurea_from-env")
    args = parse_args([])
    assert (args.aurea_url, args.token) == ("http://127.0.0.1:9999", "aurea_from-env")
    assert parse_args(["--aurea-url", "http://127.0.0.1:1"]).aurea_url == "http://127.0.0.1:1"
