"""Time arithmetic in SQL that SQLite and PostgreSQL both run, as SQLAlchemy expressions.

The store keeps naive UTC datetimes: SQLite as text (`YYYY-MM-DD HH:MM:SS.ffffff`),
PostgreSQL as `timestamp without time zone`. Differences between two of them, and the
month they fall in, have no common SQL spelling, so each engine gets its own here (the
SQLite form is also what `str()` of a statement shows):

- `epoch_seconds(x)`: seconds since 1970-01-01 UTC as a float. SQLite:
  `(julianday(x) - 2440587.5) * 86400.0` (julianday reads the stored text, fractional
  seconds included; a double keeps about a millisecond); PostgreSQL: `EXTRACT(EPOCH FROM x)`,
  which takes a timestamp without time zone as UTC.
- `month_of(x)`: `'YYYY-MM'` of a datetime, in UTC.

(`iso(value)`, the spelling of a time in JSON and tables, is in syncd/isotime.py.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

JULIAN_UNIX_EPOCH = 2440587.5


class epoch_seconds(FunctionElement[float]):  # lower case: it reads as the SQL it becomes
    """Seconds since the Unix epoch of a stored (naive UTC) datetime."""

    type = Float()
    inherit_cache = True
    name = "epoch_seconds"


class month_of(FunctionElement[str]):
    """The `YYYY-MM` (UTC) of a stored datetime."""

    type = String()
    inherit_cache = True
    name = "month_of"


@compiles(epoch_seconds)
@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"((julianday({arg}) - {JULIAN_UNIX_EPOCH}) * 86400.0)"


@compiles(epoch_seconds, "postgresql")
def _epoch_pg(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"CAST(EXTRACT(EPOCH FROM {arg}) AS DOUBLE PRECISION)"


@compiles(month_of)
@compiles(month_of, "sqlite")
def _month_sqlite(element: month_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)})"


@compiles(month_of, "postgresql")
def _month_pg(element: month_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM')"
