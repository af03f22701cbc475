"""GET /healthz (the process is up) and GET /readyz (it can serve: database and schema ready).

Both stay open without authentication, for load balancers and orchestrators.
"""

from __future__ import annotations

from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields

from aurea.observability.readiness import check_readiness

health_blp = Blueprint("health", __name__, description="Liveness and readiness probes")


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})


class ReadinessSchema(HealthSchema):
    revision = fields.String(
        required=True, metadata={"description": "Alembic revision of the database."}
    )


@health_blp.route("/healthz", methods=["GET"])
@health_blp.response(200, HealthSchema)
def healthz():
    """Liveness: the process answers. Never touches the database."""
    return {"status": "ok"}


@health_blp.route("/readyz", methods=["GET"])
@health_blp.response(200, ReadinessSchema)
# The message says why: "database unreachable" or "migrations not at head (db: X, head: Y)".
@health_blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def readyz():
    """Readiness: the database answers and is migrated to the head revision."""
    readiness = check_readiness()
    if not readiness.ready:
        abort(503, message=readiness.message)
    return {"status": "ok", "revision": readiness.revision}
