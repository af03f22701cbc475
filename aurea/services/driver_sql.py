"""The record path's statements, sent in the driver's own parameter style.

Every record runs the same few INSERTs. Through SQLAlchemy's ``text()`` each one cost
about three times its driver-level execution (bind processors and result set-up per
row), so the record path sends them with ``Connection.exec_driver_sql``: SQLAlchemy still
owns the connection, the transaction, the pool and the translation of driver errors, but
the parameters go to the driver as they are. Statements are written with ``%s``
placeholders (psycopg's style); SQLite's driver gets ``?``. Timestamps are converted
exactly as the ``UTCDateTime`` column type converts them, so rows written here and rows
written through the ORM look the same.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Dialect

from aurea.models import UTCDateTime


class DriverSql:
    """Statements and timestamp conversion for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.qmark = dialect.paramstyle == "qmark"
        convert = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
        self._timestamp: Callable[[datetime], Any] = convert or (lambda value: value)

    def sql(self, statement: str) -> str:
        return statement.replace("%s", "?") if self.qmark else statement

    def timestamp(self, value: datetime) -> Any:
        """``value`` (aware) as the database stores it."""
        return self._timestamp(value)


# Keyed by what the conversion depends on: the suite builds many engines of each kind.
_BY_KIND: dict[tuple[str, str], DriverSql] = {}


def driver_sql(dialect: Dialect) -> DriverSql:
    key = (dialect.name, dialect.paramstyle)
    found = _BY_KIND.get(key)
    if found is None:
        found = _BY_KIND[key] = DriverSql(dialect)  # a race only builds an equal one twice
    return found
