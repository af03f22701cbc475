"""The /router endpoints of the seed contract."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE

from aurea import schemas
from aurea.auth import ADMIN, READ, RECORD, current_actor, requires
from aurea.observability.prometheus import observe_record, observe_selection
from aurea.scoring import Weights
from aurea.services import metrics, optimize, records, selection, weights
from aurea.services.scope import Scope

router_blp = Blueprint(
    "router", __name__, url_prefix="/router", description="Model selection and metrics"
)

METRICS_RESPONSE = {
    "description": "Metrics of every registered model, keyed by model name.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": {"$ref": "#/components/schemas/ModelMetrics"},
            }
        }
    },
}


def _weights(data: dict) -> Weights:
    return Weights(data["cost_weight"], data["quality_weight"], data["latency_weight"])


@router_blp.route("/select", methods=["GET"])
@requires(READ)
@router_blp.arguments(schemas.ScopeArgsSchema, location="query", unknown=RAISE)
@router_blp.response(200, schemas.SelectionSchema)
def select(args: dict):
    """Select the best model under the current metrics and weights."""
    chosen = selection.select_model(Scope.from_request(**args))
    observe_selection(chosen.selected_model, chosen.reason)
    return {
        "selected_model": chosen.selected_model,
        "score": chosen.score,
        "weights": chosen.weights.as_dict(),
        "reason": chosen.reason,
        "window": chosen.window,
        "task": chosen.task,
        "task_fallback": chosen.task_fallback,
    }


@router_blp.route("/record", methods=["POST"])
@requires(RECORD)
@router_blp.arguments(schemas.RecordRequestSchema)
@router_blp.response(200, schemas.RecordResponseSchema)
def record(body: dict):
    """Record the outcome of one model request."""
    status = records.record_request(**body)
    if status == records.RECORDED:
        observe_record(body["model"], body["success"])  # only once committed
    return {"status": status, "model": body["model"]}


@router_blp.route("/records", methods=["POST"])
@requires(RECORD)
@router_blp.arguments(schemas.RecordBatchSchema)
@router_blp.response(200, schemas.RecordBatchResponseSchema)
def record_batch(body: dict):
    """Record up to 1,000 requests at once: all are stored or none."""
    items = body["records"]
    statuses = records.record_requests([records.Record(**item) for item in items])
    for item, status in zip(items, statuses, strict=True):
        if status == records.RECORDED:
            observe_record(item["model"], item["success"])
    duplicates = statuses.count(records.DUPLICATE)
    return {
        "status": "recorded",
        "recorded": len(statuses) - duplicates,
        "duplicates": duplicates,
        "results": [
            {"index": i, "status": status, "model": item["model"]}
            for i, (item, status) in enumerate(zip(items, statuses, strict=True))
        ],
    }


@router_blp.route("/metrics", methods=["GET"])
@requires(READ)
@router_blp.arguments(schemas.ScopeArgsSchema, location="query", unknown=RAISE)
@router_blp.doc(responses={"200": METRICS_RESPONSE})
def metrics_view(args: dict):
    """Summarise the metrics of every registered model."""
    return schemas.dump_metrics_summary(metrics.metrics_summary(Scope.from_request(**args)))


@router_blp.route("/optimize", methods=["POST"])
@requires(ADMIN)
@router_blp.arguments(schemas.OptimizeArgsSchema, location="query", unknown=RAISE)
@router_blp.response(200, schemas.OptimizeResponseSchema)
def optimize_view(args: dict):
    """Re-tune the weights from the variation of each criterion across models (weekly)."""
    scope = Scope.from_request(window=args.get("window"))
    result = optimize.optimize_weights(scope, dry_run=args["dry_run"], actor=current_actor())
    return {
        "status": result.status,
        "window": result.window,
        "weights": result.weights.as_dict(),
        "previous_weights": result.previous_weights.as_dict(),
        "reason": result.reason,
        "variation": result.variation,
        "metrics_summary": result.metrics_summary,
    }


@router_blp.route("/weights", methods=["GET"])
@requires(READ)
@router_blp.response(200, schemas.WeightsSchema)
def get_weights():
    """Return the selection weights in force."""
    return weights.current_weights().weights.as_dict()


@router_blp.route("/weights", methods=["PUT"])
@requires(ADMIN)
@router_blp.arguments(schemas.WeightsSchema)
@router_blp.response(200, schemas.WeightsSchema)
@router_blp.alt_response(400, description="The weights do not sum to 1.0.")
def put_weights(body: dict):
    """Replace the selection weights by hand; they must sum to 1.0."""
    return weights.set_weights(_weights(body), actor=current_actor()).weights.as_dict()
