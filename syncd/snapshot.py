"""Reading what the rules plan over from the store: SQL aggregates, never whole histories.

Per contact one grouped query gives the last interaction in each direction and whether
the relationship was ever two-way; owner mail awaiting an answer and recent meetings are
bounded by time windows, so the cost follows the size of the address book and of the last
weeks' mail, not of the whole history. `as_of` lets a backtest read the store as it was.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, null, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from rules.model import (
    ContactDate as PlanDate,
)
from rules.model import (
    ContactSnap,
    ExistingAction,
    MeetingSnap,
    OwnerInfo,
    SentMail,
    Snapshot,
    WorkingTime,
)
from syncd.addresses import OwnerIdentity
from syncd.config import Config, parse_hours
from syncd.contacts import participation_counts_now
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

WEEKDAY = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
SENT_WINDOW = timedelta(days=45)  # no_reply looks at mail sent in this window
MEETING_BACK = timedelta(days=14)
MEETING_AHEAD = timedelta(days=120)
ACTIONS_BACK = timedelta(days=400)


def owner_info(config: Config) -> OwnerInfo:
    o = config.owner
    start, end = o.hours
    identity = o.identity()
    return OwnerInfo(
        name=o.name,
        address=o.addresses[0].lower(),
        addresses=identity.addresses,
        domains=identity.domains,
        work=WorkingTime(o.timezone, start, end, frozenset(WEEKDAY[d] for d in o.working_days)),
        quiet_dates=frozenset(config.settings.limits.quiet_dates),
    )


def read_snapshot(
    session: Session,
    owner_id: int,
    config: Config,
    now: datetime,
    *,
    as_of: datetime | None = None,
    include_actions: bool = True,
) -> Snapshot:
    """The state the rules see at `now` (a backtest passes an earlier `now`)."""
    at = as_of or now
    owner = owner_info(config)
    identity = config.owner.identity()
    contacts = _contacts(session, owner_id, config, identity, at)
    return Snapshot(
        owner=owner,
        contacts=contacts,
        sent=_sent(session, owner_id, at, contacts),
        meetings=_meetings(session, owner_id, at, identity, contacts),
        actions=_actions(session, owner_id, at) if include_actions else (),
        default_account=_default_account(config),
    )


def _default_account(config: Config) -> str | None:
    accounts = config.settings.accounts
    return accounts[0].name if accounts else None


def _contacts(
    session: Session, owner_id: int, config: Config, identity: OwnerIdentity, now: datetime
) -> dict[int, ContactSnap]:
    S = ContactStats
    # The statistics row per contact (syncd/store/stats.py); where some participation is
    # still ahead of `now` (an upcoming meeting, or a backtest's earlier day) or there is
    # no row, the aggregate as of `now` over that contact's participations instead.
    rows = session.execute(
        # Plain columns, not ORM objects: 50,000 entities cost seconds to build.
        select(
            Contact.id,
            Contact.name,
            Contact.tier,
            Contact.cadence_days,
            Contact.timezone,
            Contact.working_hours,
            Contact.do_not_contact,
            Contact.snoozed_until,
            S.contact_id.label("cid"),
            S.last_at.label("last"),
            S.last_in_at.label("last_in"),
            S.last_out_at.label("last_out"),
            case((S.last_meeting_at.is_not(None), 1), else_=0).label("met"),
            case((S.last_at.is_not(None), 1), else_=0).label("any_real"),
            null().label("next_meeting"),
            # Compared in SQL: no datetime conversion for each of 50,000 rows.
            case((or_(S.contact_id.is_(None), S.horizon_at > now), 1), else_=0).label("ahead"),
        )
        .outerjoin(S, S.contact_id == Contact.id)
        .where(Contact.owner_id == owner_id, Contact.created_at <= now)
    ).all()
    exact = _exact_aggregates(session, owner_id, now)
    emails: dict[int, list[str]] = defaultdict(list)
    for cid, addr in session.execute(
        select(ContactAddress.contact_id, ContactAddress.address)
        .where(ContactAddress.owner_id == owner_id)
        .order_by(ContactAddress.id)
    ).all():
        emails[cid].append(addr)
    dates: dict[int, list[PlanDate]] = defaultdict(list)
    for d in session.scalars(select(ContactDate).where(ContactDate.owner_id == owner_id)):
        dates[d.contact_id].append(
            PlanDate(d.kind, d.month, d.day, d.year, d.label or None)  # type: ignore[arg-type]
        )
    tiers = {k: t.cadence_days for k, t in config.settings.tiers.items()}
    out: dict[int, ContactSnap] = {}
    for row in rows:
        c = row
        addrs = emails.get(c.id) or []
        if not addrs:
            continue
        m = exact.get(c.id, _NONE) if row.ahead else row._mapping
        last_in, last_out = _aware(m["last_in"]), _aware(m["last_out"])
        out[c.id] = ContactSnap(
            id=c.id,
            name=c.name,
            email=addrs[0],
            tier=c.tier,
            cadence_days=c.cadence_days or (tiers.get(c.tier) if c.tier else None),
            timezone=c.timezone,
            work=_contact_work(c),
            do_not_contact=c.do_not_contact,
            snoozed_until=_aware(c.snoozed_until),
            internal=any(identity.is_internal(a) for a in addrs),
            noise=not m["any_real"] and m["cid"] is not None,
            last_interaction_at=_aware(m["last"]),
            last_inbound_at=last_in,
            last_outbound_at=last_out,
            two_way=bool(m["met"]) or (last_in is not None and last_out is not None),
            next_meeting_at=_aware(m["next_meeting"]),
            dates=tuple(dates.get(c.id, ())),
        )
    return out


_NONE: dict[str, Any] = {
    "cid": None,
    "last": None,
    "last_in": None,
    "last_out": None,
    "met": 0,
    "any_real": 0,
    "next_meeting": None,
}


def _exact_aggregates(session: Session, owner_id: int, now: datetime) -> dict[int, Any]:
    """Per contact with no statistics row, or a participation still ahead of `now` (an
    upcoming meeting, or a backtest's earlier day), its aggregates as of `now`."""
    P, S = Participant, ContactStats
    real = participation_counts_now(now)
    ahead = (
        select(Contact.id)
        .outerjoin(S, S.contact_id == Contact.id)
        .where(Contact.owner_id == owner_id, or_(S.contact_id.is_(None), S.horizon_at > now))
    )
    # One pass over the covering index ix_participants_contact_stats: no join.
    rows = session.execute(
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
            P.occurred_at <= now + MEETING_AHEAD,
            P.contact_id.in_(ahead),
        )
        .group_by(P.contact_id)
    ).all()
    return {r.cid: r._mapping for r in rows}


