"""The /router endpoints of the seed contract."""

from __future__ import annotations

import functools
from collections import Counter

from flask import current_app, g, jsonify, request
from marshmallow import RAISE

from aurea import schemas
from aurea.api.json_body import Blueprint
from aurea.app_context import service_context
from aurea.auth import ADMIN, READ, RECORD, current_actor, requires
from aurea.domain.routing import Constraints
from aurea.domain.scoring import Weights
from aurea.observability.prometheus import observe_record, observe_selection
from aurea.services import decisions, metrics, optimize, pricing, records, selection, weights
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


def _constraints(args: dict, scope: Scope) -> Constraints:
    models = args.get("models")
    return Constraints(
        models=tuple(dict.fromkeys(models)) if models else None,
        exclude=frozenset(args.get("exclude") or ()),
        max_cost=args.get("max_cost"),
        max_latency=args.get("max_latency"),
        min_success_rate=args.get("min_success_rate"),
        min_requests=scope.min_requests,
    )


def _rank_entry(entry) -> dict:
    stats = entry.candidate.stats
    return {
        "model": entry.candidate.model,
        "score": entry.score,
        "cost_score": entry.cost_score,
        "quality_score": entry.quality_score,
        "latency_score": entry.latency_score,
        "total_requests": stats.total_requests if stats else 0,
        "success_rate": stats.success_rate if stats else None,
        "average_latency": stats.average_latency if stats else None,
        "average_cost": stats.average_cost if stats else None,
        "p95_latency": entry.candidate.p95_latency,
        "excluded_by": entry.excluded_by,
    }


def _utility_rank_entry(ranked, chosen) -> dict:
    e = ranked.estimate
    est = chosen.estimates.get(e.model)
    return {
        "model": e.model,
        "score": ranked.parts.expected_utility,
        "cost_score": None,
        "quality_score": None,
        "latency_score": None,
        "total_requests": est.requests if est else 0,
        "success_rate": e.posterior.mean,
        "average_latency": e.latency,
        "average_cost": e.cost,
        "p95_latency": chosen.p95.get(e.model),
        "excluded_by": e.excluded_by,
        "expected_utility": ranked.parts.as_dict(),
        "p_success_interval": list(e.posterior.interval()),
        "p_best": ranked.p_best,
        "tried": ranked.tried,
    }


def _objective(chosen) -> dict:
    if chosen.objective is None:
        return {"mode": chosen.mode, "success_value": None, "latency_cost": None, "max_price": None}
    return {"mode": chosen.mode, **chosen.objective.as_dict()}


class ReusedAnswers:
    """The finished JSON answers to one select query, one per outcome drawn so far.

    A selection is a per-request draw from inputs that are cached: the answer's body depends
    only on the query, those inputs and the outcome of the draw (the model and the reason),
    so each request draws again and reuses the body rendered for its outcome.
    """

    def __init__(self, chosen) -> None:
        self.redraw = chosen.redraw
        self.source = chosen.source
        self.bodies: dict[tuple[str, str], tuple[bytes, object]] = {}

    def keep(self, chosen, body: bytes, decision) -> None:
        self.bodies[(chosen.selected_model, chosen.reason)] = (body, decision)

    def serve(self):
        """This request's draw and its rendered answer, or None if not rendered yet."""
        chosen = self.redraw()
        found = self.bodies.get((chosen.selected_model, chosen.reason))
        return None if found is None else (chosen, *found)


