"""`Reader`: a read-only connection that runs SQL text and gives the driver's rows.

`syncd plan` is one short process that reads the store with a dozen statements of SQL text
(syncd/store/snapshot.py) and writes nothing. On SQLite it reads through Python's own
`sqlite3`: importing SQLAlchemy alone took a sixth of the whole command at 50,000 contacts
(0.15-0.19 s of CPU). Everywhere else (PostgreSQL, an in-memory or unusual SQLite URL) the
same statements run on a connection of the store's SQLAlchemy engine.

The statements use SQLAlchemy's spelling of parameters, so that both runners take them
as they are: `:name`, and `IN :name` for a list. An instant is bound as the store keeps
instants: naive UTC, on SQLite as the text SQLAlchemy's DATETIME writes
(`2026-11-25 12:00:00.000000`), which sorts and compares as the instants do.
"""

from __future__ import annotations

import re
import sqlite3
from abc import ABC, abstractmethod
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from syncd.isotime import naive_utc

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

READ_ONLY = "syncd_read_only"  # an execution option: this connection only reads
# The text of an instant in a SQLite store (SQLAlchemy's DATETIME storage format).
SQLITE_INSTANT = "%Y-%m-%d %H:%M:%S.%f"
# `IN :name` as the statements write a list parameter.
_IN_LIST = re.compile(r"IN :(\w+)\b")


class Reader(ABC):
    """A read transaction, begun on first use and rolled back on leaving: `rows` runs a
    statement, `dialect` is "sqlite" or "postgresql"."""

    dialect: str

    @abstractmethod
    def rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Reader:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()


class SqliteReader(Reader):
    """`sqlite3` on a store file, as the engine's connections are set up for reading: the
    same busy timeout and statement cache (syncd/store/db.py), BEGIN DEFERRED (in WAL mode
    a reader never holds the write lock)."""

    dialect = "sqlite"

    def __init__(self, path: str, *, timeout: float, cached_statements: int) -> None:
        self._conn = sqlite3.connect(
            path, timeout=timeout, cached_statements=cached_statements, isolation_level=None
        )
        self._begun = False

    def rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        values: dict[str, Any] = {}
        lists: dict[str, str] = {}
        for name, value in params.items():
            if isinstance(value, datetime):
                values[name] = naive_utc(value).strftime(SQLITE_INSTANT)
            elif isinstance(value, list | tuple):
                names = [f"{name}__{i}" for i in range(len(value))]
                values.update(zip(names, value, strict=True))
                # SQLite takes an empty list: `x IN ()` is false, as SQLAlchemy's empty IN.
                lists[name] = "(" + ", ".join(f":{n}" for n in names) + ")"
            else:
                values[name] = value
        if lists:
            sql = _IN_LIST.sub(lambda m: f"IN {lists[m[1]]}" if m[1] in lists else m[0], sql)
        if not self._begun:
            self._conn.execute("BEGIN DEFERRED")
            self._begun = True
        return self._conn.execute(sql, values).fetchall()

    def close(self) -> None:
        try:
            if self._begun:
                self._conn.execute("ROLLBACK")  # it only read
        finally:
            self._conn.close()


class EngineReader(Reader):
    """The same on a connection of a SQLAlchemy engine (read-only: BEGIN DEFERRED on
    SQLite, see syncd/store/db.py)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.dialect = conn.dialect.name

    def rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        from sqlalchemy import DateTime, bindparam, text

        binds = [
            bindparam(k, type_=DateTime())
            if isinstance(v, datetime)
            else bindparam(k, expanding=True)
            for k, v in params.items()
            if isinstance(v, datetime | list | tuple)
        ]
        values = {
            k: naive_utc(v) if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v
            for k, v in params.items()
        }
        stmt = text(sql)
        result = self._conn.execute(stmt.bindparams(*binds) if binds else stmt, values)
        try:
            return list(result.cursor.fetchall())
        finally:
            result.close()

    def close(self) -> None:
        self._conn.close()


def sqlite_file(url: str) -> str | None:
    """The file of a plain SQLite store URL (`sqlite:///path`), when it exists; None for
    any other URL (PostgreSQL, in memory, a query string or an escaped character, where
    SQLAlchemy's reading of the URL is the one to follow)."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if not path or path == ":memory:" or any(c in path for c in "?%#"):
                return None
            return path if Path(path).is_file() else None
    return None


def engine_reader(engine: Engine) -> EngineReader:
    """A read-only connection of `engine` (BEGIN DEFERRED on SQLite, syncd/store/db.py)."""
    return EngineReader(engine.execution_options(**{READ_ONLY: True}).connect())
