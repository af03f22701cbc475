"""Observability: readiness probe, Prometheus metrics and per-request JSON logs.

The HTTP endpoints (``/healthz``, ``/readyz``, ``/metrics``) are views in ``aurea.api``;
this package holds what they and the request hooks use.
"""

from __future__ import annotations

from flask import Flask

from aurea.observability.probe_database import register_probe_engine
from aurea.observability.readiness import register_readiness


def register_observability(app: Flask) -> None:
    """Install the probe engine and the readiness check."""
    register_probe_engine(app)
    register_readiness(app)
