"""POST /v1/traces through the Flask test client: encodings, partial success, auth, errors."""

from __future__ import annotations

import gzip
import json

import pytest
import sqlalchemy as sa
from google.protobuf import json_format
from google.rpc.status_pb2 import Status as RpcStatus
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from aurea.storage.extensions import db
from aurea.storage.models import RequestMetric

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
START = 1_781_518_800_000_000_000  # 2026-06-15 10:20:00 UTC: the frozen clock's now
PRICES = {"input_usd_per_million_tokens": 2.5, "output_usd_per_million_tokens": 10.0}


@pytest.fixture(autouse=True)
def frozen(clock):
    return clock


def attribute(key: str, v) -> KeyValue:
    if isinstance(v, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=v))
    if isinstance(v, int):
        return KeyValue(key=key, value=AnyValue(int_value=v))
    if isinstance(v, float):
        return KeyValue(key=key, value=AnyValue(double_value=v))
    return KeyValue(key=key, value=AnyValue(string_value=v))


def make_span(number: int, attributes: dict, seconds: float = 0.5, error: bool = False) -> Span:
    span = Span(
        trace_id=TRACE_ID,
        span_id=number.to_bytes(8, "big"),
        name=f"chat {number}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=START - 60_000_000_000,
        end_time_unix_nano=START - 60_000_000_000 + int(seconds * 1e9),
    )
    if error:
        span.status.code = Status.STATUS_CODE_ERROR
    span.attributes.extend(attribute(k, v) for k, v in attributes.items())
    return span


def export_of(*spans: Span, resource: dict | None = None) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        attribute(k, v) for k, v in (resource or {"service.name": "app"}).items()
    )
    resource_spans.scope_spans.add().spans.extend(spans)
    return request


def otlp_json(request: ExportTraceServiceRequest) -> dict:
    """The OTLP/JSON encoding: proto3 JSON, but trace and span ids in hex."""
    data = json_format.MessageToDict(request)
    for resource_spans in data.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                span["traceId"] = TRACE_ID.hex().upper()
                span["spanId"] = span_id_hex(span["name"])
    return data


def span_id_hex(name: str) -> str:
    return int(name.split()[-1]).to_bytes(8, "big").hex()


def chat(model: str = "gpt-4", **extra) -> dict:
    return {"gen_ai.operation.name": "chat", "gen_ai.request.model": model, **extra}


def stored(app) -> list[tuple]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(
                RequestMetric.model,
                RequestMetric.latency,
                RequestMetric.cost,
                RequestMetric.success,
                RequestMetric.task,
                RequestMetric.request_id,
            ).order_by(RequestMetric.request_id)
        ).all()
        db.session.remove()
    return [tuple(r) for r in rows]


def post_protobuf(client, request: ExportTraceServiceRequest, **headers):
    return client.post(
        "/v1/traces", data=request.SerializeToString(), headers={**PROTOBUF, **headers}
    )


def protobuf_answer(response) -> ExportTraceServiceResponse:
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/x-protobuf"
    return ExportTraceServiceResponse.FromString(response.data)


