"""Marshmallow schemas: what requests may carry in (load) and what responses carry out (dump).
Over 400 lines because every schema of the HTTP API is here, so the OpenAPI document, the
validation and the field descriptions have one place; each class is one request or answer.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from datetime import UTC, timedelta

import marshmallow as ma
from marshmallow import fields, validate
from webargs.fields import DelimitedList

from aurea.clock import now
from aurea.domain.windows import WINDOWS
from aurea.storage.models import MODEL_NAME_LENGTH, REQUEST_ID_LENGTH, TASK_LENGTH


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


class StrictInteger(fields.Integer):
    """A JSON integer only: no strings, no booleans, no fractions (``3.0`` neither)."""

    default_error_messages = {"invalid": "Not a valid integer."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false`` only; ``"yes"``, ``1`` and ``null`` are refused."""

    default_error_messages = {"invalid": "Not a JSON boolean (true or false)."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


# Names with no control characters (Cc) and no lone surrogates (Cs): the common case, checked
# first; a refusal is then explained character by character.
PLAIN_LABEL = re.compile(r"[^\x00-\x1f\x7f-\x9f\ud800-\udfff]*")


def is_plain_label(name: str) -> bool:
    return PLAIN_LABEL.fullmatch(name) is not None and name == name.strip()


def validate_label(name: str) -> None:
    """Refuse names with control characters, lone surrogates or surrounding whitespace."""
    if is_plain_label(name):
        return
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise ma.ValidationError("Must not contain control characters.")
    if any(unicodedata.category(ch) == "Cs" for ch in name):
        # JSON's "\ud800" escapes decode to them; they cannot be stored as UTF-8.
        raise ma.ValidationError("Must not contain lone surrogates.")
    if name != name.strip():
        raise ma.ValidationError("Must not start or end with whitespace.")


# validate_label as a JSON Schema pattern, for the OpenAPI document: no control characters
# (Unicode category Cc), and neither first nor last character is whitespace (str.isspace).
_CONTROL = r"\x00-\x1f\x7f-\x9f"
_SPACE = r" \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
LABEL_PATTERN = rf"^[^{_CONTROL}{_SPACE}](?:[^{_CONTROL}]*[^{_CONTROL}{_SPACE}])?$"
# An item of a comma-separated query list cannot itself hold a comma.
LIST_ITEM_PATTERN = rf"^[^,{_CONTROL}{_SPACE}](?:[^,{_CONTROL}]*[^,{_CONTROL}{_SPACE}])?$"


def label_field(
    max_length: int, pattern: str = LABEL_PATTERN, **metadata_and_kwargs
) -> fields.String:
    """A name chosen by clients: 1 to ``max_length`` characters, checked by validate_label."""
    metadata = {
        key: metadata_and_kwargs.pop(key)
        for key in ("description", "example")
        if key in metadata_and_kwargs
    }
    return fields.String(
        validate=[validate.Length(min=1, max=max_length), validate_label],
        metadata={**metadata, "pattern": pattern},
        **metadata_and_kwargs,
    )


ModelName = label_field(
    MODEL_NAME_LENGTH,
    required=True,
    description="Model identifier, 1 to 128 characters, without control characters "
    "or surrounding whitespace.",
    example="gpt-4",
)


def task_field(**kwargs) -> fields.String:
    return label_field(
        TASK_LENGTH,
        description="Task label, 1 to 64 characters, without control characters or "
        "surrounding whitespace.",
        example="code",
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


# How far ahead of the server's clock a record's timestamp may be (clients' clocks drift).
MAX_TIMESTAMP_SKEW = timedelta(seconds=300)


class RecordTimestamp(fields.AwareDateTime):
    """An ISO 8601 timestamp with its UTC offset, at most MAX_TIMESTAMP_SKEW in the future.

    Loaded as an aware UTC datetime; a naive one (no offset) is refused.
    """

    default_error_messages = {
        "future": "Must not be more than 300 seconds in the future.",
        "range": "Not a representable UTC timestamp.",
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(format="iso", default_timezone=None, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment = moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise self.make_error("range") from None
        if moment - now() > MAX_TIMESTAMP_SKEW:
            raise self.make_error("future")
        return moment


# Larger values would overflow the aggregates' sums (PostgreSQL refuses, SQLite stores inf).
MAX_RECORDED_VALUE = 1e9
MAX_TOKENS = 10**9
COST_FIELDS = frozenset({"cost", "input_tokens", "output_tokens"})
COST_OR_TOKENS = (
    "Missing data for required field: give cost, or input_tokens and/or output_tokens "
    "for a model with token prices."
)


def token_count_field(kind: str) -> StrictInteger:
    return StrictInteger(
        validate=validate.Range(min=0, max=MAX_TOKENS),
        metadata={
            "description": f"{kind} tokens of the call (0 to 1e9). Without a `cost`, the cost "
            "is computed from the model's token prices (see GET /router/models).",
            "example": 1200,
        },
    )


class RecordRequestSchema(StrictSchema):
    model = ModelName
    latency = StrictFloat(
        required=True,
        validate=validate.Range(min=0, max=MAX_RECORDED_VALUE),
        metadata={"description": "Seconds the call took (at most 1e9).", "example": 0.5},
    )
    cost = StrictFloat(
        validate=validate.Range(min=0, max=MAX_RECORDED_VALUE),
        metadata={
            "description": "Cost of the call in USD (at most 1e9). Required unless "
            "`input_tokens` or `output_tokens` is given for a model with token prices; a given "
            "cost wins over the tokens.",
            "example": 0.02,
        },
    )
    input_tokens = token_count_field("Input (prompt)")
    output_tokens = token_count_field("Output (completion)")
    success = StrictBoolean(required=True, metadata={"example": True})
    task = task_field(load_default=None)
    request_id = label_field(
        REQUEST_ID_LENGTH,
        load_default=None,
        description="Client-chosen idempotency key (up to 128 characters): a repeat is "
        "acknowledged as `duplicate` and counted once.",
        example="9b2f6c1e-4d0a-4e8b-a0f3-2f8e1c7d5b10",
    )
    at = RecordTimestamp(
        data_key="timestamp",
        load_default=None,
        metadata={
            "description": "When the call happened, ISO 8601 with a UTC offset (default: when "
            "it is recorded). Back-filled records count in their own hour; at most 300 s in "
            "the future.",
            "example": "2026-06-15T10:20:00+00:00",
        },
    )

    @ma.validates_schema(pass_original=True, skip_on_field_errors=False)
    def _cost_or_tokens(self, data, original, **kwargs):
        # From the original: a cost given but invalid has its own message already.
        if isinstance(original, dict) and not COST_FIELDS & original.keys():
            raise ma.ValidationError(COST_OR_TOKENS, "cost")


MAX_BATCH = 1000


class RecordBatchSchema(StrictSchema):
    # Nested(many=True) rather than List(Nested()): one load of the whole list instead of one
    # per record, the same errors (keyed by index); a tenth of a 500-record batch's validation.
    records = fields.Nested(
        RecordRequestSchema,
        many=True,
        required=True,
        error_messages={"type": "Not a valid list."},
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


DASHBOARD_REFRESH_MIN, DASHBOARD_REFRESH_MAX = 5, 3600


class DashboardArgsSchema(ScopeArgsSchema):
    refresh = fields.Integer(
        strict=False,
        validate=validate.Range(min=DASHBOARD_REFRESH_MIN, max=DASHBOARD_REFRESH_MAX),
        metadata={
            "description": "Reload the page every this many seconds "
            f"({DASHBOARD_REFRESH_MIN} to {DASHBOARD_REFRESH_MAX}); "
            "without it the page never reloads itself.",
            "example": 30,
        },
    )

    @ma.pre_load
    def _drop_empty_form_fields(self, data, **kwargs):
        """The page's own form sends ``task=`` and ``refresh=`` empty when not chosen."""
        return {k: v for k, v in data.items() if not (k in ("task", "refresh") and v == "")}

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


def model_name_field(**kwargs) -> fields.String:
    """A model name as an item of a comma-separated query list."""
    return label_field(MODEL_NAME_LENGTH, LIST_ITEM_PATTERN, **kwargs)


def _query_float(low: float, high: float | None, description: str) -> fields.Float:
    return fields.Float(
        allow_nan=False,
        validate=validate.Range(min=low, max=high),
        metadata={"description": description},
    )


class SelectArgsSchema(ScopeArgsSchema):
    models = DelimitedList(
        model_name_field(),
        validate=validate.Length(min=1),
        metadata={"description": "Candidates, comma-separated (default: all)."},
    )
    exclude = DelimitedList(
        model_name_field(), metadata={"description": "Models never to choose, comma-separated."}
    )
    max_cost = _query_float(0, None, "Highest acceptable average cost (USD).")
    max_latency = _query_float(0, None, "Highest acceptable p95 latency (seconds).")
    min_success_rate = _query_float(0, 1, "Lowest acceptable success rate.")
    cost_weight = _query_float(0, 1, "Weight override for this request (with the other two).")
    quality_weight = _query_float(0, 1, "Weight override for this request (with the other two).")
    latency_weight = _query_float(0, 1, "Weight override for this request (with the other two).")
    objective = fields.String(
        validate=validate.OneOf(["utility", "weighted"]),
        metadata={"description": "Objective mode for this request (default AUREA_OBJECTIVE)."},
    )
    success_value = _query_float(0, 1e6, "USD a successful call is worth (utility mode).")
    latency_cost = _query_float(0, 1e6, "USD a second of latency costs (utility mode).")
    max_price = _query_float(0, 1e6, "Highest acceptable expected cost per call, USD (utility).")

    @ma.validates_schema
    def _weights_all_or_none(self, data, **kwargs):
        given = [k for k in ("cost_weight", "quality_weight", "latency_weight") if k in data]
        if not given:
            return
        if len(given) != 3:
            raise ma.ValidationError(
                "Give cost_weight, quality_weight and latency_weight together.", "_schema"
            )


class UtilityPartsSchema(ma.Schema):
    expected_utility = fields.Float(metadata={"description": "USD per call."})
    value = fields.Float(metadata={"description": "success_value x P(success), USD."})
    cost = fields.Float(metadata={"description": "Expected cost of a call, USD."})
    latency_cost = fields.Float(metadata={"description": "latency_cost x latency, USD."})
    p_success = fields.Float(metadata={"description": "Posterior mean of P(success)."})
    latency = fields.Float(metadata={"description": "Expected latency, seconds."})


class ObjectiveSchema(ma.Schema):
    mode = fields.String(metadata={"description": "`utility` or `weighted`."})
    success_value = fields.Float(allow_none=True)
    latency_cost = fields.Float(allow_none=True)
    max_price = fields.Float(allow_none=True)


class RankEntrySchema(ma.Schema):
    model = fields.String()
    score = fields.Float(allow_none=True)
    cost_score = fields.Float(allow_none=True)
    quality_score = fields.Float(allow_none=True)
    latency_score = fields.Float(allow_none=True)
    total_requests = fields.Integer()
    success_rate = fields.Float(allow_none=True)
    average_latency = fields.Float(allow_none=True)
    average_cost = fields.Float(allow_none=True)
    p95_latency = fields.Float(allow_none=True)
    excluded_by = fields.String(
        allow_none=True,
        metadata={
            "description": "Why the model did not compete on score: `excluded`, "
            "`not_registered`, `disabled`, `cooling_down`, `max_cost`, `max_latency`, "
            "`min_success_rate`, `max_price` or `min_requests`; null if it did."
        },
    )
    expected_utility = fields.Nested(
        UtilityPartsSchema, allow_none=True, metadata={"description": "Utility mode only."}
    )
    p_success_interval = fields.List(
        fields.Float(), allow_none=True, metadata={"description": "90 % interval (utility)."}
    )
    p_best = fields.Float(
        allow_none=True,
        metadata={"description": "Probability of being chosen now (utility mode)."},
    )
    tried = fields.Boolean(metadata={"description": "The model has data in the window."})


class SelectionSchema(ma.Schema):
    selected_model = fields.String(metadata={"example": "gpt-3.5-turbo"})
    score = fields.Float(
        allow_none=True,
        metadata={
            "description": "Utility mode: the expected utility in USD. Weighted mode: the "
            "weighted score; null when no model has data yet."
        },
    )
    weights = fields.Nested(WeightsSchema)
    reason = fields.String(
        metadata={
            "description": "Utility mode: `highest_expected_utility`; `exploration` (a "
            "Thompson-sampled other model); `recheck` (a model not seen for a while); "
            "`cold_start` (no model has data). Weighted mode: `highest_score`; `cold_start` "
            "when no model has enough requests; `exploration`.",
            "example": "highest_score",
        }
    )
    explored = fields.Boolean(
        metadata={"description": "True when AUREA_EXPLORATION sent this selection to a sample."}
    )
    weights_version = fields.Integer(
        allow_none=True, metadata={"description": "The weight_history row in force."}
    )
    weights_override = fields.Boolean(
        metadata={"description": "True when the request's own weights were used."}
    )
    ranking = fields.List(fields.Nested(RankEntrySchema))
    objective = fields.Nested(ObjectiveSchema)
    expected_utility = fields.Nested(
        UtilityPartsSchema,
        allow_none=True,
        metadata={"description": "The selected model's expected utility (utility mode)."},
    )
    p_best = fields.Float(allow_none=True)
    window = fields.String(metadata={"example": "7d"})
    task = fields.String(allow_none=True, metadata={"example": None})
    task_fallback = fields.List(
        fields.String(),
        metadata={"description": "Models scored on global statistics for lack of task rows."},
    )


class ModelMetricsSchema(ma.Schema):
    total_requests = fields.Integer(metadata={"example": 100})
    expected_utility = fields.Nested(
        UtilityPartsSchema,
        allow_none=True,
        metadata={
            "description": "Utility mode: the model's expected utility in USD, with its parts."
        },
    )
    p_success_interval = fields.List(
        fields.Float(), allow_none=True, metadata={"description": "90 % interval (utility)."}
    )
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
    enabled = fields.Boolean(metadata={"description": "False for a disabled model."})
    last_updated = fields.DateTime(
        allow_none=True, metadata={"example": "2025-11-11T08:53:00+00:00"}
    )


def dump_metrics_summary(summary: dict[str, dict]) -> dict[str, dict]:
    """Serialise a model name -> metrics mapping with ModelMetricsSchema."""
    schema = _model_metrics_schema()
    return {name: schema.dump(row) for name, row in summary.items()}


@functools.cache
def _model_metrics_schema() -> ModelMetricsSchema:
    """One instance per process: building a schema deep-copies its fields (a third of a
    metrics request), and dumping with it keeps no state between calls."""
    return ModelMetricsSchema()


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


class ModelSchema(ma.Schema):
    name = fields.String()
    description = fields.String(allow_none=True)
    enabled = fields.Boolean()
    state = fields.String(
        metadata={
            "description": "`active`, `cooling_down` (on every task it served) or `disabled`."
        }
    )
    cooldown_until = fields.DateTime(
        allow_none=True,
        metadata={"description": "End of the cooldown on every task, if one is running."},
    )
    cooling_tasks = fields.Dict(
        keys=fields.String(),
        values=fields.DateTime(),
        metadata={
            "description": "Tasks the model is cooling down on, with the end of each cooldown "
            "(the empty string: records without a task)."
        },
    )
    input_usd_per_million_tokens = fields.Float(
        allow_none=True, metadata={"description": "Null: input tokens are not priced."}
    )
    output_usd_per_million_tokens = fields.Float(
        allow_none=True, metadata={"description": "Null: output tokens are not priced."}
    )
    created_at = fields.DateTime()


def description_field(**kwargs) -> fields.String:
    # PostgreSQL text cannot hold NUL characters.
    return fields.String(
        allow_none=True,
        validate=[
            validate.Length(max=1024),
            validate.Regexp(r"^[^\x00]*$", error="Must not contain NUL characters."),
        ],
        metadata={"pattern": "^[^\\x00]*$"},
        **kwargs,
    )


def token_price_field(kind: str, **kwargs) -> StrictFloat:
    return StrictFloat(
        allow_none=True,
        validate=validate.Range(min=0, max=MAX_RECORDED_VALUE),
        metadata={
            "description": f"USD per million {kind} tokens (0 to 1e9; null: not priced). "
            "Prices the records that carry token counts but no cost.",
            "example": 2.5,
        },
        **kwargs,
    )


class ModelCreateSchema(StrictSchema):
    name = ModelName
    description = description_field(load_default=None)
    input_usd_per_million_tokens = token_price_field("input", load_default=None)
    output_usd_per_million_tokens = token_price_field("output", load_default=None)


class ModelPatchSchema(StrictSchema):
    enabled = StrictBoolean()
    description = description_field()
    input_usd_per_million_tokens = token_price_field("input")
    output_usd_per_million_tokens = token_price_field("output")


class WeightHistoryEntrySchema(ma.Schema):
    id = fields.Integer()
    cost_weight = fields.Float()
    quality_weight = fields.Float()
    latency_weight = fields.Float()
    source = fields.String(metadata={"description": "default, manual, optimize or rollback."})
    actor = fields.String(allow_none=True)
    created_at = fields.DateTime()


class PageArgsSchema(StrictSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class RollbackSchema(StrictSchema):
    id = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "The weight_history row whose weights to restore."},
    )
