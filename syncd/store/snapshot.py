"""The queries behind `syncd.outbox.snapshot`: what the rules plan over, as plain rows.

Column queries run on the session's connection as Core statements (no ORM row processing).
Each query is bounded by the address book or by an index range, never by the whole
history: the contacts with their statistics row (syncd/store/stats.py), the exact
aggregate only for contacts whose statistics do not hold as of `now`, the owner's mail to
a given set of contacts in a window (a range of ix_participants_contact_stats per
contact), the replies in a given set of threads (ix_interactions_thread_replies), the
meetings of a few weeks, the open actions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    case,
    false,
    func,
    null,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select

from syncd.store.chunks import chunked
from syncd.store.models import (
    Account,
    Action,
    Contact,
    ContactAddress,
    ContactDate,
    ContactStats,
    Interaction,
    InteractionSource,
    Participant,
)

P, S = Participant, ContactStats


def counts_now(now: datetime) -> Any:
    """A participation that has happened by `now` (its interaction is real, started and
    ended): the condition of `syncd.contacts.views.participation_counts_now`."""
    return and_(
        P.is_interaction.is_(True),
        P.occurred_at <= now,
        or_(P.ends_at.is_(None), P.ends_at <= now),
    )


@dataclass(frozen=True)
class Pickable:
    """Which contacts the rules can pick as of `now`, as bounds on their statistics row
    (syncd/outbox/snapshot.py derives it from the rules). A contact is read when its
    statistics do not hold as of `now`, or it has an action, or it may be picked: it is
    not do-not-contact, not noise (a statistics row with no real participation), and

    - `tiers`: its tier's cadence applies (no own cadence) and its last interaction is at
      or before the tier's bound; `own_cadence`: it has a positive cadence of its own;
    - `dormant`: it was ever two-way and its last interaction is at or before this;
    - `waiting_since`: its last mail out is after this and not before its last mail in
      (the owner's mail that can await an answer, as `sent_waiting` reads it);
    - `met_since`: it has a meeting that `meetings` reads, which starts after this;
    - `days`: it has a date on one of these days (month * 100 + day); `all_days`: any date.

    Each bound may keep more contacts than a rule picks, never fewer.
    """

    tiers: tuple[tuple[str, datetime], ...] = ()
    own_cadence: bool = False
    dormant: datetime | None = None
    waiting_since: datetime | None = None
    met_since: datetime | None = None
    days: frozenset[int] = frozenset()
    all_days: bool = False


def contact_rows(
    session: Session, owner_id: int, now: datetime, pickable: Pickable | None = None
) -> list[tuple[Any, ...]]:
    """Every contact that existed at `now` (with `pickable`, only those it keeps), with
    its statistics row's values, as plain tuples: id, name, tier, cadence_days, timezone,
    working_hours, do_not_contact, snoozed_until, ahead, then the aggregates as
    `exact_aggregates` gives them.

    `ahead` is 1 where the statistics do not hold as of `now` (no row, or a participation
    still ahead of it): `exact_aggregates` gives those contacts' values instead. Instants
    come as the driver gives them (text on SQLite): converting 200,000 of them through
    the column type costs more than the caller's parsing of the few it uses.
    """
    return _rows(
        session,
        select(
            Contact.id,
            Contact.name,
            Contact.tier,
            Contact.cadence_days,
            Contact.timezone,
            Contact.working_hours,
            Contact.do_not_contact,
            _raw(Contact.snoozed_until),
            # Compared in SQL: no datetime conversion for each of 50,000 rows.
            case((_ahead(now), 1), else_=0),
            S.contact_id,
            _raw(S.last_at),
            _raw(S.last_in_at),
            _raw(S.last_out_at),
            case((S.last_meeting_at.is_not(None), 1), else_=0),
            case((S.last_at.is_not(None), 1), else_=0),
            null(),
        )
        .outerjoin(S, S.contact_id == Contact.id)
        .where(*_contact_filter(owner_id, now, pickable)),
    )


def _ahead(now: datetime) -> Any:
    """The contact's statistics do not hold as of `now`."""
    return or_(S.contact_id.is_(None), S.horizon_at > now)


def _contact_filter(owner_id: int, now: datetime, pickable: Pickable | None) -> list[Any]:
    where = [Contact.owner_id == owner_id, Contact.created_at <= now]
    if pickable is not None:
        where.append(_pickable(owner_id, now, pickable))
    return where


def _pickable(owner_id: int, now: datetime, p: Pickable) -> Any:
    """The condition on a contact (joined to its statistics row) that `Pickable` states."""
    reasons: list[Any] = []
    own = or_(Contact.cadence_days.is_(None), Contact.cadence_days == 0)
    for tier, bound in p.tiers:
        reasons.append(and_(own, Contact.tier == tier, S.last_at <= bound))
    if p.own_cadence:
        reasons.append(Contact.cadence_days > 0)
    if p.dormant is not None:
        met = S.last_meeting_at.is_not(None)
        both_ways = and_(S.last_in_at.is_not(None), S.last_out_at.is_not(None))
        reasons.append(and_(or_(met, both_ways), S.last_at <= p.dormant))
    if p.waiting_since is not None:
        reasons.append(_waiting(p.waiting_since))
    if p.met_since is not None:
        # A real meeting's participations are `mutual` (syncd/ingest/batch.py), so a
        # meeting that `meetings` reads started at or before the last one the statistics
        # hold (or it is ahead of `now`, and so are they).
        reasons.append(S.last_meeting_at >= p.met_since)
    if p.all_days or p.days:
        D = ContactDate
        dated = select(D.contact_id).where(D.owner_id == owner_id)
        if not p.all_days:
            dated = dated.where((D.month * 100 + D.day).in_(sorted(p.days)))
        reasons.append(Contact.id.in_(dated))
    acted = select(Action.contact_id).where(
        Action.owner_id == owner_id, Action.contact_id.is_not(None)
    )
    eligible = and_(Contact.do_not_contact.is_not(True), S.last_at.is_not(None))
    return or_(
        _ahead(now),
        Contact.id.in_(acted),
        and_(eligible, or_(*reasons) if reasons else false()),
    )


def _waiting(since: datetime) -> Any:
    """A contact (its statistics holding) whose last mail out is in the window from `since`
    and not before its last mail in: only its mail can await an answer."""
    return and_(
        S.last_out_at > since,
        or_(S.last_in_at.is_(None), S.last_out_at >= S.last_in_at),
    )


def _core(session: Session) -> Connection:
    """The session's connection: column queries run as Core statements, so that 50,000
    rows come back as plain rows without the ORM's per-row processing."""
    return session.connection()


def _rows(session: Session, query: Any) -> list[tuple[Any, ...]]:
    """The query's rows as the driver gives them, plain tuples: over 50,000 rows, building
    SQLAlchemy's rows costs twice the driver's own fetch. So no column type converts what
    is read: instants come raw (text on SQLite, datetimes on PostgreSQL), booleans as
    the driver has them (0 and 1 on SQLite)."""
    result = _core(session).execute(query)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _raw(column: Any) -> Any:
    """The column without its type's conversion of each value read."""
    return type_coerce(column, String)


def exact_aggregates(session: Session, owner_id: int, now: datetime, ahead: timedelta) -> Any:
    """Per contact with no statistics row, or a participation still ahead of `now` (an
    upcoming meeting, or a backtest's earlier day), its aggregates as of `now`, and its
    next meeting up to `now + ahead`: {contact id: (contact id, last, last in, last out,
    met, any real, next meeting)}."""
    real = counts_now(now)
    pending = (
        select(Contact.id)
        .outerjoin(S, S.contact_id == Contact.id)
        .where(Contact.owner_id == owner_id, or_(S.contact_id.is_(None), S.horizon_at > now))
    )
    # One pass over the covering index ix_participants_contact_stats: no join.
    rows = (
        _core(session)
        .execute(
            select(
                P.contact_id.label("cid"),
                func.max(case((real, P.occurred_at))).label("last"),
                func.max(case((and_(real, P.direction == "in"), P.occurred_at))).label("last_in"),
                func.max(case((and_(real, P.direction == "out"), P.occurred_at))).label("last_out"),
                func.max(case((and_(real, P.direction == "mutual"), 1), else_=0)).label("met"),
                func.max(case((real, 1), else_=0)).label("any_real"),
                func.min(
                    case(
                        (
                            and_(
                                P.kind == "meeting",
                                P.is_interaction.is_(True),
                                P.occurred_at > now,
                            ),
                            P.occurred_at,
                        )
                    )
                ).label("next_meeting"),
            )
            .where(
                P.owner_id == owner_id,
                # Stated as ix_participants_contact_stats states its condition, so that the
                # partial index applies.
                P.contact_id.is_not(None),
                P.is_counterpart == true(),
                P.occurred_at <= now + ahead,
                P.contact_id.in_(pending),
            )
            .group_by(P.contact_id)
        )
        .all()
    )
    return {r.cid: tuple(r) for r in rows}


def addresses(session: Session, owner_id: int) -> list[tuple[Any, ...]]:
    """(contact id, address) in the order they were added."""
    return _rows(
        session,
        select(ContactAddress.contact_id, ContactAddress.address)
        .where(ContactAddress.owner_id == owner_id)
        .order_by(ContactAddress.id),
    )


def dates(session: Session, owner_id: int) -> list[tuple[Any, ...]]:
    """The owner's contact dates: contact id, kind, month, day, year, label."""
    D = ContactDate
    return _rows(
        session,
        select(D.contact_id, D.kind, D.month, D.day, D.year, D.label)
        .where(D.owner_id == owner_id)
        .order_by(D.id),
    )


def sent_waiting(
    session: Session,
    owner_id: int,
    since: datetime,
    now: datetime,
    contact_ids: Iterable[int] = (),
) -> list[tuple[Any, ...]]:
    """The owner's human mail in (`since`, `now`] that may await an answer, one row per
    mail and contact, oldest first (ties by id): id, message_key, subject, thread_key,
    occurred_at, contact_id, address, the latest reply in its thread in the window, and
    the account and provider thread of the first place it was seen.

    Which mail: from each contact whose statistics hold at `now`, its mail at or after its
    last mail in, when its last mail out is in the window and not before its last mail in
    (from `contact_stats`; a range of ix_participants_contact_stats per such contact);
    and all the window's mail to `contact_ids`. Instants come raw (text on SQLite).
    """
    M, A, Src = Interaction, Account, InteractionSource
    reply = aliased(Interaction)
    last_reply = (
        select(func.max(reply.occurred_at))
        .where(
            reply.owner_id == owner_id,
            reply.thread_key == M.thread_key,
            reply.direction == "in",
            reply.is_interaction.is_(True),
            reply.occurred_at > since,
            reply.occurred_at <= now,
        )
        .scalar_subquery()
    )
    # The first place it was seen (the source with the smallest id), its row and its
    # account's by primary key: one lookup in the interaction index, not one per column.
    first = aliased(InteractionSource)
    first_id = (
        select(func.min(Src.id)).where(Src.interaction_id == M.id).correlate(M).scalar_subquery()
    )
    base = (
        select(
            M.id,
            M.message_key,
            M.subject,
            M.thread_key,
            _raw(M.occurred_at),
            P.contact_id,
            P.address,
            _raw(last_reply),
            first.account_id,
            first.thread_id,
        )
        .select_from(P)
        .join(M, M.id == P.interaction_id)
        .outerjoin(first, first.id == first_id)
        .where(
            # As the partial index states its condition, so that it applies; its copies
            # of the mail's kind and direction leave out the mail in before the table
            # is read.
            P.contact_id.is_not(None),
            P.is_counterpart == true(),
            P.is_interaction.is_(True),
            P.kind == "email",
            P.direction == "out",
            P.occurred_at > since,
            P.occurred_at <= now,
            P.owner_id == owner_id,
            M.owner_id == owner_id,
            M.kind == "email",
            M.direction == "out",
            M.is_interaction.is_(True),
            M.occurred_at > since,
            M.occurred_at <= now,
        )
    )
    found = {
        (r[0], r[5]): r
        for r in _rows(
            session,
            base.join(S, S.contact_id == P.contact_id).where(
                S.owner_id == owner_id,
                S.horizon_at <= now,
                _waiting(since),
                P.occurred_at >= func.coalesce(S.last_in_at, since),
            ),
        )
    }
    for chunk in chunked(sorted(set(contact_ids))):
        for r in _rows(session, base.where(P.contact_id.in_(chunk))):
            found[(r[0], r[5])] = r
    # The account's name by its id (a handful of accounts): joined per row, SQLite
    # scanned the accounts for each of 10,000 rows.
    names = dict(_rows(session, select(A.id, A.name)))
    # Raw instants sort as instants: fixed-width text on SQLite, datetimes on PostgreSQL.
    return [
        (*r[:8], names.get(r[8]) if r[8] is not None else None, r[9])
        for r in sorted(found.values(), key=lambda r: (r[4], r[0]))
    ]


def first_sources(
    session: Session, ids: Iterable[int] | Select[Any]
) -> dict[int, tuple[str, str | None]]:
    """For each interaction (of a set, or of a query), the account and provider thread of
    the first place it was seen."""
    out: dict[int, tuple[str, str | None]] = {}
    # A query goes as a subquery; a set in chunks, each in source order, which is all
    # `setdefault` needs per interaction.
    chunks: Iterable[Any] = [ids] if isinstance(ids, Select) else chunked(sorted(set(ids)))
    for chunk in chunks:
        rows = (
            _core(session)
            .execute(
                select(InteractionSource.interaction_id, Account.name, InteractionSource.thread_id)
                .join(Account, Account.id == InteractionSource.account_id)
                .where(InteractionSource.interaction_id.in_(chunk))
                .order_by(InteractionSource.id)
            )
            .all()
        )
        for iid, name, thread in rows:
            out.setdefault(iid, (name, thread))
    return out


def meetings(
    session: Session, owner_id: int, now: datetime, back: timedelta, ahead: timedelta
) -> list[tuple[Any, ...]]:
    """Real meetings with contacts that end after `now - back` and start by `now + ahead`:
    message key, subject, start, end (raw), contact id, interaction id.

    Read per contact that can have one (a range of ix_participants_contact_stats each),
    not over every interaction of those weeks: a real meeting's participations are
    `mutual` (syncd/ingest/batch.py), so one that started by `now` is at or before the
    last meeting its contact's statistics hold, and one ahead of `now` is ahead of them
    too (or the contact has no statistics row)."""
    earliest = now - back - timedelta(days=7)
    may_meet = (
        select(Contact.id)
        .outerjoin(S, S.contact_id == Contact.id)
        .where(
            Contact.owner_id == owner_id,
            or_(S.contact_id.is_(None), S.horizon_at > now, S.last_meeting_at >= earliest),
        )
    )
    return _rows(
        session,
        select(
            Interaction.message_key,
            Interaction.subject,
            _raw(Interaction.occurred_at),
            _raw(Interaction.ends_at),
            Participant.contact_id,
            Interaction.id,
        )
        .join(Participant, Participant.interaction_id == Interaction.id)
        .where(
            *_meeting_window(owner_id, now, back, ahead),
            # As ix_participants_contact_stats states its condition and columns, so that
            # a range of it per contact serves the query.
            P.is_counterpart == true(),
            P.kind == "meeting",
            P.is_interaction.is_(True),
            P.occurred_at >= earliest,
            P.occurred_at <= now + ahead,
            P.contact_id.in_(may_meet),
        ),
    )


def _meeting_window(owner_id: int, now: datetime, back: timedelta, ahead: timedelta) -> list[Any]:
    """A contact's participation in a real meeting that ends after `now - back` and starts
    by `now + ahead` (interactions joined to participants)."""
    return [
        Interaction.owner_id == owner_id,
        Interaction.kind == "meeting",
        Interaction.is_interaction.is_(True),
        Interaction.ends_at >= now - back,
        # A lower bound on the indexed start too (no meeting lasts a week), so the
        # query reads the last weeks, not the whole history.
        Interaction.occurred_at >= now - back - timedelta(days=7),
        Interaction.occurred_at <= now + ahead,
        Participant.is_counterpart.is_(True),
        Participant.contact_id.is_not(None),
    ]


def actions(session: Session, owner_id: int, now: datetime, back: timedelta) -> list[Action]:
    """The open actions, and the others due after `now - back`."""
    return list(
        session.scalars(
            select(Action).where(
                Action.owner_id == owner_id,
                or_(
                    Action.state.in_(("planned", "executing", "failed", "created")),
                    Action.due_at >= now - back,
                ),
            )
        ).all()
    )
