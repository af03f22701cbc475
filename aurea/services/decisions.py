"""The last RECENT_DECISIONS answers of GET /router/select, kept in memory for the dashboard.

Per worker process: each gunicorn worker keeps its own bounded deque (nothing is written to
the database, nothing is shared), so the dashboard shows the decisions of the worker that
serves it, and a restart forgets them. Appending costs a lock and a deque append.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime

RECENT_DECISIONS = 200


@dataclass(frozen=True)
class Decision:
    """One select answer and why: its reason, and the candidates left out and why."""

    at: datetime
    selected_model: str
    reason: str
    mode: str
    window: str
    task: str | None
    score: float | None
    explored: bool
    candidates: int
    excluded: tuple[tuple[str, str], ...]  # (model, excluded_by)
    reused: bool = False  # served from this worker's cache of finished answers


class DecisionLog:
    """A thread-safe bounded log, newest last."""

    def __init__(self, size: int = RECENT_DECISIONS) -> None:
        self._items: deque[Decision] = deque(maxlen=size)
        self._lock = threading.Lock()

    def append(self, decision: Decision) -> None:
        with self._lock:
            self._items.append(decision)

    def newest_first(self) -> list[Decision]:
        with self._lock:
            return list(reversed(self._items))

    def __len__(self) -> int:
        return len(self._items)


def decision_of(chosen, at: datetime) -> Decision:
    """The Decision of a Selection (aurea.services.selection), made at ``at``."""
    if chosen.utility_ranking:
        ranked = [(r.estimate.model, r.estimate.excluded_by) for r in chosen.utility_ranking]
    else:
        ranked = [(e.candidate.model, e.excluded_by) for e in chosen.ranking]
    return Decision(
        at=at,
        selected_model=chosen.selected_model,
        reason=chosen.reason,
        mode=chosen.mode,
        window=chosen.window,
        task=chosen.task,
        score=chosen.score,
        explored=chosen.explored,
        candidates=len(ranked),
        excluded=tuple((model, why) for model, why in ranked if why),
    )


def remember(log: DecisionLog, decision: Decision) -> None:
    log.append(decision)


def remember_reused(log: DecisionLog, decision: Decision, at: datetime) -> None:
    """A cached answer served again at ``at``: logged as a decision of its own."""
    remember(log, dataclasses.replace(decision, at=at, reused=True))
