"""Blueprints whose JSON bodies must come as JSON: another Content-Type gets a 415.

webargs reads a body sent without a JSON Content-Type as no body at all, so a record posted
as ``text/plain`` (curl's ``-d`` sends ``application/x-www-form-urlencoded``) was refused
with 422 "Missing data for required field" on every field, which says nothing of the cause.
Any ``application/json`` (with parameters such as ``; charset=utf-8``) or ``+json`` type is
accepted, as webargs accepts them.
"""

from __future__ import annotations

import flask_smorest
from flask_smorest import abort
from webargs.flaskparser import FlaskParser, is_json_request

JSON = "application/json"


class JsonBodyParser(FlaskParser):
    def _raw_load_json(self, req):
        if not is_json_request(req):
            got = req.content_type or "no Content-Type"
            abort(
                415,
                message=f"The body must be JSON, sent with Content-Type: {JSON}.",
                errors={"json": [f"Expected Content-Type {JSON}, got {got}."]},
            )
        return super()._raw_load_json(req)


class Blueprint(flask_smorest.Blueprint):
    """flask_smorest's Blueprint; a view with a JSON body also documents its 415."""

    ARGUMENTS_PARSER = JsonBodyParser()

    def arguments(self, schema, *, location="json", **kwargs):
        decorator = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return decorator

        def documented(view):
            parsed = decorator(view)
            parsed._apidoc["arguments"]["responses"][415] = "UNSUPPORTED_MEDIA_TYPE"
            return parsed

        return documented
