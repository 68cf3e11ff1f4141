"""`column IN (values)` for a batch's worth of values, as ONE bound parameter.

SQLAlchemy renders an IN list as one parameter per value, and its Python work per value
(naming, type processing, rendering) cost more than the lookup itself: a backfill's batch
asks for thousands of provider ids, message keys and addresses in every transaction. Here
the values travel as one parameter that the database unpacks: a JSON array read with
`json_each` on SQLite, an array compared with ``= ANY`` on PostgreSQL. Both use the column's
index as an IN list does, and the statement's text is the same whatever the number of
values (one prepared statement, not one per size). Where SQLite lacks the JSON functions, or
a value is one JSON cannot carry exactly (text with a NUL), it is the plain IN list.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from typing import Any, cast

from sqlalchemy import ARRAY, ColumnElement, any_, bindparam, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.types import String

from syncd.store.chunks import chunked


def one_of(session: Session, column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """`column IN values` (a batch's values: bounded) as one bound parameter."""
    clause = _one_parameter(session, column, values)
    return cast("ColumnElement[bool]", column.in_(values) if clause is None else clause)


def one_of_each(
    session: Session, column: Any, values: Collection[Any]
) -> Iterator[ColumnElement[bool]]:
    """`column IN values` for any number of values: one clause with one bound parameter,
    or where that is not possible IN lists of at most IN_CHUNK values each."""
    if not values:
        return
    clause = _one_parameter(session, column, values)
    if clause is not None:
        yield cast("ColumnElement[bool]", clause)
        return
    for chunk in chunked(values):
        yield cast("ColumnElement[bool]", column.in_(chunk))


def _one_parameter(session: Session, column: Any, values: Collection[Any]) -> Any:
    conn = session.connection()
    name = conn.dialect.name
    clause: Any = None
    if name == "postgresql":
        clause = column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    elif name == "sqlite" and has_json(conn):
        payload = _json_array(list(values))
        if payload is not None:
            each = func.json_each(bindparam(None, payload, type_=String())).table_valued("value")
            clause = column.in_(select(each.c.value).scalar_subquery())
    return clause


def one_of_named(dialect_name: str, column: Any, name: str) -> ColumnElement[bool]:
    """`column IN values` with the values bound at execution as the parameter `name`, in
    the form `named_values` gives them (on SQLite only where it gives them at all)."""
    if dialect_name == "postgresql":
        return cast(
            "ColumnElement[bool]", column == any_(bindparam(name, type_=ARRAY(column.type)))
        )
    each = func.json_each(bindparam(name, type_=String())).table_valued("value")
    return cast("ColumnElement[bool]", column.in_(select(each.c.value).scalar_subquery()))


def named_values(session: Session, values: Collection[Any]) -> Any:
    """`values` as a `one_of_named` parameter takes them on this session's database, or
    None where one parameter cannot carry them (then `one_of_each`'s IN lists do)."""
    conn = session.connection()
    name = conn.dialect.name
    if name == "postgresql":
        return list(values)
    if name == "sqlite" and has_json(conn):
        return _json_array(list(values))
    return None


def _json_array(values: list[Any]) -> str | None:
    """`values` as a JSON array, or None when JSON would not carry them exactly."""
    try:
        payload = json.dumps(values, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):  # bytes, NaN: only a bound parameter carries them
        return None
    if "\\u0000" in payload:  # SQLite's JSON functions end text at a NUL
        return None
    return payload


_HAS_JSON: dict[str, bool] = {}


def has_json(conn: Any) -> bool:
    """Whether the SQLite library has the JSON functions (built in since 3.38; before, an
    option that nearly every build enabled)."""
    version = str(conn.dialect.dbapi.sqlite_version)
    got = _HAS_JSON.get(version)
    if got is None:
        try:
            conn.exec_driver_sql("SELECT json_each.value FROM json_each('[1]')").all()
            got = True
        except DBAPIError:  # no such table-valued function
            got = False
        _HAS_JSON[version] = got
    return got