def _contact_work(c: Any) -> WorkingTime | None:
    if not c.timezone or not c.working_hours:
        return None
    try:
        ZoneInfo(c.timezone)
        start, end = parse_hours(c.working_hours)
    except (ValueError, KeyError):
        return None
    return WorkingTime(c.timezone, start, end)


def _aware(value: Any) -> datetime | None:
    """MAX() over a CASE loses the column type on SQLite: it comes back as text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))


def _sent(
    session: Session, owner_id: int, now: datetime, contacts: dict[int, ContactSnap]
) -> tuple[SentMail, ...]:
    """The owner's latest human mail to each contact in each thread, in the window.

    It counts as answered when anyone replied in its thread afterwards, or the contact
    wrote at all afterwards (their last inbound mail is in the contact's aggregates), so
    two grouped queries do it, however large the history.
    """
    sent = [
        Interaction.owner_id == owner_id,
        Interaction.kind == "email",
        Interaction.direction == "out",
        Interaction.is_interaction.is_(True),
        Interaction.occurred_at > now - SENT_WINDOW,
        Interaction.occurred_at <= now,
    ]
    rows = session.execute(
        select(
            Interaction.id,
            Interaction.message_key,
            Interaction.subject,
            Interaction.thread_key,
            Interaction.occurred_at,
            Participant.contact_id,
            Participant.address,
        )
        .join(Participant, Participant.interaction_id == Interaction.id)
        .where(
            *sent,
            Participant.is_counterpart.is_(True),
            Participant.contact_id.is_not(None),
        )
        .order_by(Interaction.occurred_at)
    ).all()
    last_reply: dict[str, datetime] = {}
    # The threads as a subquery, not a list of parameters: tens of thousands of them at
    # scale; ix_interactions_thread_replies answers each from the index alone.
    threads = select(Interaction.thread_key).where(*sent, Interaction.thread_key.is_not(None))
    for thread, last in session.execute(
        select(Interaction.thread_key, func.max(Interaction.occurred_at))
        .where(
            Interaction.owner_id == owner_id,
            Interaction.thread_key.in_(threads),
            Interaction.direction == "in",
            Interaction.is_interaction.is_(True),
            Interaction.occurred_at > now - SENT_WINDOW,
            Interaction.occurred_at <= now,
        )
        .group_by(Interaction.thread_key)
    ).all():
        stamp = _aware(last)
        if thread is not None and stamp is not None:
            last_reply[thread] = stamp
    sources = _first_sources(session, select(Interaction.id).where(*sent)) if rows else {}
    latest: dict[tuple[int, str], SentMail] = {}
    for r in rows:
        contact = contacts.get(r.contact_id)
        if contact is None:
            continue
        key = r.message_key
        mid = key[4:] if key.startswith("mid:") else None
        thread = r.thread_key or key
        refs = (r.thread_key,) if r.thread_key and r.thread_key != mid else ()
        sent_at = _aware(r.occurred_at) or now
        answers = [
            t
            for t in (last_reply.get(r.thread_key or ""), contact.last_inbound_at)
            if t is not None and t > sent_at
        ]
        account, thread_id = sources.get(r.id, ("", None))
        latest[(r.contact_id, thread)] = SentMail(
            contact_id=r.contact_id,
            message_key=key,
            message_id=mid,
            references=refs,
            subject=r.subject,
            thread_key=r.thread_key,
            thread_id=thread_id,
            account=account,
            sent_at=sent_at,
            answered_at=min(answers) if answers else None,
            address=r.address,
        )
    return tuple(latest.values())


def _first_sources(
    session: Session, ids: set[int] | Select[Any]
) -> dict[int, tuple[str, str | None]]:
    """For each interaction (of a set, or of a query), the account and provider thread of
    the first place it was seen."""
    out: dict[int, tuple[str, str | None]] = {}
    if isinstance(ids, set) and not ids:
        return out
    # A query goes as a subquery; a set (the meetings of a few weeks) in chunks, each in
    # source order, which is all `setdefault` needs per interaction.
    for chunk in [ids] if not isinstance(ids, set) else chunked(sorted(ids)):
        rows = session.execute(
            select(InteractionSource.interaction_id, Account.name, InteractionSource.thread_id)
            .join(Account, Account.id == InteractionSource.account_id)
            .where(InteractionSource.interaction_id.in_(chunk))
            .order_by(InteractionSource.id)
        ).all()
        for iid, name, thread in rows:
            out.setdefault(iid, (name, thread))
    return out


def _meetings(
    session: Session,
    owner_id: int,
    now: datetime,
    identity: OwnerIdentity,
    contacts: dict[int, ContactSnap],
) -> tuple[MeetingSnap, ...]:
    rows = session.execute(
        select(
            Interaction.message_key,
            Interaction.subject,
            Interaction.occurred_at,
            Interaction.ends_at,
            Participant.contact_id,
            Interaction.id,
        )
        .join(Participant, Participant.interaction_id == Interaction.id)
        .where(
            Interaction.owner_id == owner_id,
            Interaction.kind == "meeting",
            Interaction.is_interaction.is_(True),
            Interaction.ends_at >= now - MEETING_BACK,
            # A lower bound on the indexed start too (no meeting lasts a week), so the
            # query reads the last weeks, not the whole history.
            Interaction.occurred_at >= now - MEETING_BACK - timedelta(days=7),
            Interaction.occurred_at <= now + MEETING_AHEAD,
            Participant.is_counterpart.is_(True),
            Participant.contact_id.is_not(None),
        )
    ).all()
    sources = _first_sources(session, {r.id for r in rows})
    out = []
    for r in rows:
        c = contacts.get(r.contact_id)
        if c is None:
            continue
        start, end = _aware(r.occurred_at), _aware(r.ends_at)
        assert start is not None and end is not None
        out.append(
            MeetingSnap(
                contact_id=r.contact_id,
                meeting_key=r.message_key,
                subject=r.subject,
                start=start,
                end=end,
                account=sources.get(r.id, ("", None))[0],
                external=not c.internal,
                emailed_after=c.last_outbound_at is not None and c.last_outbound_at >= end,
            )
        )
    return tuple(out)


def _actions(session: Session, owner_id: int, now: datetime) -> tuple[ExistingAction, ...]:
    rows = session.scalars(
        select(Action).where(
            Action.owner_id == owner_id,
            or_(
                Action.state.in_(("planned", "executing", "failed", "created")),
                Action.due_at >= now - ACTIONS_BACK,
            ),
        )
    ).all()
    return tuple(
        ExistingAction(
            key=a.key,
            rule=a.rule,
            kind=a.kind,  # type: ignore[arg-type]
            contact_id=a.contact_id,
            state=a.state,  # type: ignore[arg-type]
            due_at=a.due_at,
            created_at=a.created_at,
        )
        for a in rows
    )
