"""Under gunicorn with several workers: metrics add up over the workers, logs are JSON lines."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import gunicorn_server

pytestmark = pytest.mark.slow

WORKERS = 3
CLIENTS = 8
RECORDS = 60
MODEL = "multiprocess-model"
SECRET = "Bearer multiprocess-s3cr3t"
# gunicorn's error log format: "[time] [pid] [LEVEL] message"; the message is the JSON.
JSON_LINE = re.compile(r"^\[[^\]]+\] \[(\d+)\] \[INFO\] (\{.*\})$", re.MULTILINE)


def succeeded(i: int) -> bool:
    return i % 4 != 0


def send_record(base_url: str, i: int) -> int:
    # A new connection per request, so that the records spread over the workers.
    response = requests.post(
        f"{base_url}/router/record",
        json={"model": MODEL, "latency": 0.1 + i / 100, "cost": 0.001, "success": succeeded(i)},
        headers={"Connection": "close", "Authorization": SECRET},
        timeout=30,
    )
    return response.status_code


def scrape(base_url: str) -> dict[tuple[str, frozenset], float]:
    response = requests.get(f"{base_url}/metrics", headers={"Connection": "close"}, timeout=30)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(samples, name: str, **labels) -> float:
    return samples[(name, frozenset(labels.items()))]


def request_lines(log_path: Path) -> list[tuple[str, dict]]:
    return [(pid, json.loads(line)) for pid, line in JSON_LINE.findall(log_path.read_text())]


def workers_that_answered(log_path: Path, path: str) -> set[str]:
    return {pid for pid, line in request_lines(log_path) if line["path"] == path}


def test_records_total_sums_over_workers_whichever_worker_answers_the_scrape(
    app, database_url, tmp_path
):
    log_path = tmp_path / "gunicorn.log"
    successes = sum(succeeded(i) for i in range(RECORDS))

    with gunicorn_server(
        database_url, workers=WORKERS, log_dir=tmp_path, env={"AUREA_ACCESS_LOG": "off"}
    ) as base_url:
        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = list(pool.map(lambda i: send_record(base_url, i), range(RECORDS)))
        assert statuses == [200] * RECORDS

        scrapes = []
        with ThreadPoolExecutor(CLIENTS) as pool:
            # Scrape in concurrent bursts until at least two workers have answered.
            for _ in range(20):
                scrapes += pool.map(lambda _: scrape(base_url), range(CLIENTS))
                if len(workers_that_answered(log_path, "/metrics")) >= 2:
                    break
        assert requests.get(f"{base_url}/readyz", timeout=10).json()["status"] == "ok"

    assert len(workers_that_answered(log_path, "/router/record")) >= 2, "records hit one worker"
    assert len(workers_that_answered(log_path, "/metrics")) >= 2, "scrapes hit one worker"
    for samples in scrapes:
        assert sample(samples, "aurea_records_total", model=MODEL, outcome="success") == successes
        assert sample(samples, "aurea_records_total", model=MODEL, outcome="failure") == (
            RECORDS - successes
        )
        assert RECORDS == sample(
            samples,
            "aurea_http_requests_total",
            endpoint="/router/record",
            method="POST",
            status="200",
        )
        assert sample(samples, "aurea_weight", criterion="quality") == 0.34


def test_under_gunicorn_requests_are_logged_as_json_in_the_error_log_not_the_access_log(
    app, database_url, tmp_path
):
    log_path = tmp_path / "gunicorn.log"
    with gunicorn_server(
        database_url, workers=2, log_dir=tmp_path, env={"AUREA_ACCESS_LOG": "off"}
    ) as base_url:
        assert send_record(base_url, 1) == 200

    log = log_path.read_text()
    [(pid, line)] = [entry for entry in request_lines(log_path) if entry[1]["method"] == "POST"]
    assert line == {
        "method": "POST",
        "path": "/router/record",
        "status": 200,
        "duration_ms": line["duration_ms"],
        "remote_addr": "127.0.0.1",
        "actor": None,
    }
    assert "HTTP/1.1" not in log, "the access log is off"
    assert "s3cr3t" not in log
    assert MODEL not in log
