"""Three independent app hosts (gunicorn masters on their own ports) on one PostgreSQL schema:
records sent to all three at once, with request ids repeated across hosts, are each stored
once, and every host gives the same selection within the read cache's TTL."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
import requests
import sqlalchemy as sa

from tests.support.server import gunicorn_process

pytestmark = pytest.mark.slow

HOSTS = 3
IDS = 150  # each sent to every host
PLAIN = 60  # per host, without a request id
CACHE_SECONDS = 1.0
MODELS = ["gpt-4", "claude-3-opus", "scale-out-new-model"]


def record(i: int, request_id: str | None = None) -> dict:
    body = {
        "model": MODELS[i % len(MODELS)],
        "latency": 0.2 + (i % 11) / 10,
        "cost": 0.001 * (1 + i % 4),
        "success": i % 6 != 0,
    }
    return body if request_id is None else {**body, "request_id": request_id}


def send(base_url: str, host: int) -> list[tuple[str | None, str]]:
    """Every shared id (from an offset of this host's, so copies collide) and PLAIN records,
    half one at a time, half in batches of 10; returns (request id, status) per record."""
    sent = []
    with requests.Session() as session:
        shared = [(n + host * 37) % IDS for n in range(IDS)]
        singles = [record(i, f"shared-{i}") for i in shared[: IDS // 2]]
        singles += [record(1000 * host + n) for n in range(PLAIN // 2)]
        for body in singles:
            response = session.post(f"{base_url}/router/record", json=body, timeout=30)
            assert response.status_code == 200, response.text
            sent.append((body.get("request_id"), response.json()["status"]))
        batched = [record(i, f"shared-{i}") for i in shared[IDS // 2 :]]
        batched += [record(1000 * host + PLAIN + n) for n in range(PLAIN // 2)]
        for start in range(0, len(batched), 10):
            items = batched[start : start + 10]
            response = session.post(f"{base_url}/router/records", json={"records": items})
            assert response.status_code == 200, response.text
            results = response.json()["results"]
            sent += [
                (b.get("request_id"), r["status"]) for b, r in zip(items, results, strict=True)
            ]
    return sent


def rounded(value):
    """``value`` with every float to 12 significant digits: hosts add the same hourly rows,
    but not always in the same order, so sums may differ in their last bits."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def selections(bases: list[str]) -> list[dict]:
    return [requests.get(f"{b}/router/select", timeout=30).json() for b in bases]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_three_hosts_on_one_database_lose_and_double_nothing_and_agree(app, database_url, tmp_path):
    # Utility mode draws its selection (Thompson sampling): with one seed, every worker's first
    # draw from the same data is the same, so hosts that read the same rows answer the same.
    env = {"AUREA_CACHE_SECONDS": str(CACHE_SECONDS), "AUREA_RANDOM_SEED": "7"}
    with ExitStack() as hosts:
        bases = [
            hosts.enter_context(
                gunicorn_process(database_url, 2, tmp_path, env=env, log_name=f"host-{n}.log")
            )[0]
            for n in range(HOSTS)
        ]
        assert len(set(bases)) == HOSTS
        with ThreadPoolExecutor(HOSTS * 2) as pool:
            # Two clients per host, the second with its own offset: ids also race on one host.
            parts = list(pool.map(lambda n: send(bases[n % HOSTS], n), range(HOSTS * 2)))
        results = [r for part in parts for r in part]

        recorded = Counter(rid for rid, status in results if status == "recorded" and rid)
        assert recorded == Counter({f"shared-{i}": 1 for i in range(IDS)})
        assert Counter(s for rid, s in results if rid)["duplicate"] == IDS * (HOSTS * 2 - 1)
        assert all(status == "recorded" for rid, status in results if rid is None)
        expected = IDS + PLAIN * HOSTS * 2

        # Nothing is written any more: once the cache's TTL has passed, no host answers from
        # data read before the last write, and all answer the same.
        time.sleep(CACHE_SECONDS + 0.2)
        answers = [rounded(a) for a in selections(bases)]
        assert answers[1:] == answers[:1] * (HOSTS - 1)
        assert sum(entry["total_requests"] for entry in answers[0]["ranking"]) == expected

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            raw = conn.scalar(sa.text("SELECT count(*) FROM request_metrics"))
            ids = conn.scalar(sa.text("SELECT count(*) FROM request_ids"))
            aggregated = conn.scalar(sa.text("SELECT sum(requests) FROM model_stats_hourly"))
            binned = conn.scalar(sa.text("SELECT sum(requests) FROM latency_histogram_hourly"))
    finally:
        engine.dispose()
    assert (raw, ids, aggregated, binned) == (expected, IDS, expected, expected)