def reuse_answers(view):
    """Serve a repeated select query from this worker's read cache, without re-parsing it.

    What a selection reads is reused for AUREA_CACHE_SECONDS; so is, per query string, how to
    draw from it and the JSON answers already rendered (see ReusedAnswers). They are dropped
    with the inputs, and as soon as this worker writes. Only successful answers are kept; a
    query string reaches the cache only after being parsed once. A draw whose outcome has
    no rendered answer yet goes through the view (which draws again: the same distribution).
    """

    @functools.wraps(view)
    def answer(*args, **kwargs):
        ctx = service_context()
        cache = ctx.cache
        key = ("select-answer", request.query_string)
        reused = cache.get(key)
        if reused is not None:
            served = reused.serve()
            if served is not None:
                chosen, body, decision = served
                observe_selection(chosen.selected_model, chosen.reason)
                decisions.remember_reused(ctx.decisions, decision, ctx.now())
                return current_app.response_class(body, mimetype="application/json")
        generation = cache.generation  # an answer computed across a write is not kept
        response = view(*args, **kwargs)
        chosen = g.get("aurea_selection")
        if response.status_code == 200 and chosen and chosen.reusable_until is not None:
            if reused is None or reused.source is not chosen.source:
                reused = ReusedAnswers(chosen)
                # no longer than the inputs it was computed from
                cache.put(key, reused, cache.read_since(generation), expires=chosen.reusable_until)
            reused.keep(chosen, response.get_data(), g.aurea_decision)
        return response

    return answer


@router_blp.route("/select", methods=["GET"])
@requires(READ)
@reuse_answers
@router_blp.arguments(schemas.SelectArgsSchema(), location="query", unknown=RAISE)
@router_blp.response(200, schemas.SelectionSchema)
@router_blp.alt_response(400, description="The weight overrides do not sum to 1.0.")
@router_blp.alt_response(422, description="Invalid parameters, or no model qualifies.")
def select(args: dict):
    """Select the best model under the current metrics, weights and constraints."""
    ctx = service_context()
    scope = Scope.from_request(
        ctx.config, args.get("window"), args.get("task"), args.get("min_requests")
    )
    override = None
    if "cost_weight" in args:  # the schema made sure all three came together
        override = weights.require_sum_to_one(_weights(args), location="query")
    overrides = {k: args[k] for k in ("success_value", "latency_cost", "max_price") if k in args}
    chosen = selection.select_model(
        ctx, scope, _constraints(args, scope), override, args.get("objective"), overrides
    )
    g.aurea_selection = chosen  # for reuse_answers
    observe_selection(chosen.selected_model, chosen.reason)
    g.aurea_decision = decisions.decision_of(chosen, ctx.now())
    decisions.remember(
        ctx.decisions, g.aurea_decision
    )  # the dashboard's recent decisions (per worker)
    if chosen.mode == "utility":
        ranking = [_utility_rank_entry(r, chosen) for r in chosen.utility_ranking]
    else:
        ranking = [_rank_entry(e) for e in chosen.ranking]
    return {
        "selected_model": chosen.selected_model,
        "score": chosen.score,
        "weights": chosen.weights.as_dict(),
        "reason": chosen.reason,
        "explored": chosen.explored,
        "weights_version": chosen.weights_version,
        "weights_override": override is not None,
        "window": chosen.window,
        "task": chosen.task,
        "task_fallback": chosen.task_fallback,
        "objective": _objective(chosen),
        "expected_utility": chosen.parts.as_dict() if chosen.parts else None,
        "p_best": chosen.p_best,
        "ranking": ranking,
    }


@router_blp.route("/record", methods=["POST"])
@requires(RECORD)
@router_blp.arguments(schemas.RecordRequestSchema())
@router_blp.response(200, schemas.RecordResponseSchema)
def record(body: dict):
    """Record the outcome of one model request, its cost given or from its token counts."""
    ctx = service_context()
    (priced,) = pricing.with_costs(ctx.session, [body], batch=False)
    status = records.record_request(ctx, **priced)
    if status == records.RECORDED:
        observe_record(priced["model"], priced["success"])  # only once committed
    return {"status": status, "model": priced["model"]}


