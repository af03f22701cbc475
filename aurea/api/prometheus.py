"""GET /metrics: Prometheus exposition of the service's metrics."""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from aurea.observability.prometheus import render_metrics

prometheus_blp = Blueprint("prometheus", __name__, description="Prometheus metrics")

METRICS_RESPONSE = {
    "description": "Metrics in the Prometheus text format (OpenMetrics if the Accept header "
    "asks for it).",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}


@prometheus_blp.route("/metrics", methods=["GET"])
@prometheus_blp.doc(responses={"200": METRICS_RESPONSE})
def metrics():
    """Scrape the service's metrics: HTTP traffic, records, selections, weights."""
    body, content_type = render_metrics(request.headers.get("Accept"))
    return Response(body, content_type=content_type)
