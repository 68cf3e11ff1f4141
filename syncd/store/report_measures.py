"""The SQL of `syncd report`: each network measure as grouped queries over the store.

Nothing loads a history into Python. What the measures read is staged once into
temporary tables (`syncd.store.report_stage`): the period's interactions, their counts,
each contact's aggregates, the contacts' monthly buckets; each measure here is a grouped
query over them, and Python only receives the few dozen rows they return.

The rules, for the period [since, now] (docs/report.md says them for the user):

- an interaction is real (not noise) and has happened (a meeting once it has ended);
- two-way: a meeting, or an email whose thread (`thread_key`) holds a real email the other
  way, at any time up to now;
- an email is answered by the first later real email the other way in its thread, or
  naming it in In-Reply-To; it counts as answered when that came within `reply_days`;
  mail sent less than `reply_days` before now is pending, in neither count;
- the median response time is the mean of the middle one or two answered messages, read
  at their rank in response-time order (LIMIT/OFFSET off an index: `_median`;
  `percentile_cont` exists only on PostgreSQL);
- per tier, an interaction counts in the tier of each contact it involves, once per tier.

Months are UTC months.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    false,
    func,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from syncd.isotime import iso
from syncd.store.chunks import chunked
from syncd.store.models import Contact, ContactAddress, UTCDateTime
from syncd.store.report_stage import (
    ANSWERED,
    BUCKETS,
    COUNTS,
    DAY,
    ITEMS,
    PAIRS,
    PEOPLE,
    ReportParams,
    month_ends,
    staged,
)
from syncd.store.sqltime import epoch_seconds

__all__ = ["ReportParams", "month_ends", "staged"]


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # an aggregate over a CASE comes back as text on SQLite
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- interactions -----------------------------------------------------------------------------


def interactions_by_month(session: Session) -> dict[str, dict[str, int]]:
    """Per UTC month: interactions in each direction, and how many were two-way."""
    c = COUNTS.c
    out: dict[str, dict[str, int]] = {}
    for m, direction, n, tw in session.execute(
        select(c.month, c.direction, func.sum(c.n), func.sum(c.two_way))
        .where(c.in_month == 1)
        .group_by(c.month, c.direction)
    ).all():
        slot = out.setdefault(m, {"in": 0, "out": 0, "mutual": 0, "total": 0, "two_way": 0})
        if direction in slot:
            slot[direction] += int(n)
        slot["total"] += int(n)
        slot["two_way"] += int(tw or 0)
    return out


def tier_activity(session: Session, p: ReportParams) -> dict[str | None, dict[str, int]]:
    """Per tier: interactions in the period, how many were two-way, contacts reached."""
    c = COUNTS.c
    out: dict[str | None, dict[str, int]] = {}
    for tier, n, tw in session.execute(
        select(c.tier, func.sum(c.n), func.sum(c.two_way)).where(c.in_tier == 1).group_by(c.tier)
    ).all():
        out[tier] = {"interactions": int(n), "two_way": int(tw or 0), "contacts_reached": 0}
    for tier, reached in session.execute(
        select(Contact.tier, func.count(func.distinct(BUCKETS.c.cid)))
        .join(Contact, Contact.id == BUCKETS.c.cid)
        .where(BUCKETS.c.last_at >= p.since)
        .group_by(Contact.tier)
    ).all():
        out.setdefault(tier, {"interactions": 0, "two_way": 0, "contacts_reached": 0})
        out[tier]["contacts_reached"] = int(reached)
    return out


# --- responses --------------------------------------------------------------------------------


def empty_response() -> dict[str, Any]:
    return {
        "messages": 0,
        "answered": 0,
        "rate": None,
        "median_response_seconds": None,
        "pending": 0,
    }


def response_stats(
    session: Session, key: str, reply_days: int
) -> dict[tuple[str, Any], dict[str, Any]]:
    """Mail decided, answered and pending, and the median response time, per direction and
    `key` ("month" or "tier").

    The counts add COUNTS' rows up; each median reads the middle one or two answered
    messages at their rank (LIMIT/OFFSET in response-time order), off the staged tables'
    index of the answered mail (report_stage.ANSWERED_INDEXES)."""
    c = COUNTS.c
    in_key = c.in_month if key == "month" else c.in_tier
    out: dict[tuple[str, Any], dict[str, Any]] = {}
    for direction, kv, n, decided, answered in session.execute(
        select(c.direction, c[key], func.sum(c.n), func.sum(c.closed), func.sum(c.answered))
        .where(c.kind == "email", in_key == 1)
        .group_by(c.direction, c[key])
    ).all():
        decided_i, answered_i = int(decided or 0), int(answered or 0)
        out[(direction, kv)] = {
            "messages": decided_i,
            "answered": answered_i,
            "rate": rate(answered_i, decided_i),
            "median_response_seconds": (
                _median(session, key, (direction, kv), answered_i, reply_days * DAY)
                if answered_i
                else None
            ),
            "pending": int(n) - decided_i,
        }
    return out


def _median(session: Session, key: str | None, group: tuple[str, Any], n: int, limit: float) -> int:
    """The median response time of the `n` answered messages of `group` (direction, and
    the value of `key`: a month, a tier; None: the direction's whole period): the middle
    one, or the mean of the middle two.

    A tier's answered mail is ITEMS' of its contacts' and PAIRS' of that tier, read as one
    ordered union (each part off its own index)."""
    direction, kv = group

    def answered(src: Any, *where: Any) -> Select[Any]:
        c = src.c
        return select(c.delta).where(
            text(ANSWERED), c.direction == direction, c.delta <= limit, *where
        )

    i = ITEMS.c
    if key is None:
        rows: Any = answered(ITEMS)
    elif key == "month":
        rows = answered(ITEMS, i.month == kv)
    else:
        rows = union_all(
            answered(ITEMS, i.contact.in_(_tier_contacts(kv))),
            answered(PAIRS, _is(PAIRS.c.tier, kv)),
        )
    ordered = rows.order_by(text("delta")) if key == "tier" else rows.order_by(ITEMS.c.delta)
    middle = [float(d) for d in session.scalars(ordered.offset((n - 1) // 2).limit(2 - n % 2))]
    return round(sum(middle) / len(middle))


def _tier_contacts(tier: str | None) -> Select[Any]:
    return select(Contact.id).where(_is(Contact.tier, tier))


def _is(column: Any, value: Any) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Responses:
    overall: dict[str, Any]
    by_month: dict[str, dict[str, Any]]
    by_tier: dict[str | None, dict[str, Any]]


def _overall(
    session: Session, by_month: dict[tuple[str, Any], dict[str, Any]], reply_days: int
) -> dict[tuple[str, Any], dict[str, Any]]:
    """The measures of each direction's whole period from the months' counts (each message
    is in one month, so the counts add up) and its own medians."""
    sums: dict[str, list[int]] = {}
    for (direction, _month), v in by_month.items():
        got = sums.setdefault(direction, [0, 0, 0])
        got[0] += v["messages"]
        got[1] += v["answered"]
        got[2] += v["pending"]
    return {
        (direction, "all"): {
            "messages": decided,
            "answered": answered,
            "rate": rate(answered, decided),
            "median_response_seconds": (
                _median(session, None, (direction, "all"), answered, reply_days * DAY)
                if answered
                else None
            ),
            "pending": pending,
        }
        for direction, (decided, answered, pending) in sums.items()
    }


def responses(session: Session, p: ReportParams) -> dict[str, Responses]:
    """Response measures of the owner's mail (`out`) and of the contacts' mail (`in`)."""
    by_month = response_stats(session, "month", p.reply_days)
    overall = _overall(session, by_month, p.reply_days)
    by_tier = response_stats(session, "tier", p.reply_days)
    return {
        d: Responses(
            overall.get((d, "all"), empty_response()),
            {k: v for (dd, k), v in by_month.items() if dd == d},
            {k: v for (dd, k), v in by_tier.items() if dd == d},
        )
        for d in ("out", "in")
    }


# --- the active network -----------------------------------------------------------------------


def active_network(
    session: Session, p: ReportParams, ends: Sequence[tuple[str, datetime]]
) -> dict[str, int]:
    """Per month: contacts with a two-way interaction in the `active_days` up to its end.

    Two-way for a contact, as `contacts list` counts `two_way_90d`: a meeting with them
    that has ended, or a thread in which they wrote and the owner wrote to them, both
    within the window.

    The staged buckets (contact, thread, month: the latest mail in, mail out and meeting
    there; a meeting goes into the month it ended) are read once in (contact, thread,
    month) order, with the running latest of each up to every bucket: a thread's state in
    month m is the running latest at its last bucket at or before m. A window [end - 90
    days, end] reaches at most `reach` months back, so a bucket speaks for the months from
    its own up to the thread's next bucket, and no more than `reach` after it; the contact
    is active in month m when, for one of those, the running latest meeting, or both the
    running latest mail in and out, are in m's window.
    """
    if not ends:
        return {}
    window = timedelta(days=p.active_days)
    reach = math.ceil(p.active_days / 28)  # months a window can reach back
    parts = [
        select(
            literal(m, String).label("month"),
            literal(_months_before(m, reach), String).label("first"),
            literal(e - window, UTCDateTime).label("w_start"),
        )
        for m, e in ends
    ]
    w = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("windows")
    b = BUCKETS.c
    thread: dict[str, Any] = {"partition_by": (b.cid, b.thread), "order_by": b.month}
    upto = {**thread, "rows": (None, 0)}
    # Nearly every thread has one bucket in the range: its running latest are its own and
    # it has no next month. Only the threads with several go through the window functions
    # (each costs as much as the rest of the query over all the buckets).
    # A CTE, read by both halves below: grouped once (as a subquery it was grouped in each).
    several = select(b.cid, b.thread).group_by(b.cid, b.thread).having(func.count() > 1).cte()
    in_several = (
        select(literal(1))
        .where(several.c.cid == b.cid, several.c.thread.is_not_distinct_from(b.thread))
        .exists()
    )
    running = union_all(
        select(
            b.cid,
            b.month,
            func.lead(b.month).over(**thread).label("next_month"),
            func.max(b.last_in).over(**upto).label("last_in"),
            func.max(b.last_out).over(**upto).label("last_out"),
            func.max(b.last_met).over(**upto).label("last_met"),
        ).where(in_several),
        select(b.cid, b.month, null(), b.last_in, b.last_out, b.last_met).where(~in_several),
    ).subquery("running")
    r = running.c
    active = (
        select(w.c.month, r.cid)
        .join(
            running,
            and_(
                r.month >= w.c.first,
                r.month <= w.c.month,
                or_(r.next_month.is_(None), r.next_month > w.c.month),
            ),
        )
        .where(
            or_(
                r.last_met >= w.c.w_start,
                and_(r.last_in >= w.c.w_start, r.last_out >= w.c.w_start),
            )
        )
        .subquery("active")
    )
    counts: dict[str, int] = {
        m: int(n)
        for m, n in session.execute(
            select(active.c.month, func.count(func.distinct(active.c.cid))).group_by(active.c.month)
        ).all()
    }
    return {m: int(counts.get(m, 0)) for m, _ in ends}


def _months_before(month: str, n: int) -> str:
    y, m = int(month[:4]), int(month[5:7]) - n
    while m <= 0:
        y, m = y - 1, m + 12
    return f"{y:04d}-{m:02d}"


# --- contacts: overdue, dormant, neglected ----------------------------------------------------


@dataclass(frozen=True)
class ContactStates:
    by_tier: dict[str | None, dict[str, int]]  # contacts, overdue, dormant
    neglected: list[dict[str, Any]]


def contact_states(session: Session, owner_id: int, p: ReportParams) -> ContactStates:
    """Contacts per tier, overdue and dormant ones; the most neglected relationships.

    Overdue: their cadence (their own, else their tier's) has passed since their last
    interaction (or since they were added); not snoozed, not do-not-contact. Dormant: once
    two-way (met, or mail both ways) and silent for `dormant_days`. Neglected: two-way
    once, and overdue (or, without a cadence, silent for `active_days`), those with the
    most interactions first.
    """
    agg = PEOPLE.c
    tier_cadence: Any = case(p.tiers, value=Contact.tier, else_=null()) if p.tiers else null()
    cadence = func.coalesce(Contact.cadence_days, tier_cadence)
    due_epoch = epoch_seconds(func.coalesce(agg.last, Contact.created_at)) + cadence * DAY
    now_epoch = p.now.timestamp()
    reachable = and_(
        Contact.do_not_contact == false(),
        or_(Contact.snoozed_until.is_(None), Contact.snoozed_until <= p.now),
    )
    overdue = and_(reachable, cadence.is_not(None), due_epoch <= now_epoch)
    two_way_ever = or_(agg.met == 1, and_(agg.last_in.is_not(None), agg.last_out.is_not(None)))
    dormant = and_(
        Contact.do_not_contact == false(),
        two_way_ever,
        agg.last < p.now - timedelta(days=p.dormant_days),
    )
    mine = [Contact.owner_id == owner_id, Contact.created_at <= p.now]
    by_tier: dict[str | None, dict[str, int]] = {}
    for tier, n, n_overdue, n_dormant in session.execute(
        select(
            Contact.tier,
            func.count(),
            func.sum(case((overdue, 1), else_=0)),
            func.sum(case((dormant, 1), else_=0)),
        )
        .outerjoin(PEOPLE, agg.cid == Contact.id)
        .where(*mine)
        .group_by(Contact.tier)
    ).all():
        by_tier[tier] = {
            "contacts": int(n),
            "overdue": int(n_overdue or 0),
            "dormant": int(n_dormant or 0),
        }
    quiet = and_(cadence.is_(None), agg.last < p.now - timedelta(days=p.active_days))
    rows = session.execute(
        select(
            Contact.id,
            Contact.name,
            Contact.tier,
            cadence.label("cadence"),
            agg.last,
            agg.n,
            case((cadence.is_not(None), now_epoch - due_epoch)).label("overdue_s"),
        )
        .join(PEOPLE, agg.cid == Contact.id)
        .where(*mine, reachable, two_way_ever, or_(overdue, quiet))
        .order_by(agg.n.desc(), agg.last, Contact.id)
        .limit(p.neglected)
    ).all()
    emails = _first_emails(session, owner_id, [r.id for r in rows])
    neglected = []
    for r in rows:
        last = _aware(r.last)
        neglected.append(
            {
                "id": r.id,
                "name": r.name,
                "email": emails.get(r.id),
                "tier": r.tier,
                "cadence_days": r.cadence,
                "last_interaction_at": iso(last),
                "days_silent": None if last is None else (p.now - last).days,
                "interactions": int(r.n),
                "overdue_days": None if r.overdue_s is None else int(float(r.overdue_s) // DAY),
            }
        )
    return ContactStates(by_tier, neglected)


def _first_emails(session: Session, owner_id: int, ids: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    if not ids:
        return out
    # `ids` are the neglected contacts, at most `neglected` of them: bounded, and chunked.
    for chunk in chunked(ids):
        for cid, addr in session.execute(
            select(ContactAddress.contact_id, ContactAddress.address)
            .where(ContactAddress.owner_id == owner_id, ContactAddress.contact_id.in_(chunk))
            .order_by(ContactAddress.id)
        ).all():
            out.setdefault(cid, addr)
    return out
