"""Bulk writes for ingest: many rows in one DBAPI ``executemany``, ids allocated in one query.

SQLAlchemy's executemany compiles and type-processes every row as a dict (about 15 µs a row
here), which was a fifth of a backfill. Ingest writes three narrow tables at 4–5 rows per
message, so these helpers take rows as tuples in a fixed column order, convert the few
typed values (datetimes) themselves, and hand the list to the driver in one call. They run
on the session's connection, inside its transaction.

Values must already be what the driver stores: `bulk_insert` only converts aware datetimes
to the naive UTC the `UTCDateTime` columns hold (a string in SQLite's format for SQLite, a
datetime for PostgreSQL). A test compares rows written here with rows written by the ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.orm import Session

from syncd.isotime import naive_utc
from syncd.store.models import UTCDateTime

Row = Sequence[Any]


def _sqlite_datetime(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DateTime type stores: always six fractional digits, so
    that string comparison in SQL orders the way time does."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # ingest's times are nearly all UTC already
        value = value.astimezone(UTC)
    # "YYYY-MM-DD HH:MM:SS.ffffff" then "+00:00": the first 26 characters are the naive text.
    return value.isoformat(" ", "microseconds")[:26]


def _naive_utc(value: datetime | None) -> datetime | None:
    return None if value is None else naive_utc(value)


def _check_aware(value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} reached the store")


def _db_instant(dialect_name: str) -> Callable[[datetime | None], Any]:
    """An aware datetime as this database's driver takes it."""
    return _sqlite_datetime if dialect_name == "sqlite" else _naive_utc


def instant_converter(session: Session) -> Callable[[datetime | None], Any]:
    """What `bulk_insert` turns an aware datetime into for this session's database, for a
    caller that converts each instant once and passes `converted=True` (participants repeat
    their message's times: one conversion per message, not per row)."""
    convert = _db_instant(session.connection().dialect.name)

    def checked(value: datetime | None) -> Any:
        _check_aware(value)
        return convert(value)

    return checked


def bulk_insert(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    *,
    converted: bool = False,
) -> None:
    """INSERT `rows` (tuples in the order of `columns`) into `table` with one executemany.

    With `converted`, the rows are tuples whose instants `instant_converter` already made."""
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    cols = [table.c[name] for name in columns]
    convert_to = _db_instant(dialect.name)
    dt_positions = [i for i, c in enumerate(cols) if isinstance(c.type, UTCDateTime)]
    if converted:
        pass  # tuples whose instants the caller made with instant_converter
    elif dt_positions:
        # A batch repeats the same instants (a message's time on each of its participants).
        seen: dict[datetime | None, Any] = {None: None}
        made: list[tuple[Any, ...]] = []
        for row in rows:
            out = list(row)
            for i in dt_positions:
                value = out[i]
                db = seen.get(value, seen)
                if db is seen:
                    _check_aware(value)
                    db = seen[value] = convert_to(value)
                out[i] = db
            made.append(tuple(out))
        rows = made
    else:
        rows = [tuple(r) for r in rows]
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    prep = dialect.identifier_preparer
    sql = (
        f"INSERT INTO {prep.format_table(table)} "
        f"({', '.join(prep.format_column(c) for c in cols)}) "
        f"VALUES ({', '.join([mark] * len(cols))})"
    )
    conn.exec_driver_sql(sql, rows)


def allocate_ids(session: Session, table: Table, count: int) -> list[int]:
    """`count` fresh primary keys for `table`, to insert rows with known ids in one batch.

    PostgreSQL draws them from the column's sequence, safe beside other writers. SQLite
    has no sequence, but every syncd transaction there begins IMMEDIATE and so holds the
    write lock: nobody can insert between reading the highest id and writing after it.
    """
    if count <= 0:
        return []
    conn = session.connection()
    name = table.name
    if conn.dialect.name == "postgresql":
        result = conn.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": name, "n": count},
        )
        return [int(r[0]) for r in result]
    top = conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {name}")).scalar_one()
    return list(range(int(top) + 1, int(top) + 1 + count))
