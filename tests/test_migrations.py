"""The migrations produce exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from syncd.store.db import SCHEMA_HEAD, Store, current_revision, head_revision, migrate
from syncd.store.models import Base


def test_migrations_match_models(store_url: str) -> None:
    store = Store(store_url)
    assert migrate(store.engine) == (None, head_revision())
    with store.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    assert migrate(store.engine)[0] == head_revision()  # a second run is a no-op
    assert current_revision(store.engine) == head_revision()
    store.dispose()


def test_schema_head_constant_matches_the_migrations() -> None:
    assert head_revision() == SCHEMA_HEAD


def test_sqlite_pragmas(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store(f"sqlite:///{tmp_path}/s.db")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    store.dispose()
