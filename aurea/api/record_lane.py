"""The record lane: ``POST /router/record`` with a plain body, answered before Flask dispatches.

Single records are the endpoint clients call most, once per LLM call, and Flask's generic
work per request (the request context, URL matching, the hooks, the response object's
finalization) cost about as much as recording the record itself: in ``make bench`` it
held single records to about 0.4 of the hello-world yardstick. This WSGI layer answers the
common case itself, with the same functions the view uses, and leaves everything else to
Flask:

- it answers only ``POST /router/record`` with a JSON body of known length that
  :func:`aurea.plain_records.plain_item` accepts (exactly what ``RecordRequestSchema``
  would load from it, ``tests/unit/test_plain_records.py``), sent with a token allowed to
  record (or while the service runs open);
- the answer is the view's: :func:`aurea.api.router.record_one`, sent by Flask's JSON
  provider, counted in Prometheus and logged as one JSON line like any request;
- an error while recording (the database is unavailable, a model refused in strict mode)
  is answered by the application's error handlers, in a request context made for it;
- any other request, a body that is not plain, or a refused token goes to Flask untouched
  (the body it read is handed on), which answers it with its per-field messages (or a 415
  for a body not sent as JSON, :mod:`aurea.api.json_body`).

``tests/api/test_record_lane.py`` checks that the lane's answers, logs and metrics are
the ones Flask gives for the same request.
"""

from __future__ import annotations

import io
from time import perf_counter

from flask import Flask, g
from webargs.core import is_json, parse_json
from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_content_length

from aurea import schemas
from aurea.api.router import record_one
from aurea.auth import RECORD, Forbidden, Unauthenticated, authorize
from aurea.observability import STARTED, observe_answer
from aurea.plain_records import plain_item

RECORD_PATH = "/router/record"  # also the URL rule's text, the metrics' endpoint label
# Longer bodies cannot be a plain record (its labels are at most a few hundred characters).
MAX_PLAIN_BODY = 16 * 1024


class RecordLane:
    """WSGI middleware in front of Flask's own ``wsgi_app``."""

    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app  # Flask's: every request the lane does not answer

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != RECORD_PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        started = perf_counter()
        body = self._plain_body(environ)
        response = None if body is None else self._answer(environ, body, started)
        if response is None:
            return self.wsgi_app(environ, start_response)
        return response(environ, start_response)

    def _plain_body(self, environ) -> dict | None:
        """The loaded body if it is a plain record; None: Flask decides. Once the body is
        read, ``wsgi.input`` holds a copy of it for Flask."""
        mimetype, _ = parse_options_header(environ.get("CONTENT_TYPE", ""))
        if not is_json(mimetype.lower()):
            return None
        length = get_content_length(environ)  # as werkzeug reads it (None: chunked, unknown)
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        if length is None or not 0 < length <= MAX_PLAIN_BODY:
            return None
        if limit is not None and length > limit:
            return None  # Flask answers 413
        raw = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(raw)
        try:  # decoded as webargs decodes it (strict UTF-8), not as request.get_json would
            data = parse_json(raw)
        except ValueError:
            return None
        return plain_item(data, schemas.MAX_RECORDED_VALUE)

    def _answer(self, environ, body: dict, started: float):
        """The response to a plain record, or None for a refused token (Flask answers it)."""
        with self.app.app_context():
            g.setdefault(STARTED, started)
            try:
                try:
                    g.actor = authorize(environ.get("HTTP_AUTHORIZATION"), RECORD)
                except (Unauthenticated, Forbidden):
                    return None
                response = self._json_response(record_one(body))
                observe_answer(
                    RECORD_PATH,
                    "POST",
                    RECORD_PATH,
                    environ.get("REMOTE_ADDR"),
                    200,
                    perf_counter() - started,
                )
                return response
            except Exception as error:  # noqa: BLE001 - answered as Flask answers it
                return self._error_response(environ, error)

    def _json_response(self, answer: dict):
        """A 200 with ``answer`` as Flask's JSON provider sends it (``jsonify``), without
        building a Response object for it: the same bytes and headers."""
        provider = self.app.json
        if (provider.compact is None and self.app.debug) or provider.compact is False:
            return provider.response(answer)  # indented: leave it to Flask
        body = f"{provider.dumps(answer, separators=(',', ':'))}\n".encode()
        headers = [("Content-Type", provider.mimetype), ("Content-Length", str(len(body)))]

        def respond(_environ, start_response):
            start_response("200 OK", headers)
            return [body]

        return respond

    def _error_response(self, environ, error: Exception):
        """Flask's answer to ``error`` (call it while handling it): its error handlers, then
        its after-request hooks (metrics, the request log), as if the view had raised it;
        what those raise in turn gets Flask's 500 (or is re-raised when testing), as in
        ``Flask.wsgi_app``."""
        with self.app.request_context(environ):
            try:
                answer = self.app.handle_user_exception(error)  # re-raises if unhandled
                return self.app.finalize_request(answer)
            except Exception as unhandled:  # noqa: BLE001
                return self.app.handle_exception(unhandled)
