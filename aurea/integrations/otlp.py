"""OpenTelemetry GenAI spans as Aurea records: the adapter behind ``POST /v1/traces``.

An OTLP/HTTP export (``ExportTraceServiceRequest``, protobuf or JSON, maybe gzip'd) is
decoded with the official ``opentelemetry-proto`` classes; each span that carries GenAI
semantic-convention attributes becomes one record (docs/opentelemetry.md):

- model: ``gen_ai.response.model``, else ``gen_ai.request.model``;
- latency: end minus start; timestamp: the span's end;
- success: the span's status is not ERROR and it has no ``error.type``;
- tokens: ``gen_ai.usage.input_tokens`` / ``output_tokens`` (or the older
  ``gen_ai.usage.prompt_tokens`` / ``completion_tokens``);
- cost: ``gen_ai.usage.cost``, ``gen_ai.cost.total_cost`` or ``llm.cost.total``, else
  priced from the tokens at the model's registry prices (aurea.services.pricing);
- task: ``aurea.task`` on the span, else on its resource;
- request_id: ``otel:<trace id><span id>`` in hex, so a re-exported span counts once.

The provider (``gen_ai.provider.name``, or the deprecated ``gen_ai.system``) is not stored:
Aurea keys its statistics by model name alone.

Spans without any ``gen_ai.*`` attribute, and agent or tool spans (``gen_ai.operation.name``
``invoke_agent``, ``create_agent``, ``execute_tool``: their model calls are spans of their
own) are ignored. A GenAI span that cannot be a record is rejected with its reason, for
the export's partial success; the others are stored in one transaction.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import marshmallow as ma
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from aurea.schemas import RecordRequestSchema
from aurea.services import pricing, records
from aurea.services.context import Context

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
ENCODINGS = (PROTOBUF, JSON)
# Content-Encoding -> zlib's wbits: gzip (the OTLP one), and deflate (zlib format), which
# the OpenTelemetry Python exporter also offers.
COMPRESSIONS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

MODEL_ATTRIBUTES = ("gen_ai.response.model", "gen_ai.request.model")
COST_ATTRIBUTES = ("gen_ai.usage.cost", "gen_ai.cost.total_cost", "llm.cost.total")
INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT_TOKENS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
TASK_ATTRIBUTE = "aurea.task"
NOT_MODEL_CALLS = frozenset({"invoke_agent", "create_agent", "execute_tool"})
REQUEST_ID_PREFIX = "otel:"
# At most this many reasons are spelled out in a partial success's error message.
REASONS_SHOWN = 10

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SCHEMA = RecordRequestSchema()


class UnsupportedEncoding(Exception):
    """A content type or content encoding this receiver does not read (HTTP 415)."""


class UndecodableBody(Exception):
    """A body that is not an ExportTraceServiceRequest in its declared encoding (HTTP 400)."""


class BodyTooLarge(Exception):
    """A body that inflates beyond the limit (HTTP 413)."""


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body without its Content-Encoding, at most ``limit`` bytes once inflated."""
    coding = (content_encoding or "identity").strip().lower()
    if coding == "identity":
        return body
    if coding not in COMPRESSIONS:
        raise UnsupportedEncoding(
            f"Content-Encoding {content_encoding!r} is not supported: send gzip, or none."
        )
    inflater = zlib.decompressobj(COMPRESSIONS[coding])
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise UndecodableBody(f"The body is not valid {coding} data: {error}.") from None
    if len(data) > limit:
        raise BodyTooLarge(f"The body inflates to more than {limit} bytes.")
    if not inflater.eof:
        raise UndecodableBody(f"The body is truncated {coding} data.")
    return data


