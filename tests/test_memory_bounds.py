"""What a long-running `syncd run` keeps in memory stays bounded (bench/soak.py measures it)."""

from __future__ import annotations

import gc
from pathlib import Path

from sqlalchemy import select

from syncd.store.db import SQLITE_CACHED_STATEMENTS, Store, migrate
from syncd.store.models import ContactAddress


def _statements() -> int:
    return sum(
        1
        for o in gc.get_objects()
        if type(o).__name__ == "Statement" and type(o).__module__ == "sqlite3"
    )


def test_sqlite_keeps_few_prepared_statements(tmp_path: Path) -> None:
    """Each IN-list size is its own prepared statement; the connection keeps only a few.

    With Python's default of 128 per connection, the daemon's memory grew for half an hour
    as batches of new sizes came (about 16 KB a statement)."""
    store = Store(f"sqlite:///{tmp_path / 'syncd.db'}")
    migrate(store.engine)
    gc.collect()
    before = _statements()
    with store.session() as s:
        for n in range(1, 200):
            s.execute(
                select(ContactAddress.id).where(
                    ContactAddress.address.in_([f"a{i}@example.org" for i in range(n)])
                )
            ).all()
        gc.collect()
        kept = _statements() - before
    store.dispose()
    assert kept <= SQLITE_CACHED_STATEMENTS + 4, kept
