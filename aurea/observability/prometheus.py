"""Prometheus metrics: HTTP traffic, records, selections and the weights in force.

Under gunicorn, ``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker
imports this module; every worker then writes its counters to memory-mapped files there and
a scrape, whichever worker answers it, merges the files of all workers (past and present).
Without that variable (the Flask test client, ``flask run``) the process-local default
registry is exposed instead.

The weights are not stored in the metric files: they live in the database, so a custom
collector reads them at scrape time (``aurea_weight{criterion}``). Every worker then reports
the same, current values, and a change made through any worker (or by the optimize cron
job) shows at the next scrape. They are read through the probe engine
(``aurea.observability.probe_database``), so a hung database delays a scrape by at most
``AUREA_READY_TIMEOUT`` seconds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from aurea.observability.probe_database import probe_engine
from aurea.services.weights import weights_in_force

log = logging.getLogger(__name__)

# Decided once, at import, like prometheus_client's own choice of value storage.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

UNMATCHED_ENDPOINT = "unmatched"
OTHER_METHOD = "other"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "aurea_http_requests_total",
    "HTTP requests answered, by URL rule, method and status code.",
    ["endpoint", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "aurea_http_request_duration_seconds",
    "Time spent answering HTTP requests, by URL rule and method.",
    ["endpoint", "method"],
)
RECORDS = Counter(
    "aurea_records_total",
    "Model calls recorded (committed), by model and outcome (success or failure).",
    ["model", "outcome"],
)
SELECTIONS = Counter(
    "aurea_selections_total",
    "Models chosen by GET /router/select, by model and reason.",
    ["model", "reason"],
)


def observe_http_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """Count one answered request; ``endpoint`` is the URL rule (None if no route matched)."""
    endpoint_label = endpoint or UNMATCHED_ENDPOINT
    # Clients choose the method: anything unusual shares one label value.
    method_label = method if method in KNOWN_METHODS else OTHER_METHOD
    HTTP_REQUESTS.labels(endpoint_label, method_label, str(status)).inc()
    HTTP_REQUEST_DURATION.labels(endpoint_label, method_label).observe(seconds)


def observe_record(model: str, success: bool, count: int = 1) -> None:
    """Count committed records of one model and outcome."""
    RECORDS.labels(model, "success" if success else "failure").inc(count)


def observe_selection(model: str, reason: str) -> None:
    """Count one answered selection."""
    SELECTIONS.labels(model, reason).inc()


class WeightsCollector:
    """``aurea_weight{criterion}``: the weights in force, read from the database per scrape.

    Omitted (and a warning logged) when the database does not answer in time: the rest of
    the scrape stays available, which matters most during a database outage.
    """

    def collect(self) -> Iterator[Metric]:
        try:
            # The probe engine: a hung database must not stall the scrape (nor its timeout).
            with Session(probe_engine()) as session:
                weights = weights_in_force(session).weights
        except sa_exc.SQLAlchemyError as error:
            log.warning("weights omitted from /metrics: %s", getattr(error, "orig", error))
            return
        family = GaugeMetricFamily(
            "aurea_weight", "Selection weight in force, by criterion.", labels=["criterion"]
        )
        family.add_metric(["cost"], weights.cost)
        family.add_metric(["quality"], weights.quality)
        family.add_metric(["latency"], weights.latency)
        yield family


class _DefaultRegistryCollector:
    """The process-local default registry, as one collector of a scrape registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def scrape_registry() -> CollectorRegistry:
    """A registry for one scrape: every worker's metrics (or this process's) and the weights."""
    registry = CollectorRegistry()
    if MULTIPROCESS:
        MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistryCollector())
    registry.register(WeightsCollector())
    return registry


def render_metrics(accept: str | None) -> tuple[bytes, str]:
    """Return the exposition (text format unless OpenMetrics is asked for) and its type."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(scrape_registry()), content_type
