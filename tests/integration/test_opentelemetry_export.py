"""The OpenTelemetry SDK's OTLP/HTTP exporter sends real spans to Aurea under gunicorn."""

from __future__ import annotations

import pytest
import requests
import sqlalchemy as sa
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from aurea.storage.extensions import db
from aurea.storage.models import RequestMetric

pytestmark = pytest.mark.slow

PRICES = {"input_usd_per_million_tokens": 2.5, "output_usd_per_million_tokens": 10.0}


def register(live, name: str, **prices) -> None:
    response = requests.post(
        f"{live.base_url}/router/models",
        json={"name": name, **prices},
        headers={"Authorization": f"Bearer {live.tokens['admin']}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def exporter(live, compression=Compression.NoCompression) -> OTLPSpanExporter:
    return OTLPSpanExporter(
        endpoint=f"{live.base_url}/v1/traces",
        headers={"Authorization": f"Bearer {live.tokens['recorder']}"},
        compression=compression,
        timeout=10,
    )


def rows(live, model: str) -> list[tuple]:
    with live.app.app_context():
        found = db.session.execute(
            sa.select(
                RequestMetric.latency,
                RequestMetric.cost,
                RequestMetric.success,
                RequestMetric.task,
                RequestMetric.request_id,
            )
            .where(RequestMetric.model == model)
            .order_by(RequestMetric.id)
        ).all()
        db.session.remove()
    return [tuple(r) for r in found]


def call_model(tracer, model: str, input_tokens: int, output_tokens: int, error=None) -> None:
    """A span as GenAI instrumentations make one for a chat completion."""
    with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT) as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", model)
        span.set_attribute("gen_ai.response.model", model)
        span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
        if error:
            span.set_attribute("error.type", error)
            span.set_status(StatusCode.ERROR, error)


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_sdk_exported_spans_are_recorded_with_costs_from_token_prices(live_aurea, compression):
    model = f"otel-e2e-{compression.value}"
    register(live_aurea, model, **PRICES)
    provider = TracerProvider(
        resource=Resource.create({"service.name": "e2e", "aurea.task": "support"})
    )
    provider.add_span_processor(BatchSpanProcessor(exporter(live_aurea, compression)))
    tracer = provider.get_tracer("tests.e2e")
    with tracer.start_as_current_span("handle request"):  # not GenAI: ignored
        call_model(tracer, model, 1200, 300)
        call_model(tracer, model, 4000, 0, error="rate_limited")
    assert provider.force_flush(timeout_millis=20_000)
    provider.shutdown()

    recorded = rows(live_aurea, model)
    assert [(cost, success, task) for _, cost, success, task, _ in recorded] == [
        (pytest.approx(1200 * 2.5e-6 + 300 * 10e-6), True, "support"),
        (pytest.approx(4000 * 2.5e-6), False, "support"),
    ]
    assert all(0 <= latency < 5 for latency, *_ in recorded)
    assert all(request_id.startswith("otel:") for *_, request_id in recorded)
    metrics = requests.get(
        f"{live_aurea.base_url}/router/metrics",
        params={"task": "support"},
        headers={"Authorization": f"Bearer {live_aurea.tokens['reader']}"},
        timeout=10,
    ).json()
    assert metrics[model]["total_requests"] == 2
    assert metrics[model]["success_rate"] == 0.5


def test_re_exported_spans_count_once_and_unpriced_ones_are_not_stored(live_aurea):
    priced, unpriced = "otel-e2e-priced", "otel-e2e-unpriced"
    register(live_aurea, priced, **PRICES)
    register(live_aurea, unpriced)
    captured = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(captured))
    tracer = provider.get_tracer("tests.e2e")
    call_model(tracer, priced, 100, 10)
    call_model(tracer, unpriced, 100, 10)
    spans = captured.get_finished_spans()
    assert len(spans) == 2

    sender = exporter(live_aurea)
    # A partial success is a 200: the exporter counts the export as delivered.
    assert sender.export(spans) == SpanExportResult.SUCCESS
    assert sender.export(spans) == SpanExportResult.SUCCESS  # a retry of the same batch
    sender.shutdown()
    assert [cost for _, cost, *_ in rows(live_aurea, priced)] == [pytest.approx(0.00035)]
    assert rows(live_aurea, unpriced) == []


def test_an_exporter_without_a_recorder_token_fails_its_export(live_aurea):
    captured = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(captured))
    call_model(provider.get_tracer("tests.e2e"), "otel-e2e-refused", 1, 1)
    sender = OTLPSpanExporter(endpoint=f"{live_aurea.base_url}/v1/traces", timeout=10)
    assert sender.export(captured.get_finished_spans()) == SpanExportResult.FAILURE
    sender.shutdown()
    assert rows(live_aurea, "otel-e2e-refused") == []


def test_the_documented_environment_variables_configure_the_exporter(live_aurea, monkeypatch):
    # docs/opentelemetry.md: the base URL, a URL-encoded bearer header, gzip.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", live_aurea.base_url)
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{live_aurea.tokens['recorder']}"
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    model = "otel-e2e-env"
    register(live_aurea, model, input_usd_per_million_tokens=1.0)
    captured = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(captured))
    call_model(provider.get_tracer("tests.e2e"), model, 2_000_000, 0)
    sender = OTLPSpanExporter()
    assert sender.export(captured.get_finished_spans()) == SpanExportResult.SUCCESS
    sender.shutdown()
    assert [cost for _, cost, *_ in rows(live_aurea, model)] == [pytest.approx(2.0)]
