"""The one error the pure decision code raises: every candidate is excluded.

Both decision modes (``routing`` for the weighted score, ``decide`` for utility) raise it with
their own ranking, so a caller can still say why each candidate was left out. The service layer
turns it into ``aurea.services.selection.NoModelQualifies``, the HTTP 422 answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class NothingEligible(Exception):
    def __init__(self, ranking: Sequence[Any]) -> None:
        super().__init__("no model satisfies the constraints")
        self.ranking = list(ranking)
