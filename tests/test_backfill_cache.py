"""A backfill's SQLite connections get a larger page cache and rarer WAL checkpoints, and
go back to the defaults afterwards."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from syncd.store.db import SQLITE_BACKFILL_CACHE_KIB, SQLITE_BACKFILL_CHECKPOINT_PAGES, Store


def _cache_size(store: Store) -> int:
    with store.session() as s:
        return int(s.execute(text("PRAGMA cache_size")).scalar_one())


def _checkpoint(store: Store) -> int:
    with store.session() as s:
        return int(s.execute(text("PRAGMA wal_autocheckpoint")).scalar_one())


def test_the_cache_grows_inside_a_backfill_and_shrinks_after(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'syncd.db'}")
    store.check_ready()
    default, checkpoint = _cache_size(store), _checkpoint(store)
    with store.backfill_cache():
        assert _cache_size(store) == -SQLITE_BACKFILL_CACHE_KIB
        assert _cache_size(store) == -SQLITE_BACKFILL_CACHE_KIB  # and on the next checkout
        assert _checkpoint(store) == SQLITE_BACKFILL_CHECKPOINT_PAGES
    assert (_cache_size(store), _checkpoint(store)) == (default, checkpoint)
    assert default != -SQLITE_BACKFILL_CACHE_KIB and checkpoint != SQLITE_BACKFILL_CHECKPOINT_PAGES
    store.dispose()


def test_a_failed_backfill_gives_the_cache_back(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'syncd.db'}")
    store.check_ready()
    default = _cache_size(store)
    try:
        with store.backfill_cache():
            assert _cache_size(store) == -SQLITE_BACKFILL_CACHE_KIB
            raise RuntimeError("the connection dropped")
    except RuntimeError:
        pass
    assert _cache_size(store) == default
    store.dispose()
