"""Alembic environment: runs against the engine syncd hands over (never a URL in a file)."""

from __future__ import annotations

from typing import Any

from alembic import context

from syncd import failpoints
from syncd.store.models import Base

config = context.config
engine = config.attributes["engine"]


_applied_count = 0


def _applied(*_: Any, **__: Any) -> None:
    # From the second revision on: the first one's work is then either committed apart or,
    # as it should be, still inside the one transaction.
    global _applied_count
    _applied_count += 1
    if _applied_count > 1:
        failpoints.hit("after-migration")


with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # SQLite's DDL is transactional (syncd begins its own transactions, see
        # store/db.py), but Alembic assumes otherwise and commits each revision apart: a
        # process killed between two revisions left a store at a partial schema, which the
        # next start refuses. One transaction for all revisions, as on PostgreSQL.
        transactional_ddl=True,
        on_version_apply=_applied,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
