"""HTTP layer: thin views that load, call one service, dump and return."""

from flask import Flask
from flask_smorest import Api

from aurea.api.dashboard import dashboard_blp
from aurea.api.docs import register_docs_assets
from aurea.api.health import health_blp
from aurea.api.models import models_blp
from aurea.api.otlp import otlp_blp
from aurea.api.prometheus import prometheus_blp
from aurea.api.root import root_blp
from aurea.api.router import router_blp
from aurea.auth import BEARER_SCHEME
from aurea.schemas import ModelMetricsSchema, RecordRequestSchema


def register_blueprints(app: Flask, api: Api) -> None:
    # Named explicitly: GET /router/metrics refers to it by $ref.
    api.spec.components.schema("ModelMetrics", schema=ModelMetricsSchema)
    # A record needs its cost, or token counts to price (RecordRequestSchema checks it).
    api.spec.components.schema(
        "RecordRequest",
        {"anyOf": [{"required": [name]} for name in ("cost", "input_tokens", "output_tokens")]},
        schema=RecordRequestSchema,
    )
    api.spec.components.security_scheme("bearerAuth", BEARER_SCHEME)
    api.register_blueprint(root_blp)
    api.register_blueprint(router_blp)
    api.register_blueprint(models_blp)
    api.register_blueprint(health_blp)
    api.register_blueprint(prometheus_blp)
    api.register_blueprint(dashboard_blp)
    api.register_blueprint(otlp_blp)
    register_docs_assets(app)
