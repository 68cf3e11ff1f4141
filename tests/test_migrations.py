"""The migrations produce exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
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


@pytest.mark.e2e
def test_a_process_killed_between_revisions_leaves_an_empty_store_that_the_next_start_creates(
    tmp_path: Path,
) -> None:
    """All revisions commit together: SIGKILL after the second revision was applied (the
    `after-migration` failpoint) leaves no tables, not a store at 0001 that every later
    command refuses (Alembic commits each revision apart on SQLite unless told)."""
    db = tmp_path / "syncd.db"
    cfg = tmp_path / "syncd.toml"
    cfg.write_text(
        '[owner]\nname = "Alex Morgan"\naddresses = ["alex@example.com"]\n'
        f'timezone = "Europe/Berlin"\n\n[store]\nurl = "sqlite:///{db}"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "SYNCD_STATE_DIR": str(tmp_path / "state")}
    cmd = [sys.executable, "-m", "syncd", "--config", str(cfg)]
    killed = subprocess.run(
        [*cmd, "init"], env={**env, "SYNCD_FAILPOINTS": "after-migration"}, capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL
    with sqlite3.connect(db) as conn:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == []
    after = subprocess.run(
        [*cmd, "contacts", "list", "--json"], env=env, capture_output=True, text=True
    )
    assert after.returncode == 0, after.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (SCHEMA_HEAD,)
        ]
