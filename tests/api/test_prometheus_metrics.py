"""GET /metrics exposes request, record, selection and weight metrics (single process).

Counters live for the whole test process, across applications: tests compare before and
after, or use model names no other test uses.
"""

import time
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import make_app


def scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def unique_model() -> str:
    return f"metrics-test-{uuid.uuid4().hex[:8]}"


def test_records_are_counted_by_model_and_outcome(client, record):
    model = unique_model()
    record(model, 0.5, 0.01, success=True)
    record(model, 0.6, 0.01, success=True)
    record(model, 0.7, 0.01, success=False)

    samples = scrape(client)
    assert value(samples, "aurea_records_total", model=model, outcome="success") == 2
    assert value(samples, "aurea_records_total", model=model, outcome="failure") == 1


def test_refused_records_are_not_counted(client):
    model = unique_model()
    response = client.post(
        "/router/record", json={"model": model, "latency": -1, "cost": 0.01, "success": True}
    )
    assert response.status_code == 422
    samples = scrape(client)
    assert value(samples, "aurea_records_total", model=model, outcome="success") == 0


@pytest.mark.weighted_objective
def test_selections_are_counted_by_model_and_reason(client, record):
    model = unique_model()
    record(model, 0.5, 0.01)
    assert client.get("/router/select").get_json()["selected_model"] == model
    samples = scrape(client)
    assert value(samples, "aurea_selections_total", model=model, reason="highest_score") == 1


def test_http_requests_are_counted_and_timed_by_url_rule(client, record):
    before = scrape(client)
    record(unique_model(), 0.5, 0.01)
    record(unique_model(), 0.5, 0.01)
    after = scrape(client)

    labels = {"endpoint": "/router/record", "method": "POST"}
    counted = "aurea_http_requests_total"
    timed = "aurea_http_request_duration_seconds_count"
    assert (
        value(after, counted, status="200", **labels)
        - value(before, counted, status="200", **labels)
        == 2
    )
    assert value(after, timed, **labels) - value(before, timed, **labels) == 2
    assert value(after, "aurea_http_request_duration_seconds_sum", **labels) > 0


def test_unknown_routes_and_methods_share_bounded_labels(client):
    path = f"/no-such-page-{uuid.uuid4().hex}"
    before = scrape(client)
    assert client.get(path).status_code == 404
    assert client.open("/healthz", method="BREW").status_code == 405
    after = scrape(client)

    def delta(**labels):
        name = "aurea_http_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(endpoint="unmatched", method="GET", status="404") == 1
    assert delta(endpoint="unmatched", method="other", status="405") == 1
    text = client.get("/metrics").get_data(as_text=True)
    assert path not in text
    assert "BREW" not in text


def test_weights_in_force_are_exposed_as_gauges(client):
    assert value(scrape(client), "aurea_weight", criterion="quality") == 0.34
    new = {"cost_weight": 0.5, "quality_weight": 0.3, "latency_weight": 0.2}
    assert client.put("/router/weights", json=new).status_code == 200
    samples = scrape(client)
    assert value(samples, "aurea_weight", criterion="cost") == 0.5
    assert value(samples, "aurea_weight", criterion="quality") == 0.3
    assert value(samples, "aurea_weight", criterion="latency") == 0.2


def test_metrics_answer_without_weights_when_the_database_is_unreachable(unreachable_app):
    client = unreachable_app.test_client()
    samples = scrape(client)
    assert not [key for key in samples if key[0] == "aurea_weight"]
    assert any(key[0] == "aurea_http_requests_total" for key in samples)


def test_metrics_answer_within_the_probe_timeout_when_postgresql_hangs(silent_server):
    app = make_app(f"postgresql://postgres@127.0.0.1:{silent_server}/aurea", AUREA_READY_TIMEOUT=1)
    started = time.monotonic()
    samples = scrape(app.test_client())
    # Not the application's 10 s database timeout: libpq's 2 s minimum.
    assert time.monotonic() - started < 4
    assert not [key for key in samples if key[0] == "aurea_weight"]


def test_metrics_endpoint_is_documented_as_text(client):
    spec = client.get("/openapi.json").get_json()
    content = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert "text/plain" in content
