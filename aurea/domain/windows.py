"""Windows of recent data and retention ages, as named in the API and the CLI.

A window covers whole UTC hours, because aggregates are kept per hour: the window
``N`` at time ``t`` covers every record from the start of the hour containing
``t - N`` up to ``t``, so it holds between N and N + 1 hour of data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def floor_to_hour(moment: datetime) -> datetime:
    """Return the start of the UTC hour containing ``moment``."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


WINDOWS: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}

_DURATION = re.compile(r"^(\d+)([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Window:
    name: str
    length: timedelta | None

    def start(self, now: datetime) -> datetime | None:
        """First bucket start included at ``now``; None means since the beginning."""
        if self.length is None:
            return None
        return floor_to_hour(now - self.length)


def parse_window(name: str) -> Window:
    """Return the named window; raise ValueError for names outside WINDOWS."""
    if name not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}; got {name!r}")
    return Window(name, WINDOWS[name])


def parse_age(text: str) -> timedelta:
    """Parse a positive age such as ``90d``, ``12h`` or ``4w``."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"expected a positive age such as 90d, 12h or 4w; got {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
