"""GET /: what this service is and where its endpoints are."""

from flask import current_app
from flask_smorest import Blueprint

root_blp = Blueprint("root", __name__, description="Service information")

ENDPOINTS = [
    "GET /router/select",
    "POST /router/record",
    "POST /router/records",
    "GET /router/metrics",
    "POST /router/optimize",
    "GET /router/weights",
    "PUT /router/weights",
    "GET /router/weights/history",
    "POST /router/weights/rollback",
    "GET /router/models",
    "POST /router/models",
    "PATCH /router/models/<name>",
    "GET /dashboard",
    "POST /v1/traces",
]


@root_blp.route("/", methods=["GET"])
@root_blp.response(200)
def index():
    """Describe the service and list its endpoints."""
    return {
        "service": current_app.config["API_TITLE"],
        "version": current_app.config["API_VERSION"],
        "docs": "/docs",
        "redoc": "/redoc",
        "openapi": "/openapi.json",
        "endpoints": ENDPOINTS,
    }
