"""`contacts list` as a stream: the contacts in pages, read from the contact statistics.

The order (last interaction first) and the last interaction come from `contact_stats`
(syncd/store/stats.py), with one indexed look-up for a contact that has a participation
still ahead of `now` (an upcoming meeting) or no statistics row. The 90-day counts and the
strength are computed per page of contacts, over those contacts' participations of the
last 90 days (the covering index ix_participants_contact_stats), so the first page costs
the same whatever the size of the store, and memory follows the page, not the address book.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, true
from sqlalchemy.orm import Session

from syncd.contacts import (
    WINDOW_DAYS,
    Tiers,
    is_due,
    iso,
    participation_counts_now,
    strength,
    strength_parts,
)
from syncd.store.models import Contact, ContactAddress, ContactStats, Interaction, Participant

P = Participant
PAGE = 500


def iter_contacts(
    session: Session,
    owner_id: int,
    now: datetime,
    tiers: Tiers,
    *,
    contact_id: int | None = None,
    limit: int | None = None,
    offset: int = 0,
    page: int = PAGE,
) -> Iterator[dict[str, Any]]:
    """The contacts, last interaction first (then by id), `offset` and `limit` applied."""
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
    for rows in result.partitions():
        yield from _describe(session, owner_id, now, tiers, rows)


def _describe(
    session: Session, owner_id: int, now: datetime, tiers: Tiers, rows: Iterable[Any]
) -> Iterator[dict[str, Any]]:
    rows = list(rows)
    ids = [r.id for r in rows]
    since = now - timedelta(days=WINDOW_DAYS)
    emails = _emails(session, owner_id, ids)
    n90 = _recent(session, owner_id, since, now, ids)
    two_way = _two_way(session, owner_id, since, now, ids)
    for c in rows:
        last_dt = _aware(c.last)
        cadence = c.cadence_days or (tiers.cadence_days.get(c.tier) if c.tier else None)
        due = None
        if cadence:
            due = (last_dt or c.created_at) + timedelta(days=cadence)
        n, tw = n90.get(c.id, 0), two_way.get(c.id, 0)
        yield {
            "id": c.id,
            "name": c.name,
            "emails": emails.get(c.id, []),
            "tier": c.tier,
            "cadence_days": cadence,
            "timezone": c.timezone,
            "last_interaction_at": iso(last_dt),
            "next_due_at": iso(due),
            "interactions_90d": n,
            "two_way_90d": tw,
            "strength": strength(last_dt, n, tw, now),
            "strength_parts": strength_parts(last_dt, n, tw, now),
            "do_not_contact": c.do_not_contact,
            "snoozed_until": iso(c.snoozed_until),
            "organisation": c.organisation,
        }


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns a CASE over datetimes as text
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# `ids` below are one page of the contacts query (yield_per, at most `page`, PAGE by
# default): bounded by construction, so they go as one IN list.


def _emails(session: Session, owner_id: int, ids: list[int]) -> dict[int, list[str]]:
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


def _recent(
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


def _two_way(
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


# --- output -----------------------------------------------------------------------------------


def select_contacts(
    session: Session,
    owner_id: int,
    now: datetime,
    tiers: Tiers,
    *,
    due: bool,
    sort: str,
    limit: int | None,
    offset: int,
) -> Iterator[dict[str, Any]]:
    """What `contacts list` prints, in its order: streamed for the default order (recent)
    without --due; --due filters the stream; another order needs every contact first."""
    if sort == "recent" and not due:
        yield from iter_contacts(session, owner_id, now, tiers, limit=limit, offset=offset)
        return
    rows: Iterable[dict[str, Any]] = iter_contacts(session, owner_id, now, tiers)
    if due:
        rows = (c for c in rows if is_due(c, now))
    if sort != "recent":
        listed = list(rows)
        if sort == "strength":
            listed.sort(key=lambda c: (-c["strength"], c["id"]))
        elif sort == "name":
            listed.sort(
                key=lambda c: (
                    (c["name"] or c["emails"][0] if c["emails"] else "").lower(),
                    c["id"],
                )
            )
        rows = listed
    end = None if limit is None else offset + limit
    for n, c in enumerate(rows):
        if end is not None and n >= end:
            return
        if n >= offset:
            yield c


def json_array(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The text of `json.dumps(list(rows), indent=2)` and a newline, a page of rows at a
    time, as the rows come."""
    parts: list[str] = []
    first = True
    for n, row in enumerate(rows, 1):
        body = json.dumps(row, ensure_ascii=False, indent=2, default=str)
        parts.append(("[\n" if first else ",\n") + "  " + body.replace("\n", "\n  "))
        first = False
        if n % PAGE == 0:
            yield "".join(parts)
            parts.clear()
    parts.append("[]\n" if first else "\n]\n")
    yield "".join(parts)


def json_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One compact JSON object a line, a page of lines at a time."""
    parts: list[str] = []
    for n, row in enumerate(rows, 1):
        parts.append(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        if n % PAGE == 0:
            yield "".join(parts)
            parts.clear()
    yield "".join(parts)
