"""`history` of a person with very many interactions works on SQLite and PostgreSQL.

It used to read the interactions, then ask for their participants and sources with an
``IN (...)`` list of every id: past 65,535 ids PostgreSQL refuses the statement and past
250,000 SQLite does (issue 13). The rows are bulk-inserted so the test stays fast, and
each engine gets just past its own limit: 70,000 on PostgreSQL (its 300,000 took 94 s of
a CI worker, the longest test of the suite), 300,000 on SQLite.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncd.contacts.views import history
from syncd.store.bulk import allocate_ids, bulk_insert
from syncd.store.db import Store
from syncd.store.models import Interaction, Participant

# Past each engine's limit on the parameters of one statement.
COUNTS = {"postgresql": 70_000, "sqlite": 300_000}
NOW = datetime(2026, 6, 1, tzinfo=UTC)
START = NOW - timedelta(days=400)
INTERACTION = ("id", "owner_id", "kind", "category", "is_interaction", "direction")
INTERACTION += ("occurred_at", "subject", "message_key", "created_at")
PARTICIPANT = ("owner_id", "interaction_id", "address", "role", "is_owner", "is_counterpart")


@pytest.mark.slow
def test_history_past_the_engines_parameter_limit(store_url: str) -> None:
    store = Store(store_url)
    count = COUNTS[store.engine.dialect.name]
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