@router_blp.route("/records", methods=["POST"])
@requires(RECORD)
@router_blp.arguments(schemas.RecordBatchSchema())
@router_blp.response(200, schemas.RecordBatchResponseSchema)
def record_batch(body: dict):
    """Record up to 1,000 requests at once: all are stored or none."""
    ctx = service_context()
    items = pricing.with_costs(ctx.session, body["records"])
    statuses = records.record_requests(ctx, [records.Record(**item) for item in items])
    stored = Counter(
        (item["model"], item["success"])
        for item, status in zip(items, statuses, strict=True)
        if status == records.RECORDED
    )
    for (model, success), count in stored.items():
        observe_record(model, success, count)
    return jsonify(batch_answer(items, statuses))


def batch_answer(items: list[dict], statuses: list[str]) -> dict:
    """The batch's answer, already as RecordBatchResponseSchema dumps it.

    It holds only ints and strs in the schema's shape, which marshmallow would return
    unchanged (``tests/unit/test_batch_answer.py``), so the view sends it as it is:
    dumping 500 results field by field was a quarter of the batch endpoint's time in
    process (``python -m bench.inprocess --profile-batch``).
    """
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
@router_blp.arguments(schemas.ScopeArgsSchema(), location="query", unknown=RAISE)
@router_blp.doc(responses={"200": METRICS_RESPONSE})
def metrics_view(args: dict):
    """Summarise the metrics of every registered model."""
    ctx = service_context()
    summary = metrics.metrics_summary(ctx, Scope.from_request(ctx.config, **args))
    return schemas.dump_metrics_summary(summary)


@router_blp.route("/optimize", methods=["POST"])
@requires(ADMIN)
@router_blp.arguments(schemas.OptimizeArgsSchema(), location="query", unknown=RAISE)
@router_blp.response(200, schemas.OptimizeResponseSchema)
def optimize_view(args: dict):
    """Re-tune the weights from the variation of each criterion across models (weekly)."""
    ctx = service_context()
    scope = Scope.from_request(ctx.config, window=args.get("window"))
    result = optimize.optimize_weights(ctx, scope, dry_run=args["dry_run"], actor=current_actor())
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
    return weights.current_weights(service_context()).weights.as_dict()


@router_blp.route("/weights", methods=["PUT"])
@requires(ADMIN)
@router_blp.arguments(schemas.WeightsSchema())
@router_blp.response(200, schemas.WeightsSchema)
@router_blp.alt_response(400, description="The weights do not sum to 1.0.")
def put_weights(body: dict):
    """Replace the selection weights by hand; they must sum to 1.0."""
    chosen = weights.set_weights(service_context(), _weights(body), actor=current_actor())
    return chosen.weights.as_dict()


def _history_entry(record: weights.WeightRecord) -> dict:
    return {
        "id": record.id,
        **record.weights.as_dict(),
        "source": record.source,
        "actor": record.actor,
        "created_at": record.created_at,
    }


TOTAL_COUNT_HEADER = {
    "X-Total-Count": {
        "description": "Number of weight_history rows in all pages.",
        "schema": {"type": "integer"},
    }
}


@router_blp.route("/weights/history", methods=["GET"])
@requires(READ)
@router_blp.arguments(schemas.PageArgsSchema(), location="query", unknown=RAISE)
@router_blp.response(200, schemas.WeightHistoryEntrySchema(many=True), headers=TOTAL_COUNT_HEADER)
def weights_history(args: dict):
    """List every weight change, newest first (paginated: page, page_size)."""
    rows, total = weights.weight_history(service_context(), args["page"], args["page_size"])
    return [_history_entry(r) for r in rows], {"X-Total-Count": str(total)}


@router_blp.route("/weights/rollback", methods=["POST"])
@requires(ADMIN)
@router_blp.arguments(schemas.RollbackSchema())
@router_blp.response(200, schemas.WeightHistoryEntrySchema)
@router_blp.alt_response(404, description="No weight_history row with that id.")
def weights_rollback(body: dict):
    """Restore the weights of an earlier weight_history row (appends a `rollback` row)."""
    restored = weights.rollback_weights(service_context(), body["id"], actor=current_actor())
    return _history_entry(restored)
