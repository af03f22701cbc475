"""The model registry: /router/models."""

from __future__ import annotations

from aurea import schemas
from aurea.api.json_body import Blueprint
from aurea.app_context import service_context
from aurea.auth import ADMIN, READ, requires
from aurea.clock import now
from aurea.services import registry

models_blp = Blueprint(
    "models", __name__, url_prefix="/router/models", description="The model registry"
)


def _dump(info: registry.ModelInfo) -> dict:
    at = now()
    return {
        "name": info.name,
        "description": info.description,
        "enabled": info.enabled,
        "state": info.state(at),
        "cooldown_until": info.cooldown_until(at),
        "cooling_tasks": info.cooling_tasks(at),
        "input_usd_per_million_tokens": info.input_usd_per_million_tokens,
        "output_usd_per_million_tokens": info.output_usd_per_million_tokens,
        "created_at": info.created_at,
    }


@models_blp.route("", methods=["GET"])
@requires(READ)
@models_blp.response(200, schemas.ModelSchema(many=True))
def list_models():
    """List registered models with their state: active, cooling_down (until when) or disabled."""
    return [_dump(m) for m in registry.list_models(service_context())]


@models_blp.route("", methods=["POST"])
@requires(ADMIN)
@models_blp.arguments(schemas.ModelCreateSchema())
@models_blp.response(201, schemas.ModelSchema)
@models_blp.alt_response(409, description="The model is already registered.")
def create_model(body: dict):
    """Register a model so select may choose it, with its token prices if given."""
    return _dump(registry.create_model(service_context(), **body))


@models_blp.route("/<path:name>", methods=["PATCH"])
@requires(ADMIN)
@models_blp.arguments(schemas.ModelPatchSchema())
@models_blp.response(200, schemas.ModelSchema)
@models_blp.alt_response(404, description="No model of that name is registered.")
def update_model(body: dict, name: str):
    """Enable or disable a model (disabled models keep their history), describe it, or set
    its token prices (null clears one)."""
    return _dump(registry.update_model(service_context(), name, **body))
