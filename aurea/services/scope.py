"""What a read is about: a window of recent data and, optionally, one task."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from aurea.domain.scoring import ModelStats, stats_for_task
from aurea.domain.windows import Window, parse_window
from aurea.services.statistics import load_latency_bins, load_window_stats


@dataclass(frozen=True)
class Scope:
    """A window, an optional task, and how many task rows make task statistics count."""

    window: Window
    task: str | None = None
    min_requests: int = 1

    @classmethod
    def from_request(
        cls,
        config: Mapping,
        window: str | None = None,
        task: str | None = None,
        min_requests: int | None = None,
    ) -> Scope:
        """Fill what the caller left out from the configuration (AUREA_WINDOW and
        AUREA_MIN_REQUESTS)."""
        return cls(
            window=parse_window(window or config["AUREA_WINDOW"]),
            task=task,
            min_requests=config["AUREA_MIN_REQUESTS"] if min_requests is None else min_requests,
        )


def cache_key(kind: str, scope: Scope, at: datetime) -> tuple:
    """Key a cached answer by what it depends on, including the window's first hour at
    ``at``."""
    return (kind, scope.window.name, scope.window.start(at), scope.task, scope.min_requests)


@dataclass(frozen=True)
class ScopedStats:
    """The statistics each model is scored on in a scope, and where they came from."""

    stats: dict[str, ModelStats]
    last_updated: dict[str, datetime]
    task_fallback: frozenset[str]
    latency_bins: dict[str, dict[int, int]] | None = None

    def ordered(self) -> list[ModelStats]:
        return [self.stats[name] for name in sorted(self.stats)]


def load_scoped_stats(
    session: Session, scope: Scope, at: datetime, with_latency_bins: bool = False
) -> ScopedStats:
    """Read the scope's statistics at ``at`` from the aggregates (task ones where there are
    enough)."""
    since = scope.window.start(at)
    overall = load_window_stats(session, since)
    bins = load_latency_bins(session, since) if with_latency_bins else None
    if scope.task is None:
        return ScopedStats(overall.stats, overall.last_updated, frozenset(), bins)

    specific = load_window_stats(session, since, scope.task)
    stats, fallback = stats_for_task(overall.stats, specific.stats, scope.min_requests)
    last_updated = {m: (overall if m in fallback else specific).last_updated[m] for m in stats}
    if bins is not None:
        task_bins = load_latency_bins(session, since, scope.task)
        bins = {m: (bins if m in fallback else task_bins).get(m, {}) for m in stats}
    return ScopedStats(stats, last_updated, fallback, bins)
