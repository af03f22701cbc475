"""Static assets for /docs (Swagger UI) and /redoc, served locally so docs work offline."""

from pathlib import Path

import swagger_ui_bundle
from flask import Blueprint, Flask

REDOC_DIR = Path(__file__).resolve().parent.parent / "static" / "redoc"


def register_docs_assets(app: Flask) -> None:
    """Serve Swagger UI from the swagger-ui-bundle package and ReDoc from aurea/static."""
    app.register_blueprint(
        Blueprint(
            "swagger_ui_assets",
            __name__,
            static_folder=swagger_ui_bundle.swagger_ui_path,
            static_url_path="/static/swagger-ui",
        )
    )
    app.register_blueprint(
        Blueprint(
            "redoc_assets",
            __name__,
            static_folder=str(REDOC_DIR),
            static_url_path="/static/redoc",
        )
    )
