"""The monthly rollup `syncd report` reads (`contact_buckets`), kept equal to a recomputation.

One row per contact, UTC month and thread, with the latest real mail each way and the
latest meeting there: what the active network of a month and the contacts reached in a
period need, without reading the participations. It is maintained exactly as the contact
statistics are (syncd/store/stats.py): every path that adds, moves or removes counterpart
participations calls `refresh` with the contacts it touched, right after `stats.refresh`
and in the same transaction; `rebuild_all` recomputes everything (migration 0005).

`buckets()` is the aggregate itself, also what the report computes live for a contact
whose statistics it does not trust (no row, or a participation still ahead of `now`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from syncd.store import derived
from syncd.store.models import ContactBucket, Interaction, Participant
from syncd.store.sqltime import month_of

P = Participant
COLUMNS = (
    "contact_id",
    "owner_id",
    "month",
    "thread_key",
    "last_at",
    "last_in_at",
    "last_out_at",
    "last_meeting_at",
)


def buckets(now: datetime | None = None) -> Select[Any]:
    """Per contact, month and thread: the columns of COLUMNS, over the real counterpart
    participations (those that count at `now`, when given)."""
    return _all_buckets() if now is None else _buckets(now)


@functools.cache
def _all_buckets() -> Select[Any]:
    """`buckets()`, built once (a Select is immutable): ingest uses it in every batch."""
    return _buckets(None)


def _buckets(now: datetime | None) -> Select[Any]:
    email_in_thread = and_(P.kind == "email", Interaction.thread_key.is_not(None))
    real: ColumnElement[bool] = P.is_interaction.is_(True)
    if now is not None:
        real = and_(real, P.occurred_at <= now, func.coalesce(P.ends_at, P.occurred_at) <= now)
    month = month_of(func.coalesce(P.ends_at, P.occurred_at))
    columns: list[Any] = [
        P.contact_id,
        func.min(P.owner_id),
        month,
        Interaction.thread_key,
        func.max(P.occurred_at),
        func.max(case((and_(email_in_thread, P.direction == "in"), P.occurred_at))),
        func.max(case((and_(email_in_thread, P.direction == "out"), P.occurred_at))),
        func.max(case((P.kind == "meeting", P.occurred_at))),
    ]
    return (
        select(*columns)
        .join(Interaction, Interaction.id == P.interaction_id)
        .where(P.contact_id.is_not(None), P.is_counterpart == true(), real)
        .group_by(P.contact_id, Interaction.thread_key, month)
    )


def refresh(session: Session, contact_ids: Iterable[int | None]) -> None:
    """Recompute the buckets of `contact_ids` (None and repeats are ignored)."""
    derived.refresh(session, ContactBucket, COLUMNS, buckets(), P.contact_id, contact_ids)


def rebuild_all(session: Session, owner_id: int | None = None) -> int:
    """Recompute every contact's buckets (of one owner, or all); returns how many rows."""
    return derived.rebuild_all(session, ContactBucket, COLUMNS, buckets(), P.owner_id, owner_id)
