"""The derived tables after a batch that only appended interactions: merged, not recomputed.

`stats.refresh` and `rollups.refresh` recompute a contact's rows from every participation
the contact has, so a backfill that touches the same people batch after batch reads their
whole history again each time: at 100,000 messages that was a quarter of the backfill's
CPU, and it grows with the store. When a batch's only change to a contact's participations
is new interactions (mail that was not stored before, for a contact that existed before
the batch), the new rows' aggregate is folded into the stored row instead: the latest
times by max, the count of interactions by sum (the new interactions are not among the
counted ones). Every other change (a new contact, whose earlier mail was just linked to it;
a moved event; a removal; a merge) still takes `refresh`. The property tests of
tests/test_contact_stats.py and tests/test_report_rollups.py hold the result equal to a full
recomputation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from syncd.store import rollups, stats
from syncd.store.bulk import bulk_insert
from syncd.store.chunks import IN_CHUNK, chunked
from syncd.store.models import ContactBucket, ContactStats, Participant
from syncd.store.one_of import one_of_each

P = Participant
_STATS_DATES = range(2, 6)  # last_at … last_meeting_at in stats.COLUMNS
_STATS_COUNT = 6  # interactions
_STATS_HORIZON = 7
_BUCKET_DATES = range(4, 8)  # last_at … last_meeting_at in rollups.COLUMNS


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a >= b else b


def fold_new_interactions(
    session: Session, interaction_ids: Sequence[int], contact_ids: Iterable[int]
) -> None:
    """Fold the participations of the new `interaction_ids` into the statistics and the
    buckets of `contact_ids`, whose participations changed in no other way."""
    wanted = set(contact_ids)
    if not wanted or not interaction_ids:
        return
    _fold_stats(session, interaction_ids, wanted)
    _fold_buckets(session, interaction_ids, wanted)


def _fold_stats(session: Session, interaction_ids: Sequence[int], wanted: set[int]) -> None:
    new: dict[int, list[Any]] = {}
    for among in one_of_each(session, P.interaction_id, interaction_ids):
        rows = session.execute(stats.aggregate().where(among))
        for row in rows:
            if row[0] not in wanted:
                continue
            got = new.get(row[0])
            if got is None:
                new[row[0]] = list(row)
                continue
            for i in _STATS_DATES:
                got[i] = _later(got[i], row[i])
            got[_STATS_COUNT] += row[_STATS_COUNT]
            got[_STATS_HORIZON] = _later(got[_STATS_HORIZON], row[_STATS_HORIZON])
    if not new:
        return
    S = ContactStats
    for chunk in chunked(sorted(new)):
        stored = session.execute(
            select(*(getattr(S, c) for c in stats.COLUMNS)).where(S.contact_id.in_(chunk))
        )
        for old in stored:
            merged = new[old[0]]
            for i in _STATS_DATES:
                merged[i] = _later(merged[i], old[i])
            merged[_STATS_COUNT] += old[_STATS_COUNT]
            merged[_STATS_HORIZON] = _later(merged[_STATS_HORIZON], old[_STATS_HORIZON])
        session.execute(delete(S).where(S.contact_id.in_(chunk)))
    bulk_insert(session, cast(Table, S.__table__), stats.COLUMNS, list(new.values()))


def _fold_buckets(session: Session, interaction_ids: Sequence[int], wanted: set[int]) -> None:
    new: dict[tuple[int, str, str | None], list[Any]] = {}
    for among in one_of_each(session, P.interaction_id, interaction_ids):
        rows = session.execute(rollups.buckets().where(among))
        for row in rows:
            if row[0] not in wanted:
                continue
            key = (row[0], row[2], row[3])
            got = new.get(key)
            if got is None:
                new[key] = list(row)
                continue
            for i in _BUCKET_DATES:
                got[i] = _later(got[i], row[i])
    if not new:
        return
    B = ContactBucket
    months = sorted({key[1] for key in new})
    stale: list[int] = []
    for chunk in chunked(sorted({key[0] for key in new})):
        query = select(B.id, *(getattr(B, c) for c in rollups.COLUMNS)).where(
            B.contact_id.in_(chunk)
        )
        if len(months) <= IN_CHUNK:  # a batch spans a few months; the match is by key below
            query = query.where(B.month.in_(months))
        for bucket_id, *old in session.execute(query):
            merged = new.get((old[0], old[2], old[3]))
            if merged is None:
                continue
            for i in _BUCKET_DATES:
                merged[i] = _later(merged[i], old[i])
            stale.append(bucket_id)
    for chunk in chunked(stale):
        session.execute(delete(B).where(B.id.in_(chunk)))
    bulk_insert(session, cast(Table, B.__table__), rollups.COLUMNS, list(new.values()))
