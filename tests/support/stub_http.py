"""A scripted HTTP server on 127.0.0.1 that answers with canned responses, in order."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Canned:
    """One answer: a status, a JSON body (or raw text), headers, and a delay before answering."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    text: str | None = None


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    at: float


class StubServer:
    """Answer each request with the next canned response (the last one repeats)."""

    def __init__(self, *responses: Canned) -> None:
        if not responses:
            raise ValueError("at least one canned response")
        self.responses = list(responses)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next(self, seen: Seen) -> Canned:
        with self._lock:
            self.seen.append(seen)
            index = min(len(self.seen), len(self.responses)) - 1
            return self.responses[index]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                canned = stub._next(
                    Seen(
                        method=self.command,
                        path=parts.path,
                        query=parts.query,
                        headers=dict(self.headers.items()),
                        body=json.loads(raw) if raw else None,
                        at=time.monotonic(),
                    )
                )
                if canned.delay:
                    time.sleep(canned.delay)
                if canned.text is not None:
                    payload, content_type = canned.text.encode(), "text/html"
                else:
                    payload, content_type = json.dumps(canned.body).encode(), "application/json"
                try:
                    self.send_response(canned.status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in canned.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
