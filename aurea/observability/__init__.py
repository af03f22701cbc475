"""Observability: readiness probe, Prometheus metrics and per-request JSON logs.

The HTTP endpoints (``/healthz``, ``/readyz``, ``/metrics``) are views in ``aurea.api``;
this package holds what they and the request hooks use.
"""

from __future__ import annotations

from time import perf_counter

from flask import Flask, Response, current_app, g, request

from aurea.observability.probe_database import register_probe_engine
from aurea.observability.prometheus import observe_http_request
from aurea.observability.readiness import register_readiness
from aurea.observability.request_log import answer_fields, log_fields, use_gunicorn_error_log

STARTED = "aurea_request_started"


def register_observability(app: Flask) -> None:
    """Install gunicorn logging, the probe engine, the readiness check and request hooks.

    Call it before other ``before_request`` hooks are registered, so the duration of a
    request also covers them (authentication, for instance).
    """
    use_gunicorn_error_log(app)
    register_probe_engine(app)
    register_readiness(app)
    app.before_request(_start_timer)
    app.after_request(_observe_request)


def _start_timer() -> None:
    g.setdefault(STARTED, perf_counter())


def _observe_request(response: Response) -> Response:
    # A request refused before our hook ran (by an earlier hook) still gets counted.
    seconds = perf_counter() - g.get(STARTED, perf_counter())
    rule = request.url_rule.rule if request.url_rule is not None else None
    observe_answer(
        rule, request.method, request.path, request.remote_addr, response.status_code, seconds
    )
    return response


def observe_answer(
    rule: str | None,
    method: str,
    path: str,
    remote_addr: str | None,
    status: int,
    seconds: float,
) -> None:
    """Count and log one answered request (in an application context: ``g.actor``)."""
    observe_http_request(rule, method, status, seconds)
    log_fields(
        current_app.logger,
        answer_fields(method, path, remote_addr, g.get("actor"), status, seconds),
    )
