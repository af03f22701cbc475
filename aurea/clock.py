"""The service's notion of now: timezone-aware UTC, replaceable for tests and simulations.

An application may set ``AUREA_CLOCK`` in its config to any zero-argument callable
returning an aware datetime (for example a :class:`FrozenClock`); everything that
stamps records or computes windows asks :func:`now`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app, has_app_context


def utcnow() -> datetime:
    """Return the wall-clock time as an aware UTC datetime."""
    return datetime.now(UTC)


def now() -> datetime:
    """Return the application's current time (the wall clock unless AUREA_CLOCK is set)."""
    if has_app_context():
        clock = current_app.config.get("AUREA_CLOCK")
        if clock is not None:
            return clock()
    return utcnow()


class FrozenClock:
    """A clock that stands still until moved: for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current
