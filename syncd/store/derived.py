"""Tables derived from the participations, per contact: recomputed for some contacts after
a write, or rebuilt whole (a migration, a repair). `contact_stats` (stats.py) and
`contact_buckets` (rollups.py) are both kept this way, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from syncd.store.chunks import chunked


def refresh(
    session: Session,
    table: Any,
    columns: Sequence[str],
    rows: Select[Any],
    contact_col: Any,
    contact_ids: Iterable[int | None],
) -> None:
    """Delete and recompute `table`'s rows of `contact_ids` (None and repeats ignored) from
    `rows`, the aggregate over every contact, restricted by `contact_col`."""
    for chunk in chunked(sorted({c for c in contact_ids if c is not None})):
        session.execute(delete(table).where(table.contact_id.in_(chunk)))
        session.execute(
            insert(table).from_select(list(columns), rows.where(contact_col.in_(chunk)))
        )


def rebuild_all(
    session: Session,
    table: Any,
    columns: Sequence[str],
    rows: Select[Any],
    owner_col: Any,
    owner_id: int | None = None,
) -> int:
    """Recompute every row of `table` (of one owner, or all); returns how many rows."""
    gone = delete(table)
    if owner_id is not None:
        gone = gone.where(table.owner_id == owner_id)
        rows = rows.where(owner_col == owner_id)
    session.execute(gone)
    session.execute(insert(table).from_select(list(columns), rows))
    q = select(func.count()).select_from(table)
    if owner_id is not None:
        q = q.where(table.owner_id == owner_id)
    return int(session.scalar(q) or 0)
