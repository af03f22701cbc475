"""POST /v1/traces: an OTLP/HTTP traces receiver (docs/opentelemetry.md).

It answers as the OTLP/HTTP specification asks: in the encoding of the request (protobuf
or JSON), 200 with an ``ExportTraceServiceResponse`` (its partial success counts the
rejected spans), and on failure a ``google.rpc.Status`` body: 400 for a body that cannot
be decoded, 415 for an unknown content type or encoding, 503 with Retry-After while the
database is unavailable (exporters retry those). The span mapping is
aurea.integrations.otlp.
"""

from __future__ import annotations

import logging
from collections import Counter
from http import HTTPStatus

from flask import Response, current_app, request
from flask_smorest import Blueprint
from google.rpc import code_pb2
from google.rpc.status_pb2 import Status
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from aurea.app_context import service_context
from aurea.auth import RECORD, requires
from aurea.errors import RETRY_AFTER_SECONDS, AureaError
from aurea.integrations import otlp
from aurea.observability.prometheus import observe_record
from aurea.services import records

log = logging.getLogger(__name__)

otlp_blp = Blueprint(
    "otlp", __name__, description="OpenTelemetry: an OTLP/HTTP traces receiver for GenAI spans"
)

# HTTP status -> the gRPC code a google.rpc.Status carries for it.
GRPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    404: code_pb2.NOT_FOUND,
    405: code_pb2.UNIMPLEMENTED,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    422: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}

OTLP_BODY = {
    "required": True,
    "description": "An ExportTraceServiceRequest (OTLP/HTTP), protobuf or OTLP/JSON (hex "
    "trace and span ids); `Content-Encoding: gzip` accepted.",
    "content": {
        otlp.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
        otlp.JSON: {"schema": {"type": "object"}},
    },
}
PARTIAL_SUCCESS = {
    "type": "object",
    "properties": {
        "partialSuccess": {
            "type": "object",
            "properties": {
                "rejectedSpans": {"type": "string", "description": "int64, as OTLP/JSON"},
                "errorMessage": {"type": "string"},
            },
        }
    },
}
STATUS_BODY = {
    "type": "object",
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
}


def _answer_encoding() -> str:
    return request.mimetype if request.mimetype in otlp.ENCODINGS else otlp.JSON


def _status_response(status: int, message: str) -> Response:
    """A google.rpc.Status body in the request's encoding (JSON for an unknown one)."""
    mimetype = _answer_encoding()
    body = Status(code=GRPC_CODES.get(status, code_pb2.UNKNOWN), message=message)
    return Response(otlp.encode(body, mimetype), status=status, mimetype=mimetype)


def _status_doc(description: str) -> dict:
    return {
        "description": description,
        "content": {
            otlp.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            otlp.JSON: {"schema": STATUS_BODY},
        },
    }


@otlp_blp.route("/v1/traces", methods=["POST"])
@requires(RECORD)
@otlp_blp.doc(
    requestBody=OTLP_BODY,
    responses={
        "200": {
            "description": "Stored; spans that could not be records are counted and explained "
            "in partialSuccess (spans without GenAI attributes are ignored).",
            "content": {
                otlp.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
                otlp.JSON: {"schema": PARTIAL_SUCCESS},
            },
        },
        "400": _status_doc("The body cannot be decoded."),
        "413": _status_doc("The body, or what it inflates to, is over AUREA_OTLP_MAX_BODY_BYTES."),
        "415": _status_doc(
            "Neither application/x-protobuf nor application/json, or an "
            "unsupported Content-Encoding."
        ),
        "503": _status_doc("The database is unavailable; retry after Retry-After seconds."),
    },
)
def traces():
    """Receive OpenTelemetry spans (OTLP/HTTP) and record the GenAI ones.

    Set an OTLP exporter's traces endpoint to this URL, with a recorder token.
    """
    mimetype = request.mimetype
    if mimetype not in otlp.ENCODINGS:
        raise otlp.UnsupportedEncoding(
            f"Content-Type {request.content_type!r} is not supported: "
            f"send {otlp.PROTOBUF} or {otlp.JSON}."
        )
    limit = current_app.config["AUREA_OTLP_MAX_BODY_BYTES"]
    request.max_content_length = limit  # spans are larger than records
    body = otlp.decompress(request.get_data(cache=False), request.content_encoding, limit)
    result = otlp.export(service_context(), otlp.decode(body, mimetype))
    stored = Counter(
        (r.model, r.success)
        for r, status in zip(result.records, result.statuses, strict=True)
        if status == records.RECORDED
    )
    for (model, success), count in stored.items():
        observe_record(model, success, count)
    return Response(otlp.encode(result.response(), mimetype), mimetype=mimetype)


@otlp_blp.errorhandler(otlp.UnsupportedEncoding)
def _unsupported(error: Exception):
    return _status_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, str(error))


@otlp_blp.errorhandler(otlp.UndecodableBody)
def _undecodable(error: Exception):
    return _status_response(HTTPStatus.BAD_REQUEST, str(error))


@otlp_blp.errorhandler(otlp.BodyTooLarge)
def _too_large(error: Exception):
    return _status_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(error))


@otlp_blp.errorhandler(AureaError)
def _refused(error: AureaError):
    response = _status_response(error.status_code, error.message)
    if error.status_code == HTTPStatus.UNAUTHORIZED:
        response.headers["WWW-Authenticate"] = 'Bearer realm="aurea"'
    return response


@otlp_blp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return _status_response(error.code or 500, error.description or error.name)


@otlp_blp.errorhandler(sa_exc.OperationalError)
@otlp_blp.errorhandler(sa_exc.InterfaceError)
def _database_unavailable(error: sa_exc.DBAPIError):
    log.error("database unavailable: %s", error.orig)
    response = _status_response(
        HTTPStatus.SERVICE_UNAVAILABLE, "The database is unavailable; retry later."
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
