"""POST /v1/traces in process (Flask test client): an SDK-sized export of 512 GenAI spans.

    .venv/bin/python -m bench.otlp                 # ms per export, protobuf, JSON and gzip
    .venv/bin/python -m bench.otlp --profile       # cProfile 10 protobuf exports
    .venv/bin/python -m bench.otlp --postgres postgresql://postgres@127.0.0.1:5432/test

512 is the OpenTelemetry SDK's BatchSpanProcessor batch size. Every span is a new one
(fresh span ids), priced from token prices; beside it, 500 plain records through
POST /router/records for scale.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import json
import os
import pstats
import time

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from aurea.storage.extensions import db
from bench.inprocess import BATCH, app_with_rows
from bench.load import MODELS
from bench.run import fresh_database
from config import normalize_database_url

SPANS = 512
PRICES = {"input_usd_per_million_tokens": 2.5, "output_usd_per_million_tokens": 10.0}


def export_request() -> ExportTraceServiceRequest:
    """512 chat spans ending now, with random ids (each export is new data)."""
    end = time.time_ns()
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    models = list(MODELS)
    for i in range(SPANS):
        span = spans.add(
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            name="chat",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=end - 400_000_000 - i * 1000,
            end_time_unix_nano=end,
        )
        for key, value in (
            ("gen_ai.operation.name", AnyValue(string_value="chat")),
            ("gen_ai.provider.name", AnyValue(string_value="openai")),
            ("gen_ai.request.model", AnyValue(string_value=models[i % len(models)])),
            ("gen_ai.usage.input_tokens", AnyValue(int_value=1000 + i)),
            ("gen_ai.usage.output_tokens", AnyValue(int_value=200 + i)),
        ):
            span.attributes.append(KeyValue(key=key, value=value))
    return request


def as_json(request: ExportTraceServiceRequest) -> bytes:
    data = json_format.MessageToDict(request)
    for span, original in zip(
        data["resourceSpans"][0]["scopeSpans"][0]["spans"],
        request.resource_spans[0].scope_spans[0].spans,
        strict=True,
    ):
        span["traceId"], span["spanId"] = original.trace_id.hex(), original.span_id.hex()
    return json.dumps(data).encode()


def bodies(kind: str, n: int) -> list[tuple[bytes, dict]]:
    made = []
    for _ in range(n):
        request = export_request()
        if kind == "json":
            made.append((as_json(request), {"Content-Type": "application/json"}))
            continue
        raw = request.SerializeToString()
        headers = {"Content-Type": "application/x-protobuf"}
        if kind == "protobuf+gzip":
            raw, headers = gzip.compress(raw), {**headers, "Content-Encoding": "gzip"}
        made.append((raw, headers))
    return made


def timed_exports(client, kind: str, n: int) -> float:
    prepared = bodies(kind, n + 1)
    client.post("/v1/traces", data=prepared[0][0], headers=prepared[0][1])  # warm-up
    start = time.perf_counter()
    for data, headers in prepared[1:]:
        response = client.post("/v1/traces", data=data, headers=headers)
        assert response.status_code == 200 and not response.data.strip(b"{} "), response.data
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", action="store_true", help="cProfile 10 protobuf exports")
    parser.add_argument("--postgres", metavar="URL", help="run on a fresh schema there")
    parser.add_argument("--exports", type=int, default=20, help="exports timed per encoding")
    args = parser.parse_args()
    url, drop = (None, None)
    if args.postgres:
        url, drop = fresh_database("postgresql", normalize_database_url(args.postgres))
    app = app_with_rows(1000, url)
    client = app.test_client()
    for model in MODELS:
        client.patch(f"/router/models/{model}", json=PRICES)
    try:
        if args.profile:
            prepared = bodies("protobuf", 10)
            profile = cProfile.Profile()
            profile.enable()
            for data, headers in prepared:
                client.post("/v1/traces", data=data, headers=headers)
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
            return
        for kind in ("protobuf", "protobuf+gzip", "json"):
            ms = timed_exports(client, kind, args.exports)
            print(f"POST /v1/traces ({SPANS} spans, {kind}): {ms:.1f} ms per export")
        client.post("/router/records", json=BATCH)
        start = time.perf_counter()
        for _ in range(args.exports):
            client.post("/router/records", json=BATCH)
        ms = (time.perf_counter() - start) / args.exports * 1000
        print(f"POST /router/records (500 records): {ms:.1f} ms per batch")
    finally:
        if drop:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            drop()


if __name__ == "__main__":
    main()
