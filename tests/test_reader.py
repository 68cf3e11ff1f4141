"""`Store.read_connection()`: on a SQLite file Python's sqlite3, elsewhere the engine's
connection (syncd/store/reader.py). Both take the same SQL text and parameters and give
the same rows: instants bound as the store keeps them, lists as IN lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from syncd.store.db import Store
from syncd.store.reader import EngineReader, Reader, SqliteReader, engine_reader, sqlite_file

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
QUERY = (
    "SELECT name, created_at FROM owners WHERE created_at > :after AND id IN :ids"
    " AND name IN :names ORDER BY name"
)


def _store(url: str) -> Store:
    store = Store(url)
    store.check_ready()
    for n in range(5):
        store.ensure_owner(f"owner {n}", T0 + timedelta(minutes=n))
    return store


def _queries(reader: Reader, ids: list[int]) -> list[list[tuple[object, ...]]]:
    # An instant in another zone compares as the same instant in UTC.
    berlin = (T0 + timedelta(minutes=1)).astimezone(timezone(timedelta(hours=1)))
    return [
        reader.rows(QUERY, {"after": berlin, "ids": ids, "names": ("owner 2", "owner 4")}),
        reader.rows(QUERY, {"after": T0, "ids": ids[:1], "names": ["owner 0", "owner 1"]}),
        reader.rows(QUERY, {"after": T0 - timedelta(days=1), "ids": [], "names": ["owner 0"]}),
        reader.rows("SELECT COUNT(*) FROM owners WHERE name = :name", {"name": "owner 3"}),
    ]


def test_sqlite_reads_the_same_rows_as_the_engine(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = _store(url)
    with store.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT id FROM owners ORDER BY id"))]
    assert sqlite_file(url) == str(tmp_path / "s.db")
    with store.read_connection() as raw, engine_reader(store.engine) as engine:
        assert isinstance(raw, SqliteReader) and raw.dialect == engine.dialect == "sqlite"
        got = _queries(raw, ids)
        assert got == _queries(engine, ids)
    assert [[r[0] for r in rows] for rows in got[:3]] == [["owner 2", "owner 4"], [], []]
    assert got[3] == [(1,)]
    assert got[0][0][1] == "2026-11-25 12:02:00.000000"  # the store's text instant, raw
    store.dispose()


def test_postgres_reads_through_the_engine(pg_url: str) -> None:
    store = _store(pg_url)
    assert sqlite_file(pg_url) is None
    with store.read_connection() as reader:
        assert isinstance(reader, EngineReader) and reader.dialect == "postgresql"
        rows = reader.rows(QUERY, {"after": T0, "ids": [], "names": ["owner 1"]})
        assert rows == []
        [(count,)] = reader.rows("SELECT COUNT(*) FROM owners WHERE name = :n", {"n": "owner 1"})
        assert count == 1
    store.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///{dir}/s.db?mode=ro",
        "sqlite:///{dir}/with%20space.db",
        "sqlite:///{dir}/missing.db",
        "postgresql+psycopg://postgres@127.0.0.1/test",
    ],
)
def test_other_urls_are_left_to_sqlalchemy(url: str, tmp_path: Path) -> None:
    (tmp_path / "s.db").touch()
    (tmp_path / "with%20space.db").touch()
    assert sqlite_file(url.format(dir=tmp_path)) is None


def test_a_store_file_that_is_not_a_database_gets_the_stores_error(tmp_path: Path) -> None:
    from syncd.errors import StoreError

    bad = tmp_path / "s.db"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(f"sqlite:///{bad}").check_ready()


def test_an_old_schema_is_still_refused(tmp_path: Path) -> None:
    from syncd.errors import StoreError

    url = f"sqlite:///{tmp_path / 's.db'}"
    store = _store(url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0007'"))
    store.dispose()
    with pytest.raises(StoreError, match="at schema 0007"):
        Store(url).check_ready()
