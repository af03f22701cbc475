"""The service's notion of now: timezone-aware UTC, replaceable for tests and simulations.

An application may set ``AUREA_CLOCK`` in its config to any zero-argument callable
returning an aware datetime (for example a :class:`FrozenClock`). Services ask the settings
they were given (:func:`now_in`, ``Context.now``); the HTTP and CLI layers ask :func:`now`,
which reads the running app's settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from flask import current_app, has_app_context


def utcnow() -> datetime:
    """Return the wall-clock time as an aware UTC datetime."""
    return datetime.now(UTC)


def now_in(config: Mapping) -> datetime:
    """The current time under these settings (the wall clock unless AUREA_CLOCK is set)."""
    clock = config.get("AUREA_CLOCK")
    return utcnow() if clock is None else clock()


def now() -> datetime:
    """The running application's current time (the wall clock outside an app context)."""
    return now_in(current_app.config) if has_app_context() else utcnow()


class FrozenClock:
    """A clock that stands still until moved: for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current
