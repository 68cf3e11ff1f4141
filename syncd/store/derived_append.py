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

The fold is SQL, two statements a batch, with no row through Python (merged in Python, it
held the GIL 2.8 s of the 7.6 s that storing 100,000 messages did in bench/store_batches.py,
most of it turning stored rows into datetimes and back). `contact_stats`: one INSERT …
SELECT of the new rows' aggregate with ON CONFLICT (contact_id) DO UPDATE, the times by
`_later`, a CASE (SQLite's max(a, b) is null when either is, PostgreSQL's GREATEST ignores
nulls). `contact_buckets`, whose key (contact, month, thread, and a thread may be null) has
no unique constraint: the new rows and the stored buckets of their contacts and months
grouped by key (the aggregate max ignores nulls on both engines), inserted with ON CONFLICT
(id) DO UPDATE: a stored bucket keeps its id and takes the merged times, a new key gets a
new row.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    case,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from syncd.store import rollups, stats
from syncd.store.models import ContactBucket, ContactStats, Participant
from syncd.store.one_of import named_values, one_of_each, one_of_named

P = Participant
_STATS = cast(Table, ContactStats.__table__)
_BUCKETS = cast(Table, ContactBucket.__table__)
_DATES = ("last_at", "last_in_at", "last_out_at", "last_meeting_at")


def _later(a: Any, b: Any) -> ColumnElement[Any]:
    """The later of the times `a` and `b`; the other where one is null."""
    return case((a.is_(None), b), (or_(b.is_(None), a >= b), a), else_=b)


def fold_new_interactions(
    session: Session, interaction_ids: Sequence[int], contact_ids: Iterable[int]
) -> None:
    """Fold the participations of the new `interaction_ids` into the statistics and the
    buckets of `contact_ids`, whose participations changed in no other way."""
    wanted = sorted(set(contact_ids))
    if not wanted or not interaction_ids:
        return
    dialect = session.connection().dialect.name
    among, mine = named_values(session, interaction_ids), named_values(session, wanted)
    if among is not None and mine is not None:
        params = {"fold_interactions": among, "fold_contacts": mine}
        for statement in _folds(dialect):
            session.execute(statement, params)
        return
    insert = _insert(dialect)
    for among in one_of_each(session, P.interaction_id, interaction_ids):
        for mine in one_of_each(session, _CONTACT, wanted):
            session.execute(_fold_stats(insert, among, mine))
            session.execute(_fold_buckets(insert, dialect, among, mine))


# `contact_id + 0`: the contacts only filter the new rows. As a plain column, SQLite would
# read them through the per-contact index: every participation they ever had.
_CONTACT = P.contact_id + literal_column("0")


def _insert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@functools.cache
def _folds(dialect: str) -> tuple[Executable, Executable]:
    """The two statements, built once for each database (the values are parameters)."""
    among = one_of_named(dialect, P.interaction_id, "fold_interactions")
    mine = one_of_named(dialect, _CONTACT, "fold_contacts")
    insert = _insert(dialect)
    return _fold_stats(insert, among, mine), _fold_buckets(insert, dialect, among, mine)


def _fold_stats(insert: Any, *where: ColumnElement[bool]) -> Any:
    new = insert(_STATS).from_select(list(stats.COLUMNS), stats.aggregate().where(*where))
    old = _STATS.c
    return new.on_conflict_do_update(
        index_elements=[old.contact_id],
        set_={
            **{c: _later(old[c], new.excluded[c]) for c in (*_DATES, "horizon_at")},
            "interactions": old.interactions + new.excluded.interactions,
        },
    )


def _fold_buckets(insert: Any, dialect: str, *where: ColumnElement[bool]) -> Any:
    n = rollups.buckets().where(*where).cte("n")
    contact, month = n.c[0], n.c[2]
    b = _BUCKETS.alias("b")
    # Grouping reads each candidate bucket once; joining each new row to its bucket would
    # read every bucket of its contact for each (ix_contact_buckets_contact_id): some
    # contacts have thousands. A null id is a new row's: SQLite takes the next rowid.
    both = union_all(
        select(null().label("id"), *n.c, literal(1).label("new")),
        select(
            b.c.id,
            *(b.c[c] for c in rollups.COLUMNS),
            literal(0).label("new"),
        ).where(b.c.contact_id.in_(select(contact)), b.c.month.in_(select(month))),
    ).subquery("u")
    u = list(both.c)
    bucket_id: Any = func.max(u[0])
    if dialect == "postgresql":
        bucket_id = func.coalesce(
            bucket_id, func.nextval(func.pg_get_serial_sequence(_BUCKETS.name, "id"))
        )
    rows = (
        select(bucket_id, u[1], func.min(u[2]), u[3], u[4], *(func.max(c) for c in u[5:9]))
        .group_by(u[1], u[3], u[4])
        .having(func.max(u[9]) == 1)
    )
    new = insert(_BUCKETS).from_select(["id", *rollups.COLUMNS], rows)
    return new.on_conflict_do_update(
        index_elements=[_BUCKETS.c.id], set_={c: new.excluded[c] for c in _DATES}
    )
