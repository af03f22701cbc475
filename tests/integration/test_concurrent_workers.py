"""Several gunicorn workers recording at once lose nothing and agree on the totals."""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.server import gunicorn_server

pytestmark = pytest.mark.slow

CLIENTS = 16
RECORDS = 2000
WORKERS = 4
MODELS = ["gpt-4", "gpt-3.5-turbo", "claude-3-opus", "brand-new-model"]


def planned_record(i: int) -> dict:
    return {
        "model": MODELS[i % len(MODELS)],
        "latency": 0.1 + (i % 7) / 10,
        "cost": 0.001 * (1 + i % 5),
        "success": i % 3 != 0,
    }


def send_share(base_url: str, client_index: int) -> list[int]:
    statuses = []
    with requests.Session() as session:
        for i in range(client_index, RECORDS, CLIENTS):
            response = session.post(f"{base_url}/router/record", json=planned_record(i), timeout=30)
            statuses.append(response.status_code)
    return statuses


def probe_metrics(base_url: str, probe: int) -> tuple[int, dict]:
    # A new connection per probe, so the probes spread over the workers.
    response = requests.get(
        f"{base_url}/router/metrics",
        headers={"Connection": "close", "X-Probe": str(probe)},
        timeout=30,
    )
    assert response.status_code == 200
    return probe, response.json()


def test_concurrent_records_on_four_workers_are_all_counted_by_every_worker(
    app, database_url, tmp_path
):
    access_log = tmp_path / "access.log"
    expected = Counter()
    expected_successes = Counter()
    for i in range(RECORDS):
        row = planned_record(i)
        expected[row["model"]] += 1
        expected_successes[row["model"]] += row["success"]

    with gunicorn_server(
        database_url,
        workers=WORKERS,
        log_dir=tmp_path,
        extra_args=[
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            "%(p)s probe=%({x-probe}i)s",
        ],
    ) as base_url:
        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = [
                s
                for share in pool.map(lambda c: send_share(base_url, c), range(CLIENTS))
                for s in share
            ]
        assert Counter(statuses) == {200: RECORDS}

        with ThreadPoolExecutor(CLIENTS) as pool:
            probes = dict(pool.map(lambda p: probe_metrics(base_url, p), range(64)))

    pid_of_probe = {
        int(m.group(2)): m.group(1)
        for m in re.finditer(r"^<(\d+)> probe=(\d+)$", access_log.read_text(), re.MULTILINE)
    }
    assert len(set(pid_of_probe.values())) >= 2, "metrics probes should reach several workers"
    for probe, metrics in probes.items():
        for model in MODELS:
            assert metrics[model]["total_requests"] == expected[model], (probe, model)
            assert metrics[model]["success_rate"] == pytest.approx(
                expected_successes[model] / expected[model]
            )
