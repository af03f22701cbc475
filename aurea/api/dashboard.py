"""GET /dashboard: a server-rendered page of models, scores, the selection and weight history.

No script and no external asset: the page works offline, and its Content-Security-Policy
forbids scripts altogether. It needs the reader permission like the metrics it shows; as a
browser cannot easily send a bearer header, ``?token=`` is accepted here (and only here).
The token is never logged (request logs hold the path without its query string) and the
page is sent with ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``, so the
URL that holds it is neither passed on by links nor kept by caches.

Query parameters: ``window``, ``task``, ``min_requests``, ``refresh`` (seconds; off unless
given) and ``token``. A bad value is a 400: JSON in the service's error shape, or a short
HTML page when the request prefers HTML (a browser). See docs/dashboard.md.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import jsonify, make_response, render_template, request
from flask_smorest import Blueprint
from marshmallow import RAISE

from aurea import schemas
from aurea.app_context import service_context
from aurea.auth import READ, requires
from aurea.charts import SOURCE_LEGEND, weight_chart
from aurea.domain.scoring import CRITERIA
from aurea.domain.windows import WINDOWS
from aurea.errors import error_body
from aurea.services.dashboard import dashboard
from aurea.services.decisions import RECENT_DECISIONS
from aurea.services.scope import Scope
from aurea.storage.models import NO_TASK
from aurea.trends import NEW_MODEL_ROWS, trend_charts

dashboard_blp = Blueprint("dashboard", __name__, description="Human-readable dashboard")

HTML_RESPONSE = {
    "description": "The dashboard, as an HTML page.",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}


@dashboard_blp.route("/dashboard", methods=["GET"])
@requires(READ, allow_query_token=True)
@dashboard_blp.arguments(
    schemas.DashboardArgsSchema(), location="query", unknown=RAISE, error_status_code=400
)
@dashboard_blp.doc(responses={"200": HTML_RESPONSE})
def dashboard_view(args: dict):
    """Show per-model trends, states, metrics and score components, the tasks, the selection,
    the recent decisions (of the worker serving the page) and the weight history."""
    token = args.pop("token", None)
    refresh = args.pop("refresh", None)
    ctx = service_context()
    data = dashboard(ctx, Scope.from_request(ctx.config, **args))
    page = render_template(
        "dashboard.html",
        d=data,
        chart=weight_chart(data.history),
        trend_charts=trend_charts(data.trends, data.styles),
        criteria=CRITERIA,
        legend=SOURCE_LEGEND,
        windows=list(WINDOWS),
        refresh_choices=REFRESH_CHOICES,
        refresh=refresh,
        token=token,
        no_task=NO_TASK,
        new_model_rows=NEW_MODEL_ROWS,
        decisions_kept=RECENT_DECISIONS,
    )
    response = make_response(page)
    response.headers.update(HEADERS)
    return response


REFRESH_CHOICES = (10, 30, 60, 300)


@dashboard_blp.errorhandler(400)
def bad_parameters(error):
    """A bad query parameter: which one and why, as JSON or (for a browser) HTML."""
    data = getattr(error, "data", None) or {}
    errors = data.get("messages") or {}
    status = HTTPStatus.BAD_REQUEST
    message = "Invalid dashboard parameters."
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        fields = errors.get("query", {})
        page = render_template(
            "dashboard_error.html",
            message=message,
            fields=fields,
            token=request.args.get("token"),
        )
        response = make_response(page, status.value)
    else:
        response = make_response(jsonify(error_body(status, message, errors)), status.value)
    response.headers.update(HEADERS)
    return response


@dashboard_blp.app_template_filter("seconds")
def format_seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


@dashboard_blp.app_template_filter("usd")
def format_usd(value: float | None) -> str:
    if value is None:
        return "–"
    if value == 0:
        return "$0"
    return f"${value:.5f}" if value < 0.01 else f"${value:.4f}"


@dashboard_blp.app_template_filter("percent")
def format_percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


@dashboard_blp.app_template_filter("task")
def format_task(value: str | None) -> str:
    return "(no task)" if value in (None, NO_TASK) else value


@dashboard_blp.app_template_filter("unit")
def format_unit(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
