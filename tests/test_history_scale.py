"""`history` of a person with very many interactions works on SQLite and PostgreSQL.

It used to read the interactions, then ask for their participants and sources with an
``IN (...)`` list of every id: past 65,535 ids PostgreSQL refuses the statement and past
250,000 SQLite does (issue 13). The rows are bulk-inserted so the test stays fast, and
each engine gets just past its own limit: 70,000 on PostgreSQL (its 300,000 took 94 s of
a CI worker, the longest test of the suite; the limit is fixed there). SQLite's limit is
a build option (SQLITE_MAX_VARIABLE_NUMBER: 250,000 in Debian's build, 32,766 by default
since SQLite 3.32, 999 before) that a connection may lower: the test's store connections
run at 999, as on an older build, and the history is 1,200 rows. 300,000 rows under
Debian's limit took 28 s of a quiet worker, the slowest test, for the same question.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from syncd.contacts.views import history
from syncd.store.bulk import allocate_ids, bulk_insert
from syncd.store.db import Store
from syncd.store.models import Interaction, Participant

# Past each engine's limit on the parameters of one statement.
COUNTS = {"postgresql": 70_000, "sqlite": 1_200}
# The parameters one SQLite statement may have on the test's connections (older builds').
SQLITE_VARIABLES = 999
NOW = datetime(2026, 6, 1, tzinfo=UTC)
START = NOW - timedelta(days=400)
INTERACTION = ("id", "owner_id", "kind", "category", "is_interaction", "direction")
INTERACTION += ("occurred_at", "subject", "message_key", "created_at")
PARTICIPANT = ("owner_id", "interaction_id", "address", "role", "is_owner", "is_counterpart")


@pytest.mark.slow
def test_history_past_the_engines_parameter_limit(store_url: str) -> None:
    store = Store(store_url)
    count = COUNTS[store.engine.dialect.name]
    if store.engine.dialect.name == "sqlite":
        _lower_sqlite_variable_limit(store)
    store.check_ready()
    owner = store.ensure_owner("Alex", START)
    with store.session() as s, s.begin():
        ids = allocate_ids(s, Interaction.__table__, count)  # type: ignore[arg-type]
        bulk_insert(
            s,
            Interaction.__table__,  # type: ignore[arg-type]
            INTERACTION,
            [
                (
                    i,
                    owner,
                    "email",
                    "human",
                    True,
                    "in",
                    START + timedelta(seconds=n * 60),
                    f"note {n}",
                    f"mid:{n}@example.org",
                    START,
                )
                for n, i in enumerate(ids)
            ],
        )
        bulk_insert(
            s,
            Participant.__table__,  # type: ignore[arg-type]
            PARTICIPANT,
            [(owner, i, "chatty@example.org", "from", False, True) for i in ids],
        )
    with store.session() as s:
        items = history(s, owner, ["chatty@example.org"], NOW)
        assert len(items) == count
        assert items[0]["subject"] == f"note {count - 1}"
        assert items[0]["participants"] == ["chatty@example.org"]
        assert items[-1]["counterparts"] == ["chatty@example.org"]
        assert len(history(s, owner, ["chatty@example.org"], NOW, limit=3)) == 3
    store.dispose()


def _lower_sqlite_variable_limit(store: Store) -> None:
    """Every connection of `store` refuses a statement with more than SQLITE_VARIABLES
    parameters; checked here, so the history above really is past the limit."""

    def lower(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_VARIABLES)

    event.listen(store.engine, "connect", lower)
    assert COUNTS["sqlite"] > SQLITE_VARIABLES
    with store.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None

        def select_in(n: int) -> None:
            raw.execute(f"SELECT 1 WHERE 1 IN ({', '.join(['?'] * n)})", tuple(range(n)))

        select_in(SQLITE_VARIABLES)
        with pytest.raises(sqlite3.OperationalError, match="too many SQL variables"):
            select_in(SQLITE_VARIABLES + 1)