def decode(body: bytes, mimetype: str) -> ExportTraceServiceRequest:
    """An export request from its protobuf or OTLP/JSON encoding."""
    if mimetype == PROTOBUF:
        try:
            return ExportTraceServiceRequest.FromString(body)
        except DecodeError as error:
            raise UndecodableBody(
                f"The body is not an ExportTraceServiceRequest: {error}"
            ) from None
    if mimetype != JSON:
        raise UnsupportedEncoding(
            f"Content-Type {mimetype!r} is not supported: send {PROTOBUF} or {JSON}."
        )
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise UndecodableBody(f"The body is not JSON: {error}.") from None
    if not isinstance(data, dict):
        raise UndecodableBody("The body is not a JSON object.")
    for span in _json_spans(data):
        _hex_ids_to_base64(span, ("traceId", "spanId", "parentSpanId"))
        for link in _items(span, "links"):
            _hex_ids_to_base64(link, ("traceId", "spanId"))
    try:
        # OTLP/JSON receivers must ignore fields they do not know (the spec, "JSON Protobuf
        # Encoding"); enums come as integers, which json_format reads, as it reads names.
        return json_format.ParseDict(data, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except json_format.ParseError as error:
        raise UndecodableBody(f"The body is not an ExportTraceServiceRequest: {error}") from None


def encode(message: Message, mimetype: str) -> bytes:
    """``message`` in the request's encoding (OTLP answers in the encoding it was sent)."""
    if mimetype == PROTOBUF:
        return message.SerializeToString()
    return json.dumps(json_format.MessageToDict(message)).encode()


def _items(container: dict, camel: str) -> list:
    """``container[camel]`` (or its snake_case name, which json_format reads too) if a list."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    value = container.get(camel, container.get(snake))
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _json_spans(data: dict) -> Iterator[dict]:
    for resource_spans in _items(data, "resourceSpans"):
        for scope_spans in _items(resource_spans, "scopeSpans"):
            yield from _items(scope_spans, "spans")


def _hex_ids_to_base64(item: dict, names: tuple[str, ...]) -> None:
    """OTLP/JSON writes trace and span ids in hex, where proto3 JSON (json_format) expects
    base64 for bytes: convert them in place."""
    for camel in names:
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
        for key in (camel, snake):
            value = item.get(key)
            if not isinstance(value, str):
                continue  # absent, or not a string: json_format refuses it
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                raise UndecodableBody(f"{camel} {value!r} is not a hex string.") from None
            item[key] = base64.b64encode(raw).decode("ascii")


def attributes(pairs: list[KeyValue]) -> dict[str, Any]:
    """Scalar attribute values as Python values; arrays, maps and bytes are left out."""
    values = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        if kind in ("string_value", "bool_value", "int_value", "double_value"):
            values[pair.key] = getattr(pair.value, kind)
    return values


def _first(attrs: dict[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
    for name in names:
        if name in attrs:
            return name, attrs[name]
    return None, None


def _integral(value: Any) -> Any:
    """A token count sent as a whole double (some SDKs have no integer attributes) as an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _moment(unix_nano: int) -> datetime:
    return EPOCH + timedelta(microseconds=unix_nano // 1000)


@dataclass(frozen=True)
class Rejected:
    span: str  # how the span is named in messages: its id and name
    reason: str


def span_body(span: Span, resource: dict[str, Any]) -> tuple[dict | None, dict[str, str]]:
    """The record body (as POST /router/record takes it) for a GenAI span, and which span
    attribute gave each of its fields (for messages); (None, {}) for a span to ignore.

    Raises ValueError with the reason when the span cannot be a record.
    """
    attrs = attributes(span.attributes)
    if not any(key.startswith("gen_ai.") for key in attrs):
        return None, {}
    if attrs.get("gen_ai.operation.name") in NOT_MODEL_CALLS:
        return None, {}
    model_key, model = _first(attrs, MODEL_ATTRIBUTES)
    if model_key is None:
        raise ValueError("no gen_ai.response.model or gen_ai.request.model attribute")
    if len(span.trace_id) != 16 or len(span.span_id) != 8:
        raise ValueError("no valid trace_id and span_id (16 and 8 bytes)")
    if not any(span.trace_id) or not any(span.span_id):
        raise ValueError("an all-zero trace_id or span_id (invalid in OpenTelemetry)")
    if span.end_time_unix_nano == 0 or span.start_time_unix_nano == 0:
        raise ValueError("no start or end time")
    if span.end_time_unix_nano < span.start_time_unix_nano:
        raise ValueError("the span ends before it starts")
    success = span.status.code != Status.STATUS_CODE_ERROR and "error.type" not in attrs
    body: dict[str, Any] = {
        "model": model,
        "latency": (span.end_time_unix_nano - span.start_time_unix_nano) / 1e9,
        "success": success,
        "timestamp": _moment(span.end_time_unix_nano).isoformat(),
        "request_id": f"{REQUEST_ID_PREFIX}{span.trace_id.hex()}{span.span_id.hex()}",
    }
    sources = {"model": model_key, "latency": "span duration", "timestamp": "span end time"}
    for field_name, names in (("input_tokens", INPUT_TOKENS), ("output_tokens", OUTPUT_TOKENS)):
        key, count = _first(attrs, names)
        if key is not None:
            body[field_name], sources[field_name] = _integral(count), key
    cost_key, cost = _first(attrs, COST_ATTRIBUTES)
    if cost_key is not None:
        body["cost"], sources["cost"] = cost, cost_key
    elif "input_tokens" not in body and "output_tokens" not in body:
        raise ValueError(
            "no cost attribute (gen_ai.usage.cost, gen_ai.cost.total_cost, llm.cost.total) "
            "and no gen_ai.usage.input_tokens or output_tokens to price"
        )
    task = attrs.get(TASK_ATTRIBUTE, resource.get(TASK_ATTRIBUTE))
    if task is not None:
        body["task"], sources["task"] = task, TASK_ATTRIBUTE
    return body, sources


def load_span(span: Span, resource: dict[str, Any]) -> dict | None:
    """The span as RecordRequestSchema loads a record (cost maybe still to price), or None
    for a span to ignore. Raises ValueError with the reason when it cannot be a record."""
    body, sources = span_body(span, resource)
    if body is None:
        return None
    try:
        return SCHEMA.load(body)
    except ma.ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {}
        raise ValueError(
            "; ".join(
                f"{sources.get(name, name)}: {' '.join(map(str, problems))}"
                for name, problems in messages.items()
            )
        ) from None


@dataclass
class ExportResult:
    records: list[records.Record] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    ignored: int = 0

    def response(self) -> ExportTraceServiceResponse:
        """The OTLP answer: a partial success when spans were rejected."""
        answer = ExportTraceServiceResponse()
        if self.rejected:
            shown = [f"{r.span}: {r.reason.rstrip('.')}" for r in self.rejected[:REASONS_SHOWN]]
            more = len(self.rejected) - len(shown)
            answer.partial_success.rejected_spans = len(self.rejected)
            answer.partial_success.error_message = (
                f"{len(self.rejected)} GenAI span(s) rejected. "
                + "; ".join(shown)
                + (f"; and {more} more." if more else ".")
            )
        return answer


def _span_name(span: Span) -> str:
    return f"span {span.span_id.hex() or '(no id)'} {span.name!r}"


def export(ctx: Context, request: ExportTraceServiceRequest) -> ExportResult:
    """Store the GenAI spans of an export as records, in one transaction; say which were
    rejected and why. Repeats of stored spans are acknowledged as duplicates."""
    result = ExportResult()
    loaded: list[tuple[Span, dict]] = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                try:
                    item = load_span(span, resource)
                except ValueError as refused:
                    result.rejected.append(Rejected(_span_name(span), str(refused)))
                    continue
                if item is None:
                    result.ignored += 1
                else:
                    loaded.append((span, item))
    if not loaded:
        return result
    prices = pricing.token_prices(ctx.session, (item["model"] for _, item in loaded))
    strict = ctx.config["AUREA_STRICT_MODELS"]
    for span, item in loaded:
        if strict and item["model"] not in prices:  # prices has every registered model
            reason = f"unknown model {item['model']!r} (AUREA_STRICT_MODELS is on)"
            result.rejected.append(Rejected(_span_name(span), reason))
            continue
        record, reason = pricing.priced(item, prices)
        if reason is not None:
            result.rejected.append(Rejected(_span_name(span), reason))
            continue
        result.records.append(records.Record(**record))
    if result.records:
        result.statuses = records.record_requests(ctx, result.records)
    return result
