"""Store.around_long_calls: the hooks a gated prefetch (syncd/sync/prefetch.py) relies on, called
around single statements and commits, never for an executemany, and gone afterwards."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from syncd.store.db import Store


def test_single_statements_and_commits_open_an_executemany_does_not(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'syncd.db'}")
    store.check_ready()
    calls: list[str] = []
    with store.around_long_calls(lambda: calls.append("enter"), lambda: calls.append("leave")):
        with store.session() as s, s.begin():
            s.execute(text("CREATE TEMPORARY TABLE t (x INTEGER)"))
            assert calls[-2:] == ["enter", "leave"]
            calls.clear()
            s.execute(text("INSERT INTO t (x) VALUES (:x)"), [{"x": i} for i in range(50)])
            assert "enter" not in calls  # the driver takes the GIL back at every row
            calls.clear()
        assert calls[-1] == "enter"  # the commit
        calls.clear()
    with store.session() as s:
        s.execute(text("SELECT 1"))
    assert calls == []  # the hooks are gone
    store.dispose()


def test_another_threads_statements_are_not_counted(tmp_path: Path) -> None:
    # A gate closed by another thread's statement while this one waits for its reader
    # would leave both waiting.
    store = Store(f"sqlite:///{tmp_path / 'syncd.db'}")
    store.check_ready()
    calls: list[str] = []

    def elsewhere() -> None:
        with store.session() as s:
            s.execute(text("SELECT 1"))

    with store.around_long_calls(lambda: calls.append("enter"), lambda: calls.append("leave")):
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        assert calls == []
        with store.session() as s:
            s.execute(text("SELECT 1"))
        assert calls[-2:] == ["enter", "leave"]  # the SELECT (after the BEGIN's pair)
    store.dispose()
