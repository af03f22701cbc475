"""What a use case is given by its caller, as plain values: no Flask globals in services.

A view, a CLI command, the simulator or a test builds one :class:`Context` and passes it to
the service it calls (``aurea.app_context.service_context`` builds it from the running Flask
app). It carries the database session and the settings (AUREA_CLOCK among them: services ask
``Context.now`` or ``aurea.clock.now_in(config)``, never the app), and the state a worker
process shares between requests: the read and token caches, the random draws of selections,
the log of recent decisions and the set of models known to be registered.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from aurea.clock import now_in
from aurea.services.decisions import DecisionLog
from aurea.storage.cache import ReadCache


@dataclass(frozen=True)
class Context:
    session: Session  # a Session or a scoped_session (flask-sqlalchemy's db.session)
    config: Mapping[str, Any]  # the AUREA_* settings (aurea.settings.Config)
    cache: ReadCache = field(default_factory=lambda: ReadCache(0))
    token_cache: ReadCache = field(default_factory=lambda: ReadCache(0))
    rng: random.Random = field(default_factory=random.Random)
    decisions: DecisionLog = field(default_factory=DecisionLog)
    registered: set[str] = field(default_factory=set)  # models seen registered

    def now(self) -> datetime:
        """The current time under these settings (AUREA_CLOCK, else the wall clock)."""
        return now_in(self.config)