def test_protobuf_genai_spans_become_records_with_their_costs(app, client):
    client.patch("/router/models/gpt-4", json=PRICES)
    request = export_of(
        make_span(
            1, chat(**{"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300})
        ),
        make_span(2, chat("claude-3-opus", **{"gen_ai.usage.cost": 0.07}), seconds=2.0, error=True),
        make_span(3, {"http.request.method": "GET"}),  # not GenAI: ignored
    )
    answer = protobuf_answer(post_protobuf(client, request))
    assert not answer.HasField("partial_success")
    assert stored(app) == [
        ("gpt-4", 0.5, pytest.approx(0.006), True, None, f"otel:{TRACE_ID.hex()}0000000000000001"),
        ("claude-3-opus", 2.0, 0.07, False, None, f"otel:{TRACE_ID.hex()}0000000000000002"),
    ]
    metrics = client.get("/router/metrics").get_json()
    assert metrics["gpt-4"]["total_requests"] == 1
    assert metrics["claude-3-opus"]["success_rate"] == 0.0


def test_a_re_exported_span_is_counted_once(app, client):
    request = export_of(make_span(1, chat(**{"llm.cost.total": 0.01})))
    for _ in range(2):
        assert not protobuf_answer(post_protobuf(client, request)).HasField("partial_success")
    assert len(stored(app)) == 1


def test_json_with_hex_ids_is_read_and_answered_in_json(app, client):
    request = export_of(make_span(7, chat(**{"gen_ai.cost.total_cost": 0.02})))
    body = otlp_json(request)
    assert body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] == "0000000000000007"
    response = client.post("/v1/traces", json=body)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {}
    assert stored(app)[0][5] == f"otel:{TRACE_ID.hex()}0000000000000007"


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_gzip_bodies_are_accepted(app, client, encoding):
    request = export_of(make_span(1, chat(**{"gen_ai.usage.cost": 0.01})))
    raw = (
        request.SerializeToString()
        if encoding == "protobuf"
        else json.dumps(otlp_json(request)).encode()
    )
    headers = {**(PROTOBUF if encoding == "protobuf" else JSON), "Content-Encoding": "gzip"}
    response = client.post("/v1/traces", data=gzip.compress(raw), headers=headers)
    assert response.status_code == 200, response.data
    assert [row[0] for row in stored(app)] == ["gpt-4"]


def test_spans_that_cannot_be_records_are_rejected_in_the_partial_success(app, client):
    client.patch("/router/models/gpt-4", json=PRICES)
    request = export_of(
        make_span(1, chat(**{"gen_ai.usage.input_tokens": 10})),  # priced: stored
        make_span(2, chat("claude-3-opus", **{"gen_ai.usage.input_tokens": 10})),  # unpriced
        make_span(3, {"gen_ai.provider.name": "openai", "gen_ai.usage.cost": 0.1}),  # no model
        make_span(4, chat(**{"gen_ai.usage.cost": -1.0})),  # negative
        make_span(5, {"db.system": "postgresql"}),  # ignored, not rejected
    )
    partial = protobuf_answer(post_protobuf(client, request)).partial_success
    assert partial.rejected_spans == 3
    assert "span 0000000000000002 'chat 2'" in partial.error_message
    assert "'claude-3-opus' has no price" in partial.error_message
    assert "no gen_ai.response.model or gen_ai.request.model" in partial.error_message
    assert "gen_ai.usage.cost: Must be greater than or equal to 0" in partial.error_message
    assert [row[0] for row in stored(app)] == ["gpt-4"]


def test_a_json_partial_success_is_in_otlp_json(client):
    request = export_of(make_span(1, chat()))  # neither cost nor tokens
    response = client.post("/v1/traces", json=otlp_json(request))
    assert response.status_code == 200
    partial = response.get_json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"  # int64: a string in OTLP/JSON
    assert "no cost attribute" in partial["errorMessage"]


def test_the_task_comes_from_the_span_or_its_resource(app, client):
    request = export_of(
        make_span(1, chat(**{"gen_ai.usage.cost": 0.01, "aurea.task": "code"})),
        make_span(2, chat(**{"gen_ai.usage.cost": 0.01})),
        resource={"service.name": "app", "aurea.task": "summarize"},
    )
    protobuf_answer(post_protobuf(client, request))
    assert [row[4] for row in stored(app)] == ["code", "summarize"]


def test_strict_mode_rejects_spans_of_unregistered_models(app, client):
    app.config["AUREA_STRICT_MODELS"] = True
    request = export_of(
        make_span(1, chat("gpt-4", **{"gen_ai.usage.cost": 0.01})),
        make_span(2, chat("unregistered", **{"gen_ai.usage.cost": 0.01})),
    )
    partial = protobuf_answer(post_protobuf(client, request)).partial_success
    assert partial.rejected_spans == 1
    assert "unknown model 'unregistered'" in partial.error_message
    assert [row[0] for row in stored(app)] == ["gpt-4"]


def rpc_status(response) -> RpcStatus:
    if response.mimetype == "application/x-protobuf":
        return RpcStatus.FromString(response.data)
    return json_format.ParseDict(response.get_json(), RpcStatus())


@pytest.mark.parametrize(
    "data, headers, status, reason",
    [
        (b"\xff\xff\xff", PROTOBUF, 400, "not an ExportTraceServiceRequest"),
        (b"{", JSON, 400, "not JSON"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "zz"}]}]}]}', JSON, 400, "hex"),
        (b"not gzip", {**PROTOBUF, "Content-Encoding": "gzip"}, 400, "gzip"),
        (b"{}", {"Content-Type": "text/plain"}, 415, "Content-Type"),
        (b"", {}, 415, "Content-Type"),
        (b"{}", {**JSON, "Content-Encoding": "br"}, 415, "Content-Encoding"),
    ],
)
def test_bad_bodies_get_a_status_in_the_request_encoding(client, data, headers, status, reason):
    response = client.post("/v1/traces", data=data, headers=headers)
    assert response.status_code == status
    expected = (
        "application/x-protobuf"
        if headers.get("Content-Type") == PROTOBUF["Content-Type"]
        else "application/json"
    )
    assert response.mimetype == expected
    assert reason in rpc_status(response).message


def test_bodies_over_the_limit_get_413_as_sent_or_inflated(app, client):
    app.config["AUREA_OTLP_MAX_BODY_BYTES"] = 2000
    big = export_of(*(make_span(i, chat(**{"gen_ai.usage.cost": 0.01})) for i in range(1, 60)))
    raw = big.SerializeToString()
    assert len(raw) > 2000 and len(gzip.compress(raw)) < 2000
    assert post_protobuf(client, big).status_code == 413
    response = client.post(
        "/v1/traces", data=gzip.compress(raw), headers={**PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 413
    assert "inflates" in rpc_status(response).message
    assert stored(app) == []


def test_a_larger_export_than_a_record_body_is_accepted(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000  # /router/* bodies; spans have their own limit
    big = export_of(*(make_span(i, chat(**{"gen_ai.usage.cost": 0.01})) for i in range(1, 60)))
    assert len(big.SerializeToString()) > 1000
    assert not protobuf_answer(post_protobuf(client, big)).HasField("partial_success")
    assert len(stored(app)) == 59


def test_exports_need_a_token_allowed_to_record(app, client, tokens):
    request = export_of(make_span(1, chat(**{"gen_ai.usage.cost": 0.01})))
    refused = post_protobuf(client, request)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="aurea"'
    assert "bearer token" in rpc_status(refused).message
    reader = post_protobuf(client, request, Authorization=f"Bearer {tokens['reader']}")
    assert reader.status_code == 403
    assert stored(app) == []
    recorder = post_protobuf(client, request, Authorization=f"Bearer {tokens['recorder']}")
    assert recorder.status_code == 200
    assert len(stored(app)) == 1


def test_an_unavailable_database_gets_503_with_retry_after(unreachable_app):
    request = export_of(make_span(1, chat(**{"gen_ai.usage.cost": 0.01})))
    response = post_protobuf(unreachable_app.test_client(), request)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "retry later" in rpc_status(response).message
