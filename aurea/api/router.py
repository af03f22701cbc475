"""The /router endpoints of the seed contract."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE

from aurea import schemas
from aurea.observability.prometheus import observe_record, observe_selection
from aurea.scoring import Weights
from aurea.services import metrics, optimize, records, selection, weights

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
@router_blp.response(200, schemas.SelectionSchema)
def select():
    """Select the best model under the current metrics and weights."""
    chosen = selection.select_model()
    observe_selection(chosen.selected_model, chosen.reason)
    return {
        "selected_model": chosen.selected_model,
        "score": chosen.score,
        "weights": chosen.weights.as_dict(),
        "reason": chosen.reason,
    }


@router_blp.route("/record", methods=["POST"])
@router_blp.arguments(schemas.RecordRequestSchema)
@router_blp.response(200, schemas.RecordResponseSchema)
def record(body: dict):
    """Record the outcome of one model request."""
    model = records.record_request(body["model"], body["latency"], body["cost"], body["success"])
    observe_record(model, body["success"])  # only once the record is committed
    return {"status": "recorded", "model": model}


@router_blp.route("/metrics", methods=["GET"])
@router_blp.doc(responses={"200": METRICS_RESPONSE})
def metrics_view():
    """Summarise the metrics of every registered model."""
    return schemas.dump_metrics_summary(metrics.metrics_summary())


@router_blp.route("/optimize", methods=["POST"])
@router_blp.arguments(schemas.OptimizeArgsSchema, location="query", unknown=RAISE)
@router_blp.response(200, schemas.OptimizeResponseSchema)
def optimize_view(args: dict):
    """Re-tune the weights from the variation of each criterion across models (weekly)."""
    result = optimize.optimize_weights(dry_run=args["dry_run"])
    return {
        "status": result.status,
        "weights": result.weights.as_dict(),
        "previous_weights": result.previous_weights.as_dict(),
        "reason": result.reason,
        "variation": result.variation,
        "metrics_summary": result.metrics_summary,
    }


@router_blp.route("/weights", methods=["GET"])
@router_blp.response(200, schemas.WeightsSchema)
def get_weights():
    """Return the selection weights in force."""
    return weights.current_weights().weights.as_dict()


@router_blp.route("/weights", methods=["PUT"])
@router_blp.arguments(schemas.WeightsSchema)
@router_blp.response(200, schemas.WeightsSchema)
@router_blp.alt_response(400, description="The weights do not sum to 1.0.")
def put_weights(body: dict):
    """Replace the selection weights by hand; they must sum to 1.0."""
    return weights.set_weights(_weights(body)).weights.as_dict()
