"""Marshmallow schemas: what requests may carry in (load) and what responses carry out (dump)."""

from __future__ import annotations

import math
import unicodedata

import marshmallow as ma
from marshmallow import fields, validate

from aurea.models import MODEL_NAME_LENGTH, REQUEST_ID_LENGTH, TASK_LENGTH
from aurea.windows import WINDOWS


class StrictFloat(fields.Float):
    """A JSON number only: no strings, no booleans, no NaN or infinities."""

    default_error_messages = {
        "invalid": "Not a valid number.",
        "special": "Special numeric values (nan or infinity) are not permitted.",
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(allow_nan=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, int):
            try:
                value = float(value)
            except OverflowError:
                raise self.make_error("special") from None
        if not math.isfinite(value):
            raise self.make_error("special")
        return value


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false`` only; ``"yes"``, ``1`` and ``null`` are refused."""

    default_error_messages = {"invalid": "Not a JSON boolean (true or false)."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def validate_label(name: str) -> None:
    """Refuse names with control characters or surrounding whitespace."""
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise ma.ValidationError("Must not contain control characters.")
    if name != name.strip():
        raise ma.ValidationError("Must not start or end with whitespace.")


ModelName = fields.String(
    required=True,
    validate=[validate.Length(min=1, max=MODEL_NAME_LENGTH), validate_label],
    metadata={"description": "Model identifier, 1 to 128 characters.", "example": "gpt-4"},
)


def task_field(**kwargs) -> fields.String:
    return fields.String(
        validate=[validate.Length(min=1, max=TASK_LENGTH), validate_label],
        metadata={"description": "Task label, 1 to 64 characters.", "example": "code"},
        **kwargs,
    )


def window_field() -> fields.String:
    return fields.String(
        validate=validate.OneOf(list(WINDOWS)),
        metadata={
            "description": "Window of recent data (default AUREA_WINDOW, 7d). A window N "
            "covers every record since the start of the UTC hour containing now - N.",
            "example": "7d",
        },
    )


class StrictSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class RecordRequestSchema(StrictSchema):
    model = ModelName
    latency = StrictFloat(
        required=True,
        validate=validate.Range(min=0),
        metadata={"description": "Seconds the call took.", "example": 0.5},
    )
    cost = StrictFloat(
        required=True,
        validate=validate.Range(min=0),
        metadata={"description": "Cost of the call in USD.", "example": 0.02},
    )
    success = StrictBoolean(required=True, metadata={"example": True})
    task = task_field(load_default=None)
    request_id = fields.String(
        load_default=None,
        validate=[validate.Length(min=1, max=REQUEST_ID_LENGTH), validate_label],
        metadata={
            "description": "Client-chosen idempotency key (up to 128 characters): a repeat is "
            "acknowledged as `duplicate` and counted once.",
            "example": "9b2f6c1e-4d0a-4e8b-a0f3-2f8e1c7d5b10",
        },
    )


MAX_BATCH = 1000


class RecordBatchSchema(StrictSchema):
    records = fields.List(
        fields.Nested(RecordRequestSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH),
        metadata={"description": "1 to 1,000 records, stored all or none."},
    )


class RecordResultSchema(ma.Schema):
    index = fields.Integer()
    status = fields.String(metadata={"description": "`recorded` or `duplicate`."})
    model = fields.String()


class RecordBatchResponseSchema(ma.Schema):
    status = fields.String(metadata={"example": "recorded"})
    recorded = fields.Integer()
    duplicates = fields.Integer()
    results = fields.List(fields.Nested(RecordResultSchema))


class ScopeArgsSchema(StrictSchema):
    window = window_field()
    task = task_field()
    min_requests = fields.Integer(
        validate=validate.Range(min=1),
        metadata={
            "description": "Task rows a model needs in the window for its task statistics to "
            "count; below it, its global statistics stand in (default AUREA_MIN_REQUESTS)."
        },
    )


class DashboardArgsSchema(ScopeArgsSchema):
    token = fields.String(
        load_only=True,
        metadata={
            "description": "An API token (reader or admin), for browsers that cannot send the "
            "Authorization header. Accepted on /dashboard only, and never logged."
        },
    )


class RecordResponseSchema(ma.Schema):
    status = fields.String(
        metadata={
            "description": "`recorded`, or `duplicate` for a repeated request_id.",
            "example": "recorded",
        }
    )
    model = fields.String(metadata={"example": "gpt-4"})


WEIGHT_RANGE = validate.Range(min=0, max=1)


class WeightsSchema(StrictSchema):
    cost_weight = StrictFloat(required=True, validate=WEIGHT_RANGE, metadata={"example": 0.33})
    quality_weight = StrictFloat(required=True, validate=WEIGHT_RANGE, metadata={"example": 0.34})
    latency_weight = StrictFloat(required=True, validate=WEIGHT_RANGE, metadata={"example": 0.33})


class SelectionSchema(ma.Schema):
    selected_model = fields.String(metadata={"example": "gpt-3.5-turbo"})
    score = fields.Float(
        allow_none=True, metadata={"description": "Null when no model has data yet."}
    )
    weights = fields.Nested(WeightsSchema)
    reason = fields.String(
        metadata={
            "description": "`highest_score`, or `no_data` when no model has recorded requests.",
            "example": "highest_score",
        }
    )
    window = fields.String(metadata={"example": "7d"})
    task = fields.String(allow_none=True, metadata={"example": None})
    task_fallback = fields.List(
        fields.String(),
        metadata={"description": "Models scored on global statistics for lack of task rows."},
    )


class ModelMetricsSchema(ma.Schema):
    total_requests = fields.Integer(metadata={"example": 100})
    success_rate = fields.Float(allow_none=True, metadata={"example": 0.98})
    average_latency = fields.Float(allow_none=True, metadata={"example": 0.65})
    average_cost = fields.Float(allow_none=True, metadata={"example": 0.025})
    p50_latency = fields.Float(
        allow_none=True,
        metadata={"description": "Median latency from the histogram (within 4.9 %)."},
    )
    p95_latency = fields.Float(
        allow_none=True,
        metadata={"description": "95th percentile latency from the histogram (within 4.9 %)."},
    )
    score = fields.Float(allow_none=True, metadata={"example": 0.82})
    window = fields.String(metadata={"example": "7d"})
    task = fields.String(metadata={"description": "Present when a task was asked for."})
    task_fallback = fields.Boolean(
        metadata={"description": "True when the model's global statistics stood in for the task's."}
    )
    last_updated = fields.DateTime(
        allow_none=True, metadata={"example": "2025-11-11T08:53:00+00:00"}
    )


def dump_metrics_summary(summary: dict[str, dict]) -> dict[str, dict]:
    """Serialise a model name -> metrics mapping with ModelMetricsSchema."""
    schema = ModelMetricsSchema()
    return {name: schema.dump(row) for name, row in summary.items()}


class VariationSchema(ma.Schema):
    cost = fields.Float()
    quality = fields.Float()
    latency = fields.Float()


class OptimizeArgsSchema(StrictSchema):
    window = window_field()
    dry_run = fields.Boolean(
        load_default=False,
        metadata={"description": "Show the proposal without changing the weights."},
    )


class OptimizeResponseSchema(ma.Schema):
    status = fields.String(
        metadata={
            "description": "`optimized`, `unchanged` (see `reason`) or `proposed` (dry run).",
            "example": "optimized",
        }
    )
    weights = fields.Nested(WeightsSchema)
    window = fields.String(metadata={"example": "7d"})
    previous_weights = fields.Nested(WeightsSchema)
    reason = fields.String()
    variation = fields.Nested(
        VariationSchema,
        metadata={"description": "Coefficient of variation of each criterion across models."},
    )
    metrics_summary = fields.Dict(keys=fields.String(), values=fields.Nested(ModelMetricsSchema))
