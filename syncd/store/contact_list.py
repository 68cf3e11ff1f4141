"""The queries of `contacts list` (syncd/contacts/listing.py): the contacts in pages, read from
the contact statistics, and per page their addresses and 90-day counts.

The order (last interaction first) and the last interaction come from `contact_stats`
(syncd/store/stats.py), with one indexed look-up for a contact that has a participation
still ahead of `now` (an upcoming meeting) or no statistics row. The 90-day counts are
computed per page of contacts, over those contacts' participations of the window (the
covering index ix_participants_contact_stats), so the first page costs the same whatever
the size of the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, true
from sqlalchemy.orm import Session

from syncd.store.contacts import participation_counts_now
from syncd.store.models import Contact, ContactAddress, ContactStats, Interaction, Participant

P = Participant


def contact_pages(
    session: Session,
    owner_id: int,
    now: datetime,
    *,
    contact_id: int | None,
    limit: int | None,
    offset: int,
    page: int,
) -> Iterator[Sequence[Any]]:
    """The contacts' rows (every column and `last`, the last interaction), last interaction
    first (then by id), `offset` and `limit` applied, in pages of at most `page`."""
    S = ContactStats
    exact_last = (
        select(func.max(P.occurred_at))
        .where(
            P.contact_id == Contact.id,
            P.is_counterpart == true(),  # as the partial index states it
            participation_counts_now(now),
        )
        .scalar_subquery()
    )
    # No statistics row (no participation; or rows written past ingest) or a
    # participation ahead of `now`: the exact value, one index look-up.
    exact = or_(S.contact_id.is_(None), S.horizon_at > now)
    last = case((exact, exact_last), else_=S.last_at).label("last")
    q = (
        select(*Contact.__table__.columns, last)
        .outerjoin(S, S.contact_id == Contact.id)
        .where(Contact.owner_id == owner_id)
        .order_by(last.desc().nulls_last(), Contact.id)
    )
    if contact_id is not None:
        q = q.where(Contact.id == contact_id)
    if limit is not None:
        q = q.limit(limit)
    if offset:
        q = q.offset(offset)
    result = session.execute(q.execution_options(yield_per=page))
    yield from result.partitions()


# `ids` below are one page of `contact_pages` (at most `page`): bounded by construction, so
# they go as one IN list.


def emails_of(session: Session, owner_id: int, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    if not ids:
        return out
    for cid, addr in session.execute(
        select(ContactAddress.contact_id, ContactAddress.address)
        .where(ContactAddress.owner_id == owner_id, ContactAddress.contact_id.in_(ids))
        .order_by(ContactAddress.id)
    ):
        out[cid].append(addr)
    return out


def _page_rows(owner_id: int, ids: list[int], since: datetime, now: datetime) -> list[Any]:
    """The page's counterpart participations that count, in the window."""
    return [
        P.owner_id == owner_id,
        P.contact_id.in_(ids),
        P.is_counterpart == true(),
        participation_counts_now(now),
        P.occurred_at >= since,
    ]


def recent_counts(
    session: Session, owner_id: int, since: datetime, now: datetime, ids: list[int]
) -> dict[int, int]:
    """Interactions in the window, per contact of the page."""
    if not ids:
        return {}
    return {
        cid: int(n)
        for cid, n in session.execute(
            select(P.contact_id, func.count(func.distinct(P.interaction_id)))
            .where(*_page_rows(owner_id, ids, since, now))
            .group_by(P.contact_id)
        ).all()
        if cid is not None
    }


def two_way_counts(
    session: Session, owner_id: int, since: datetime, now: datetime, ids: list[int]
) -> dict[int, int]:
    """Two-way interactions in the window: meetings, and mail in threads both sides wrote in."""
    if not ids:
        return {}
    rows = _page_rows(owner_id, ids, since, now)
    meetings = dict(
        session.execute(
            select(P.contact_id, func.count(func.distinct(P.interaction_id)))
            .where(*rows, P.kind == "meeting")
            .group_by(P.contact_id)
        ).all()
    )
    threads = (
        select(
            P.contact_id.label("cid"),
            Interaction.thread_key.label("thread"),
            func.count(func.distinct(Interaction.id)).label("n"),
        )
        .join(Interaction, Interaction.id == P.interaction_id)
        .where(*rows, P.kind == "email", Interaction.thread_key.is_not(None))
        .group_by(P.contact_id, Interaction.thread_key)
        .having(
            and_(
                func.sum(case((P.direction == "in", 1), else_=0)) > 0,
                func.sum(case((P.direction == "out", 1), else_=0)) > 0,
            )
        )
        .subquery()
    )
    mail = dict(
        session.execute(select(threads.c.cid, func.sum(threads.c.n)).group_by(threads.c.cid)).all()
    )
    return {cid: int(meetings.get(cid, 0)) + int(mail.get(cid, 0)) for cid in ids}
