"""OTLP spans -> record bodies, and the OTLP/HTTP decoding, on hand-built messages (no app)."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from datetime import UTC, datetime

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from aurea.integrations import otlp

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
START = 1_781_517_600_000_000_000  # 2026-06-15 10:00:00 UTC
END = START + 1_250_000_000  # 1.25 s later


def value(v) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=v)


def span(attributes: dict | None = None, **fields) -> Span:
    made = Span(
        trace_id=fields.pop("trace_id", TRACE_ID),
        span_id=fields.pop("span_id", SPAN_ID),
        name=fields.pop("name", "chat gpt-4o"),
        start_time_unix_nano=fields.pop("start", START),
        end_time_unix_nano=fields.pop("end", END),
        **fields,
    )
    for key, v in (attributes or {}).items():
        made.attributes.append(KeyValue(key=key, value=value(v)))
    return made


CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
}


def body_of(attributes: dict, resource: dict | None = None, **fields) -> dict | None:
    body, _ = otlp.span_body(span(attributes, **fields), resource or {})
    return body


def test_a_chat_span_becomes_a_record_body():
    assert body_of(CHAT) == {
        "model": "gpt-4o",
        "latency": 1.25,
        "success": True,
        "timestamp": "2026-06-15T10:00:01.250000+00:00",
        "request_id": "otel:5b8efff798038103d269b633813fc60ceee19b7ec3c1b174",
        "input_tokens": 1200,
        "output_tokens": 300,
    }


def test_the_response_model_wins_over_the_requested_one():
    attributes = {**CHAT, "gen_ai.response.model": "gpt-4o-2024-08-06"}
    assert body_of(attributes)["model"] == "gpt-4o-2024-08-06"


def test_the_deprecated_gen_ai_system_makes_a_genai_span_like_the_provider_name():
    attributes = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "llm.cost.total": 0.2,
    }
    assert body_of(attributes)["model"] == "gpt-4o"


@pytest.mark.parametrize(
    "extra, status",
    [
        ({}, Status(code=Status.STATUS_CODE_ERROR, message="rate limited")),
        ({"error.type": "timeout"}, Status(code=Status.STATUS_CODE_UNSET)),
        ({"error.type": "500"}, Status(code=Status.STATUS_CODE_OK)),
    ],
)
def test_an_error_status_or_an_error_type_is_a_failure(extra, status):
    assert body_of({**CHAT, **extra}, status=status)["success"] is False


def test_an_ok_or_unset_status_without_error_type_is_a_success():
    assert body_of(CHAT, status=Status(code=Status.STATUS_CODE_OK))["success"] is True


@pytest.mark.parametrize(
    "costs, expected",
    [
        ({"gen_ai.usage.cost": 0.1, "gen_ai.cost.total_cost": 0.2, "llm.cost.total": 0.3}, 0.1),
        ({"gen_ai.cost.total_cost": 0.2, "llm.cost.total": 0.3}, 0.2),
        ({"llm.cost.total": 0.3}, 0.3),
        ({"llm.cost.total": 2}, 2),
    ],
)
def test_the_cost_comes_from_the_first_cost_attribute_present(costs, expected):
    assert body_of({**CHAT, **costs})["cost"] == expected


def test_without_a_cost_attribute_the_body_has_tokens_to_price():
    assert "cost" not in body_of(CHAT)


def test_older_prompt_and_completion_token_names_are_read():
    attributes = {
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.prompt_tokens": 10,
        "gen_ai.usage.completion_tokens": 4,
    }
    body = body_of(attributes)
    assert (body["input_tokens"], body["output_tokens"]) == (10, 4)


def test_whole_token_counts_sent_as_doubles_are_integers():
    body = body_of({**CHAT, "gen_ai.usage.input_tokens": 12.0})
    assert body["input_tokens"] == 12 and isinstance(body["input_tokens"], int)


def test_the_task_comes_from_the_span_else_from_its_resource():
    assert body_of({**CHAT, "aurea.task": "code"}, {"aurea.task": "chat"})["task"] == "code"
    assert body_of(CHAT, {"aurea.task": "summarize"})["task"] == "summarize"
    assert "task" not in body_of(CHAT)


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {"http.request.method": "POST", "server.address": "api.openai.com"},
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "gpt-4o"},
    ],
)
def test_spans_that_are_not_model_calls_are_ignored(attributes):
    assert body_of(attributes) is None


@pytest.mark.parametrize(
    "attributes, fields, reason",
    [
        ({"gen_ai.provider.name": "openai", "llm.cost.total": 1.0}, {}, "gen_ai.request.model"),
        ({"gen_ai.request.model": "gpt-4o"}, {}, "no cost attribute"),
        (CHAT, {"end": START - 1}, "ends before it starts"),
        (CHAT, {"end": 0}, "no start or end time"),
        (CHAT, {"span_id": b"\x01\x02"}, "trace_id and span_id"),
        (CHAT, {"trace_id": bytes(16)}, "all-zero"),
    ],
)
def test_genai_spans_that_cannot_be_records_say_why(attributes, fields, reason):
    with pytest.raises(ValueError, match=reason):
        body_of(attributes, **fields)


@pytest.mark.parametrize(
    "attributes, reason",
    [
        ({**CHAT, "gen_ai.usage.input_tokens": -5}, "gen_ai.usage.input_tokens: Must be greater"),
        ({**CHAT, "gen_ai.usage.output_tokens": 2.5}, "gen_ai.usage.output_tokens: Not a valid"),
        ({**CHAT, "gen_ai.usage.cost": -0.1}, "gen_ai.usage.cost: Must be greater"),
        ({**CHAT, "gen_ai.usage.cost": "0.1"}, "gen_ai.usage.cost: Not a valid number"),
        ({**CHAT, "gen_ai.request.model": ""}, "gen_ai.request.model: Length must be"),
        ({**CHAT, "aurea.task": " code"}, "aurea.task: Must not start or end"),
    ],
)
def test_loading_a_span_names_the_attribute_of_each_invalid_value(attributes, reason):
    with pytest.raises(ValueError, match=reason):
        otlp.load_span(span(attributes), {})


def test_a_loaded_span_is_a_record_as_the_record_endpoint_loads_it():
    loaded = otlp.load_span(span({**CHAT, "aurea.task": "code"}), {})
    assert loaded["at"] == datetime(2026, 6, 15, 10, 0, 1, 250000, tzinfo=UTC)
    assert (loaded["model"], loaded["task"], loaded["input_tokens"]) == ("gpt-4o", "code", 1200)


def json_export(**span_fields) -> dict:
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span_fields]}]}]}


def test_json_hex_ids_are_read_as_the_bytes_they_spell():
    decoded = otlp.decode(
        json.dumps(
            json_export(
                traceId="5B8EFFF798038103D269B633813FC60C",
                spanId="eee19b7ec3c1b174",
                parentSpanId="",
                links=[
                    {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "0102030405060708"}
                ],
            )
        ).encode(),
        otlp.JSON,
    )
    (decoded_span,) = decoded.resource_spans[0].scope_spans[0].spans
    assert decoded_span.trace_id == TRACE_ID
    assert decoded_span.span_id == SPAN_ID
    assert decoded_span.parent_span_id == b""
    assert decoded_span.links[0].span_id == bytes(range(1, 9))


def test_json_snake_case_keys_and_unknown_fields_are_read_too():
    data = {
        "resource_spans": [
            {"scope_spans": [{"spans": [{"span_id": "eee19b7ec3c1b174", "futureField": 1}]}]}
        ],
        "somethingNew": True,
    }
    decoded = otlp.decode(json.dumps(data).encode(), otlp.JSON)
    assert decoded.resource_spans[0].scope_spans[0].spans[0].span_id == SPAN_ID


def test_json_enums_as_integers_and_int64_as_strings_are_read():
    data = json_export(
        spanId="eee19b7ec3c1b174",
        kind=3,
        startTimeUnixNano=str(START),
        status={"code": 2},
        attributes=[{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}],
    )
    decoded_span = otlp.decode(json.dumps(data).encode(), otlp.JSON).resource_spans[0]
    decoded_span = decoded_span.scope_spans[0].spans[0]
    assert decoded_span.kind == Span.SPAN_KIND_CLIENT
    assert decoded_span.status.code == Status.STATUS_CODE_ERROR
    assert decoded_span.start_time_unix_nano == START
    assert otlp.attributes(decoded_span.attributes) == {"gen_ai.usage.input_tokens": 12}


@pytest.mark.parametrize(
    "raw, mimetype, reason",
    [
        (json.dumps(json_export(spanId="not-hex")).encode(), otlp.JSON, "not a hex string"),
        (b"[1, 2]", otlp.JSON, "not a JSON object"),
        (b"{", otlp.JSON, "not JSON"),
        (b"\xff\xfe", otlp.JSON, "not JSON"),
        (json.dumps(json_export(name=5)).encode(), otlp.JSON, "ExportTraceServiceRequest"),
        (b"\xff\xff\xff", otlp.PROTOBUF, "ExportTraceServiceRequest"),
    ],
)
def test_undecodable_bodies_are_refused_with_the_reason(raw, mimetype, reason):
    with pytest.raises(otlp.UndecodableBody, match=reason):
        otlp.decode(raw, mimetype)


def test_base64_json_ids_are_not_taken_for_hex():
    b64 = base64.b64encode(SPAN_ID).decode()  # "7uGbfsPBsXQ=": not hex
    with pytest.raises(otlp.UndecodableBody):
        otlp.decode(json.dumps(json_export(spanId=b64)).encode(), otlp.JSON)


def test_an_unknown_content_type_is_unsupported():
    with pytest.raises(otlp.UnsupportedEncoding):
        otlp.decode(b"{}", "text/plain")


def test_gzip_and_deflate_bodies_are_inflated():
    raw = b"x" * 1000
    assert otlp.decompress(gzip.compress(raw), "gzip", 10_000) == raw
    assert otlp.decompress(gzip.compress(raw), " GZIP ", 10_000) == raw
    assert otlp.decompress(zlib.compress(raw), "deflate", 10_000) == raw
    assert otlp.decompress(raw, None, 10_000) == raw
    assert otlp.decompress(raw, "identity", 10_000) == raw


def test_a_body_inflating_beyond_the_limit_is_refused():
    with pytest.raises(otlp.BodyTooLarge):
        otlp.decompress(gzip.compress(bytes(10_001)), "gzip", 10_000)
    assert otlp.decompress(gzip.compress(bytes(10_000)), "gzip", 10_000) == bytes(10_000)


@pytest.mark.parametrize(
    "raw, encoding, error",
    [
        (b"plain", "gzip", otlp.UndecodableBody),
        (gzip.compress(b"x" * 100)[:-12], "gzip", otlp.UndecodableBody),
        (b"x", "br", otlp.UnsupportedEncoding),
    ],
)
def test_corrupt_or_unknown_encodings_are_refused(raw, encoding, error):
    with pytest.raises(error):
        otlp.decompress(raw, encoding, 10_000)


def test_the_partial_success_counts_every_rejection_and_shows_the_first_ten():
    result = otlp.ExportResult(
        rejected=[otlp.Rejected(f"span {i:02}", "no model.") for i in range(12)]
    )
    partial = result.response().partial_success
    assert partial.rejected_spans == 12
    assert partial.error_message.startswith("12 GenAI span(s) rejected. span 00: no model; ")
    assert "span 09: no model; and 2 more." in partial.error_message
    assert "span 10" not in partial.error_message


def test_a_full_success_has_no_partial_success():
    assert not otlp.ExportResult().response().HasField("partial_success")
