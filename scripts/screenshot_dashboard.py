"""Open Aurea's /dashboard in headless Chromium and save a screenshot.

Used by the browser test and to make docs/dashboard.png (without ``--out`` the screenshot goes
to instance/dashboard.png, which git ignores, never over the tracked docs/ copy)::

    make run   # or any Aurea on an empty database
    .venv/bin/python -m scripts.screenshot_dashboard --url http://127.0.0.1:8000 --seed \\
        --out docs/dashboard.png

``--seed`` first records demo traffic and a few weight changes through the client (do it on
a scratch database). Chromium is Debian's (``apt-get install chromium``), driven by
Playwright; ``playwright install`` is never needed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from aurea.client import AureaClient

CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
# Not the tracked docs/dashboard.png: a trial run must not overwrite it (--out docs/... does).
DEFAULT_OUT = Path("instance/dashboard.png")


def chromium_available() -> bool:
    return Path(CHROMIUM_PATH).exists() or shutil.which("chromium") is not None


def dashboard_url(base_url: str, token: str | None = None, **params: str) -> str:
    query = {k: v for k, v in params.items() if v is not None}
    if token:
        query["token"] = token
    return f"{base_url.rstrip('/')}/dashboard" + (f"?{urlencode(query)}" if query else "")


@dataclass
class DashboardPage:
    """A loaded page, its HTTP status, and the console errors and page errors seen."""

    page: object  # playwright.sync_api.Page
    status: int | None
    console_errors: list[str] = field(default_factory=list)

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def open_dashboard(url: str, viewport: dict[str, int] = VIEWPORT) -> Iterator[DashboardPage]:
    """Load ``url`` in headless Chromium; yield the page once loaded."""
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM_PATH if Path(CHROMIUM_PATH).exists() else shutil.which("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport, device_scale_factor=1)
            errors: list[str] = []
            page.on(
                "console",
                lambda message: errors.append(message.text) if message.type == "error" else None,
            )
            page.on("pageerror", lambda error: errors.append(str(error)))
            response = page.goto(url, wait_until="load")
            yield DashboardPage(page, response.status if response else None, errors)
        finally:
            browser.close()


DEMO_MODELS = {
    # model: (typical latency s, cost per call USD, success probability)
    "gpt-4": (1.4, 0.031, 0.99),
    "gpt-3.5-turbo": (0.45, 0.0021, 0.94),
    "claude-3-opus": (1.8, 0.045, 0.99),
    "claude-3-sonnet": (0.8, 0.0092, 0.97),
    "llama-2-70b": (0.95, 0.0011, 0.86),
}


DEMO_TASKS = ("chat", "code", "summarize")
COOLING_MODEL, COOLING_TASK = "llama-2-70b", "code"  # fails on "code" right now: cools down
DISABLED_MODEL = "claude-3-opus"


def seed_demo_data(
    client: AureaClient, per_model: int = 60, seed: int = 7, hours: int = 24, selects: int = 12
) -> None:
    """Record demo traffic for the seed models over the last ``hours`` hours (on three tasks),
    trip a cooldown (COOLING_MODEL on COOLING_TASK), disable DISABLED_MODEL, make a few weight
    changes and ``selects`` select calls."""
    rng = random.Random(seed)
    at = datetime.now(UTC)
    records = []
    for model, (latency, cost, success) in DEMO_MODELS.items():
        for i in range(per_model):
            # spread evenly over the hours (a little jitter), newest a minute ago
            ago = timedelta(hours=hours) * (i + rng.random()) / per_model + timedelta(minutes=1)
            trend = 1 + 0.5 * i / per_model  # slower and dearer toward the newest rows
            records.append(
                {
                    "model": model,
                    "latency": max(0.02, rng.lognormvariate(0, 0.35) * latency * trend),
                    "cost": cost * rng.uniform(0.7, 1.3),
                    "success": rng.random() < success,
                    "task": DEMO_TASKS[i % len(DEMO_TASKS)],
                    "timestamp": (at - ago).isoformat(),
                }
            )
    # Six failures on one task now; two successes on another, so that it is not cooling
    # down on every task it served lately (that would be a cooldown everywhere).
    now_calls = [(COOLING_TASK, False)] * 6 + [(DEMO_TASKS[0], True)] * 2
    records += [
        {"model": COOLING_MODEL, "latency": 2.5, "cost": 0.001, "success": ok, "task": task}
        for task, ok in now_calls
    ]
    client.record_many(records)
    client.set_weights(0.5, 0.3, 0.2)
    client.optimize()
    client.set_weights(0.25, 0.5, 0.25)
    client.set_weights(0.3, 0.45, 0.25)
    client.optimize()
    # The client has no call for the registry's PATCH (admin): its request helper does it.
    client._request("PATCH", f"/router/models/{DISABLED_MODEL}", json={"enabled": False})
    for i in range(selects):
        client.select(window="24h", task=(None, *DEMO_TASKS)[i % (len(DEMO_TASKS) + 1)])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="Aurea's base URL")
    parser.add_argument("--token", default=None, help="a reader or admin token (admin to seed)")
    parser.add_argument("--window", default=None, help="the dashboard's ?window=")
    parser.add_argument("--seed", action="store_true", help="record demo data first")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"where to save it (default: {DEFAULT_OUT})"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not chromium_available():
        print("chromium is not installed: apt-get install -y chromium", file=sys.stderr)
        return 2
    if args.seed:
        with AureaClient(args.url, token=args.token) as client:
            seed_demo_data(client)
    with open_dashboard(dashboard_url(args.url, args.token, window=args.window)) as dash:
        if dash.status != 200 or dash.console_errors:
            print(f"status {dash.status}, console errors: {dash.console_errors}", file=sys.stderr)
            return 1
        print(dash.screenshot(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
