"""The record path's statements, run on a DB-API cursor in the driver's parameter style.

Every record runs the same few INSERTs. Through SQLAlchemy's ``text()`` each one cost
about three times its driver-level execution (bind processors and result set-up per
row), and its Connection and events cost more again; so the record path runs them on the
driver's own cursor, in :func:`aurea.database.write_transaction` (the pool still provides
the connection, and driver errors are still translated). Statements are written with
``%s`` placeholders (psycopg's style); SQLite's driver gets ``?``. Timestamps are
converted exactly as the ``UTCDateTime`` column type converts them, so rows written here
and rows written through the ORM look the same.
"""

from __future__ import annotations

import functools
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
        self._converted: dict[datetime, Any] = {}

    def sql(self, statement: str) -> str:
        return statement.replace("%s", "?") if self.qmark else statement

    def timestamp(self, value: datetime) -> Any:
        """``value`` (aware) as the database stores it.

        A record's statements convert the same few moments again and again (its hour, its
        minute, the moment itself): conversions are remembered, a bounded number of them.
        Equal aware datetimes are the same instant, stored the same way.
        """
        converted = self._converted.get(value)
        if converted is None:
            if len(self._converted) >= TIMESTAMPS_REMEMBERED:
                self._converted.clear()
            converted = self._converted[value] = self._timestamp(value)
        return converted


# Enough for the hours and minutes of a busy hour's records, and their moments in between.
TIMESTAMPS_REMEMBERED = 4096


# Keyed by what the conversion depends on: the suite builds many engines of each kind.
_BY_KIND: dict[tuple[str, str], DriverSql] = {}


def driver_sql(dialect: Dialect) -> DriverSql:
    key = (dialect.name, dialect.paramstyle)
    found = _BY_KIND.get(key)
    if found is None:
        found = _BY_KIND[key] = DriverSql(dialect)  # a race only builds an equal one twice
    return found


# SQLite before 3.32 allowed 999 bind parameters per statement; PostgreSQL allows 65,535.
PARAMETERS_PER_STATEMENT = 999


@functools.lru_cache(maxsize=256)
def _values_statement(statement: str, rows: int, width: int, qmark: bool) -> str:
    placeholder = "?" if qmark else "%s"
    row = f"({', '.join([placeholder] * width)})"
    return statement.replace("{values}", ", ".join([row] * rows))


class DriverCursor:
    """A DB-API cursor that takes statements written with ``%s`` placeholders."""

    def __init__(self, raw: Any, dialect: Dialect) -> None:
        self.raw = raw  # the DB-API cursor
        self.on_postgresql = dialect.name == "postgresql"
        self._sql = driver_sql(dialect)
        self.timestamp = self._sql.timestamp

    def execute(self, statement: str, params: tuple = ()) -> None:
        self.raw.execute(self._sql.sql(statement), params)

    def insert_rows(self, statement: str, rows: list[tuple]) -> list[tuple]:
        """Run ``statement``, whose ``{values}`` stands for a VALUES list, for ``rows``;
        return what its RETURNING clause, if any, returned.

        As few statements as the bind-parameter limit allows: one for a typical group.
        The driver's executemany would run (and SQLite step) the statement once per row,
        each step a round of releasing and retaking the GIL while the write lock is held.
        """
        returned: list[tuple] = []
        if not rows:
            return returned
        per_statement = max(1, PARAMETERS_PER_STATEMENT // len(rows[0]))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            sql = _values_statement(statement, len(chunk), len(chunk[0]), self._sql.qmark)
            self.raw.execute(sql, [value for row in chunk for value in row])
            if self.raw.description is not None:
                returned.extend(self.raw.fetchall())
        return returned

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        self.raw.execute(self._sql.sql(statement), params)
        return self.raw.fetchall()
