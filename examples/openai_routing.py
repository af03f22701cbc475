"""Route OpenAI SDK calls with Aurea: select a model, call it, record latency and cost.

Run from the repository root, with Aurea serving (``make run``)::

    python -m examples.openai_routing --aurea-url http://127.0.0.1:8000 --calls 5

``--token`` (or ``AUREA_TOKEN``) is needed once Aurea has API tokens: an ``admin`` token,
or one token that may both read and record. The example never reaches the internet: it
starts a tiny OpenAI-compatible endpoint on 127.0.0.1 in a thread and points the real
``openai`` SDK at it (``base_url=``). Swap that endpoint for a real provider to use it.

Each call prints one JSON line: the routed model, its token usage, the cost computed from
the price table below, the measured latency and the request_id it was recorded under.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from openai import OpenAI

from aurea.client import AureaClient

# USD per million tokens (prompt, completion). Illustrative: use your provider's prices.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4": (30.0, 60.0),
    "gpt-3.5-turbo": (0.5, 1.5),
    "claude-3-opus": (15.0, 75.0),
    "claude-3-sonnet": (3.0, 15.0),
    "llama-2-70b": (0.7, 0.9),
}
DEFAULT_PRICE = (10.0, 30.0)  # for models missing from the table


def call_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """The price of one call in USD, from its token usage."""
    prompt_price, completion_price = PRICES.get(model, DEFAULT_PRICE)
    return (prompt_tokens * prompt_price + completion_tokens * completion_price) / 1_000_000


# -- a fake OpenAI-compatible endpoint ------------------------------------------------------


def fake_usage(model: str, messages: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Deterministic token counts: about one token per word, plus a per-message overhead."""
    prompt = sum(len(str(m.get("content", "")).split()) + 4 for m in messages)
    return prompt, 8 + len(model)


class FakeOpenAIHandler(BaseHTTPRequestHandler):
    """Answers POST /v1/chat/completions like the OpenAI API does (one choice, with usage)."""

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        model = request["model"]
        prompt_tokens, completion_tokens = fake_usage(model, request.get("messages", []))
        time.sleep(0.005 + 0.001 * (len(model) % 10))  # a little "inference" time
        self._send(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"({model}) Hello!"},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the example's output to its JSON lines


@contextmanager
def fake_openai_endpoint() -> Iterator[str]:
    """Serve the fake endpoint on 127.0.0.1 (a free port) in a thread; yield its /v1 URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAIHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# -- routing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutedCall:
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency: float
    request_id: str
    answer: str


def routed_chat(
    router: AureaClient,
    llm: OpenAI,
    messages: list[dict[str, str]],
    task: str | None = None,
) -> RoutedCall:
    """Ask Aurea for the model, call it through the OpenAI SDK, and record the outcome.

    ``track`` times the call and records it when the block ends: as a failure (and the
    SDK's exception is re-raised) if the call raises, else as a success with the cost.
    """
    model = router.select(**({"task": task} if task else {}))["selected_model"]
    with router.track(model, task=task) as call:
        completion = llm.chat.completions.create(model=model, messages=messages)
        usage = completion.usage
        call.cost = call_cost(model, usage.prompt_tokens, usage.completion_tokens)
    return RoutedCall(
        model=model,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost=call.cost,
        latency=call.latency,
        request_id=call.request_id,
        answer=completion.choices[0].message.content or "",
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--aurea-url",
        default=os.environ.get("AUREA_URL", "http://127.0.0.1:8000"),
        help="Aurea's base URL (env AUREA_URL; default http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("AUREA_TOKEN"),
        help="an Aurea API token that may read and record (env AUREA_TOKEN)",
    )
    parser.add_argument("--calls", type=int, default=5, help="how many chat calls to make")
    parser.add_argument("--task", default=None, help="task label to select and record under")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with fake_openai_endpoint() as openai_url, AureaClient(args.aurea_url, args.token) as router:
        llm = OpenAI(base_url=openai_url, api_key="sk-local-fake", max_retries=0, timeout=10)
        for n in range(args.calls):
            messages = [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": f"Say hello to caller number {n}."},
            ]
            result = routed_chat(router, llm, messages, task=args.task)
            print(
                json.dumps(
                    {
                        "model": result.model,
                        "prompt_tokens": result.prompt_tokens,
                        "completion_tokens": result.completion_tokens,
                        "cost": result.cost,
                        "latency": round(result.latency, 6),
                        "request_id": result.request_id,
                        "answer": result.answer,
                    }
                ),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
