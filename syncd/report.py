"""Network measures (`syncd report`): SQL aggregates over the store, for a period and per tier.

Nothing here loads a history into Python: each measure is one grouped query (or a few),
and Python only assembles the few dozen rows they return. docs/report.md defines every
measure for the user; in short, for the period [since, now]:

- **interactions**: real interactions (`contacts.counts_now`) by UTC month and direction.
- **two-way**: a meeting, or an email in a thread (`thread_key`) where a real email in the
  other direction exists by now.
- **responses**, both ways: an email in the period is answered when a real email in the
  other direction follows it, by now, in the same thread or with `In-Reply-To` naming it;
  the first such reply gives the response time. It counts as answered when that reply
  came within `reply_days`. Messages sent less than `reply_days` before now are *pending*
  and in neither count. The median is taken in SQL: the answered messages numbered with
  `ROW_NUMBER()` over their response time, and the mean of the middle one or two
  (window functions run on SQLite >= 3.25 and PostgreSQL alike; `percentile_cont` exists
  only on PostgreSQL).
- **active network** at the end of each month: contacts with a two-way interaction in the
  `active_days` before (a meeting with them, or a thread where they wrote and the owner
  wrote to them, both in the window), as `contacts list` counts `two_way_90d`.
- **overdue** per tier: contacts whose cadence (their own, else their tier's) has passed
  since their last interaction (or since they were added), not snoozed, not do-not-contact.
- **dormant**: contacts once two-way (met, or mail both ways) and silent for `dormant_days`.
- **neglected**: two-way relationships that are overdue (or, without a cadence, silent for
  `active_days`), those with the most interactions first.

Per tier, an interaction counts in the tier of each contact it involves (once per tier).
Months are UTC months.
"""

from __future__ import annotations

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
    true,
    union,
    union_all,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement, Select, Subquery

from syncd.contacts import iso, participation_counts_now
from syncd.sqltime import epoch_seconds, month_of
from syncd.store.models import Contact, ContactAddress, Interaction, Participant, UTCDateTime

P = Participant
DAY = 86400.0
AVG_MONTH_DAYS = 365.25 / 12


@dataclass(frozen=True)
class ReportParams:
    now: datetime
    since: datetime
    tiers: dict[str, int]  # the configured tiers and their cadence in days, in config order
    reply_days: int = 7
    active_days: int = 90
    dormant_days: int = 180
    neglected: int = 10

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.since.tzinfo is None:
            raise ValueError("report times must be timezone-aware")
        if self.since > self.now:
            raise ValueError("the report period starts after it ends")


# --- months -----------------------------------------------------------------------------------


def month_key(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m")


def month_ends(since: datetime, now: datetime) -> list[tuple[str, datetime]]:
    """Each UTC month of [since, now] with the instant it ends (now, for the current month)."""
    out: list[tuple[str, datetime]] = []
    start = since.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while start <= now:
        nxt = (start + timedelta(days=32)).replace(day=1)
        out.append((month_key(start), min(now, nxt - timedelta(microseconds=1))))
        start = nxt
    return out


# --- helpers ----------------------------------------------------------------------------------


def _aware(value: Any) -> datetime | None:
    """MAX() over a CASE comes back as text on SQLite."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _contact_rows(owner_id: int) -> list[ColumnElement[bool]]:
    """Counterparts that are contacts, stated as ix_participants_contact_stats states it."""
    return [P.owner_id == owner_id, P.contact_id.is_not(None), P.is_counterpart == true()]


def _two_way(o: Any, now: datetime) -> ColumnElement[bool]:
    """Interaction `o` is a meeting, or an email whose thread has real mail the other way."""
    r = aliased(Interaction)
    other_way = (
        select(r.id)
        .where(
            r.owner_id == o.owner_id,
            r.thread_key == o.thread_key,
            r.kind == "email",
            r.is_interaction.is_(True),
            r.direction.in_(("in", "out")),
            r.direction != o.direction,
            r.occurred_at <= now,
        )
        .exists()
    )
    return or_(o.kind == "meeting", and_(o.thread_key.is_not(None), other_way))


def _tier_pairs(owner_id: int, p: ReportParams) -> Subquery:
    """(interaction, tier) for each real interaction of the period with a contact, once."""
    return (
        select(P.interaction_id.label("iid"), Contact.tier.label("tier"))
        .join(Contact, Contact.id == P.contact_id)
        .where(*_contact_rows(owner_id), participation_counts_now(p.now), P.occurred_at >= p.since)
        .distinct()
        .subquery("tier_pairs")
    )


# --- interactions -----------------------------------------------------------------------------


def interactions_by_month(
    session: Session, owner_id: int, p: ReportParams
) -> dict[str, dict[str, int]]:
    """Per UTC month: interactions in each direction, and how many were two-way."""
    o = aliased(Interaction, name="o")
    month = month_of(o.occurred_at).label("month")
    two_way = func.sum(case((_two_way(o, p.now), 1), else_=0))
    rows = session.execute(
        select(month, o.direction, func.count(), two_way)
        .where(
            o.owner_id == owner_id,
            o.is_interaction.is_(True),
            o.occurred_at <= p.now,
            or_(o.ends_at.is_(None), o.ends_at <= p.now),
            o.occurred_at >= p.since,
        )
        .group_by(month, o.direction)
    ).all()
    out: dict[str, dict[str, int]] = {}
    for m, direction, n, tw in rows:
        slot = out.setdefault(m, {"in": 0, "out": 0, "mutual": 0, "total": 0, "two_way": 0})
        if direction in slot:
            slot[direction] += int(n)
        slot["total"] += int(n)
        slot["two_way"] += int(tw or 0)
    return out


def tier_activity(
    session: Session, owner_id: int, p: ReportParams
) -> dict[str | None, dict[str, int]]:
    """Per tier: interactions in the period, how many were two-way, contacts reached."""
    pairs = _tier_pairs(owner_id, p)
    o = aliased(Interaction, name="o")
    out: dict[str | None, dict[str, int]] = {}
    for tier, n, tw in session.execute(
        select(pairs.c.tier, func.count(), func.sum(case((_two_way(o, p.now), 1), else_=0)))
        .join(o, o.id == pairs.c.iid)
        .group_by(pairs.c.tier)
    ).all():
        out[tier] = {"interactions": int(n), "two_way": int(tw or 0), "contacts_reached": 0}
    for tier, reached in session.execute(
        select(Contact.tier, func.count(func.distinct(P.contact_id)))
        .join(Contact, Contact.id == P.contact_id)
        .where(*_contact_rows(owner_id), participation_counts_now(p.now), P.occurred_at >= p.since)
        .group_by(Contact.tier)
    ).all():
        out.setdefault(tier, {"interactions": 0, "two_way": 0, "contacts_reached": 0})
        out[tier]["contacts_reached"] = int(reached)
    return out


# --- responses --------------------------------------------------------------------------------


def reply_deltas(owner_id: int, p: ReportParams, direction: str) -> Subquery:
    """Each real email of `direction` in the period: its month, whether its reply window has
    closed, and the seconds to its first answer (NULL when none came by now).

    An answer is a real email the other way, after it, in the same thread or with
    In-Reply-To naming it (`message_key` is `mid:` + the normalised Message-ID, the form
    `in_reply_to` is stored in). The two ways of matching are two joins on indexed columns
    (thread: `ix_interactions_owner_id_thread_key`; In-Reply-To: the unique
    `(owner_id, message_key)`), put together with UNION ALL, not one join with OR.
    """
    answer = {"out": "in", "in": "out"}[direction]
    o = aliased(Interaction, name="o")
    r = aliased(Interaction, name="r")
    orig = [
        o.owner_id == owner_id,
        o.kind == "email",
        o.is_interaction.is_(True),
        o.direction == direction,
        o.occurred_at >= p.since,
        o.occurred_at <= p.now,
    ]
    reply = [
        r.kind == "email",
        r.is_interaction.is_(True),
        r.direction == answer,
        r.occurred_at > o.occurred_at,
        r.occurred_at <= p.now,
    ]
    delta = (epoch_seconds(r.occurred_at) - epoch_seconds(o.occurred_at)).label("delta")
    by_thread = (
        select(o.id.label("oid"), delta)
        .join(r, and_(r.owner_id == o.owner_id, r.thread_key == o.thread_key))
        .where(*orig, *reply)
    )
    by_reference = (
        select(o.id.label("oid"), delta)
        .select_from(r)
        .join(o, and_(o.owner_id == r.owner_id, o.message_key == literal("mid:") + r.in_reply_to))
        .where(*orig, *reply, r.owner_id == owner_id, r.in_reply_to.is_not(None))
    )
    candidates = union_all(by_thread, by_reference).subquery("candidates")
    first = (
        select(candidates.c.oid, func.min(candidates.c.delta).label("delta"))
        .group_by(candidates.c.oid)
        .subquery("first_reply")
    )
    closed = case((o.occurred_at <= p.now - timedelta(days=p.reply_days), 1), else_=0)
    return (
        select(
            o.id.label("id"),
            month_of(o.occurred_at).label("month"),
            closed.label("closed"),
            first.c.delta,
        )
        .outerjoin(first, first.c.oid == o.id)
        .where(*orig)
        .subquery(f"replies_{direction}")
    )


def response_stats(
    session: Session, base: Subquery | Select[Any], key: Any, reply_days: int
) -> dict[Any, dict[str, Any]]:
    """Messages decided, answered, pending and the median response time, per `key`.

    `base` has the columns of `reply_deltas`; `key` is one of its columns (or None for one
    group). The median is the mean of the middle one or two answered messages by
    ROW_NUMBER() over their response time.
    """
    src = base.subquery("base") if isinstance(base, Select) else base
    k = src.c[key] if key is not None else literal("all", String).label("k")
    answered = case(
        (and_(src.c.closed == 1, src.c.delta <= reply_days * DAY), 1),
        else_=0,
    )
    part = [answered] if key is None else [src.c[key], answered]
    ranked = select(
        k.label("k"),
        src.c.closed,
        answered.label("answered"),
        src.c.delta,
        func.row_number().over(partition_by=part, order_by=src.c.delta).label("rn"),
        func.count().over(partition_by=part).label("n"),
    ).subquery("ranked")
    middle = and_(
        ranked.c.answered == 1,
        or_(ranked.c.rn == (ranked.c.n + 1) // 2, ranked.c.rn == (ranked.c.n + 2) // 2),
    )
    rows = session.execute(
        select(
            ranked.c.k,
            func.count(),
            func.sum(ranked.c.closed),
            func.sum(ranked.c.answered),
            func.avg(case((middle, ranked.c.delta))),
        ).group_by(ranked.c.k)
    ).all()
    out: dict[Any, dict[str, Any]] = {}
    for kv, n, decided, answered_n, median in rows:
        decided_i, answered_i = int(decided or 0), int(answered_n or 0)
        out[kv] = {
            "messages": decided_i,
            "answered": answered_i,
            "rate": _rate(answered_i, decided_i),
            "median_response_seconds": None if median is None else round(float(median)),
            "pending": int(n) - decided_i,
        }
    return out


def empty_response() -> dict[str, Any]:
    return {
        "messages": 0,
        "answered": 0,
        "rate": None,
        "median_response_seconds": None,
        "pending": 0,
    }


@dataclass(frozen=True)
class Responses:
    overall: dict[str, Any]
    by_month: dict[str, dict[str, Any]]
    by_tier: dict[str | None, dict[str, Any]]


def responses(session: Session, owner_id: int, p: ReportParams, direction: str) -> Responses:
    """Response measures for the owner's mail (`out`) or the contacts' mail (`in`)."""
    base = reply_deltas(owner_id, p, direction)
    overall = response_stats(session, base, None, p.reply_days).get("all", empty_response())
    by_month = response_stats(session, base, "month", p.reply_days)
    pairs = _tier_pairs(owner_id, p)
    tiered = select(base, pairs.c.tier).join(pairs, pairs.c.iid == base.c.id)
    by_tier = response_stats(session, tiered, "tier", p.reply_days)
    return Responses(overall, by_month, by_tier)


# --- the active network -----------------------------------------------------------------------


def active_network(
    session: Session, owner_id: int, p: ReportParams, ends: Sequence[tuple[str, datetime]]
) -> dict[str, int]:
    """Per month: contacts with a two-way interaction in the `active_days` up to its end.

    Two-way for a contact, as `contacts list` counts `two_way_90d`: a meeting with them
    that has ended, or a thread in which they wrote and the owner wrote to them, both
    within the window.
    """
    if not ends:
        return {}
    window = timedelta(days=p.active_days)
    parts = [
        select(
            literal(m, String).label("month"),
            literal(e, UTCDateTime).label("w_end"),
            literal(e - window, UTCDateTime).label("w_start"),
        )
        for m, e in ends
    ]
    w = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("windows")
    # Rows of the whole span first (an index range), then matched to the windows.
    lo = min(e for _, e in ends) - window
    rows = (
        select(
            P.contact_id.label("cid"),
            P.kind.label("kind"),
            P.direction.label("direction"),
            P.occurred_at.label("at"),
            P.ends_at.label("ends_at"),
            Interaction.thread_key.label("thread"),
        )
        .join(Interaction, Interaction.id == P.interaction_id)
        .where(
            *_contact_rows(owner_id),
            P.is_interaction.is_(True),
            P.occurred_at >= lo,
            P.occurred_at <= p.now,
            Interaction.owner_id == owner_id,
            Interaction.occurred_at >= lo,
            Interaction.occurred_at <= p.now,
        )
        .subquery("rows")
    )
    inside = and_(rows.c.at >= w.c.w_start, rows.c.at <= w.c.w_end)
    met = select(w.c.month, rows.c.cid).join(
        rows,
        and_(
            inside,
            rows.c.kind == "meeting",
            or_(rows.c.ends_at.is_(None), rows.c.ends_at <= w.c.w_end),
        ),
    )
    wrote = (
        select(w.c.month, rows.c.cid)
        .join(rows, and_(inside, rows.c.kind == "email", rows.c.thread.is_not(None)))
        .group_by(w.c.month, rows.c.cid, rows.c.thread)
        .having(
            and_(
                func.sum(case((rows.c.direction == "in", 1), else_=0)) > 0,
                func.sum(case((rows.c.direction == "out", 1), else_=0)) > 0,
            )
        )
    )
    both = union(met, wrote).subquery("active")
    counts: dict[str, int] = {
        m: int(n)
        for m, n in session.execute(
            select(both.c.month, func.count(func.distinct(both.c.cid))).group_by(both.c.month)
        ).all()
    }
    return {m: int(counts.get(m, 0)) for m, _ in ends}


# --- contacts: overdue, dormant, neglected ----------------------------------------------------


def _contact_aggregates(owner_id: int, now: datetime) -> Subquery:
    real = participation_counts_now(now)
    return (
        select(
            P.contact_id.label("cid"),
            func.max(case((real, P.occurred_at))).label("last"),
            func.max(case((and_(real, P.direction == "in"), P.occurred_at))).label("last_in"),
            func.max(case((and_(real, P.direction == "out"), P.occurred_at))).label("last_out"),
            func.max(case((and_(real, P.direction == "mutual"), 1), else_=0)).label("met"),
            func.count(func.distinct(case((real, P.interaction_id)))).label("n"),
        )
        .where(*_contact_rows(owner_id))
        .group_by(P.contact_id)
        .subquery("per_contact")
    )


@dataclass(frozen=True)
class ContactStates:
    by_tier: dict[str | None, dict[str, int]]  # contacts, overdue, dormant
    neglected: list[dict[str, Any]]


def contact_states(session: Session, owner_id: int, p: ReportParams) -> ContactStates:
    agg = _contact_aggregates(owner_id, p.now)
    if p.tiers:
        tier_cadence: Any = case(p.tiers, value=Contact.tier, else_=null())
    else:
        tier_cadence = null()
    cadence = func.coalesce(Contact.cadence_days, tier_cadence)
    since_when = func.coalesce(agg.c.last, Contact.created_at)
    due_epoch = epoch_seconds(since_when) + cadence * DAY
    now_epoch = p.now.timestamp()
    reachable = and_(
        Contact.do_not_contact == false(),
        or_(Contact.snoozed_until.is_(None), Contact.snoozed_until <= p.now),
    )
    overdue = and_(reachable, cadence.is_not(None), due_epoch <= now_epoch)
    two_way_ever = or_(
        agg.c.met == 1, and_(agg.c.last_in.is_not(None), agg.c.last_out.is_not(None))
    )
    dormant = and_(
        Contact.do_not_contact == false(),
        two_way_ever,
        agg.c.last < p.now - timedelta(days=p.dormant_days),
    )
    by_tier: dict[str | None, dict[str, int]] = {}
    for tier, n, n_overdue, n_dormant in session.execute(
        select(
            Contact.tier,
            func.count(),
            func.sum(case((overdue, 1), else_=0)),
            func.sum(case((dormant, 1), else_=0)),
        )
        .outerjoin(agg, agg.c.cid == Contact.id)
        .where(Contact.owner_id == owner_id, Contact.created_at <= p.now)
        .group_by(Contact.tier)
    ).all():
        by_tier[tier] = {
            "contacts": int(n),
            "overdue": int(n_overdue or 0),
            "dormant": int(n_dormant or 0),
        }
    quiet = and_(cadence.is_(None), agg.c.last < p.now - timedelta(days=p.active_days))
    rows = session.execute(
        select(
            Contact.id,
            Contact.name,
            Contact.tier,
            cadence.label("cadence"),
            agg.c.last,
            agg.c.n,
            case((cadence.is_not(None), now_epoch - due_epoch)).label("overdue_s"),
        )
        .join(agg, agg.c.cid == Contact.id)
        .where(
            Contact.owner_id == owner_id,
            Contact.created_at <= p.now,
            reachable,
            two_way_ever,
            or_(overdue, quiet),
        )
        .order_by(agg.c.n.desc(), agg.c.last, Contact.id)
        .limit(p.neglected)
    ).all()
    emails = _first_emails(session, owner_id, [r.id for r in rows])
    neglected = []
    for r in rows:
        last = _aware(r.last)
        overdue_s = _num(r.overdue_s)
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
                "overdue_days": None if overdue_s is None else int(overdue_s // DAY),
            }
        )
    return ContactStates(by_tier, neglected)


def _first_emails(session: Session, owner_id: int, ids: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    if not ids:
        return out
    for cid, addr in session.execute(
        select(ContactAddress.contact_id, ContactAddress.address)
        .where(ContactAddress.owner_id == owner_id, ContactAddress.contact_id.in_(ids))
        .order_by(ContactAddress.id)
    ).all():
        out.setdefault(cid, addr)
    return out


# --- the whole report -------------------------------------------------------------------------


def build_report(session: Session, owner_id: int, p: ReportParams) -> dict[str, Any]:
    """Every measure, as the JSON document `syncd report --json` prints."""
    ends = month_ends(p.since, p.now)
    by_month = interactions_by_month(session, owner_id, p)
    sent = responses(session, owner_id, p, "out")
    received = responses(session, owner_id, p, "in")
    active = active_network(session, owner_id, p, ends)
    activity = tier_activity(session, owner_id, p)
    states = contact_states(session, owner_id, p)

    months: list[dict[str, Any]] = []
    previous: int | None = None
    for m, end in ends:
        counts = by_month.get(m, {"in": 0, "out": 0, "mutual": 0, "total": 0, "two_way": 0})
        a = active[m]
        months.append(
            {
                "month": m,
                "end": iso(end),
                **counts,
                "two_way_share": _rate(counts["two_way"], counts["total"]),
                "active_network": a,
                "active_change": None if previous is None else a - previous,
                "sent_response": sent.by_month.get(m, empty_response()),
                "received_response": received.by_month.get(m, empty_response()),
            }
        )
        previous = a
    total = sum(c["total"] for c in by_month.values())
    two_way = sum(c["two_way"] for c in by_month.values())
    days = max((p.now - p.since).total_seconds() / DAY, 1.0)
    first, last = (months[0]["active_network"], months[-1]["active_network"]) if months else (0, 0)
    return {
        "generated_at": iso(p.now),
        "since": iso(p.since),
        "until": iso(p.now),
        "settings": {
            "reply_within_days": p.reply_days,
            "active_window_days": p.active_days,
            "dormant_after_days": p.dormant_days,
        },
        "interactions": {
            "total": total,
            "in": sum(c["in"] for c in by_month.values()),
            "out": sum(c["out"] for c in by_month.values()),
            "mutual": sum(c["mutual"] for c in by_month.values()),
            "per_week": round(total / days * 7, 2),
            "per_month": round(total / days * AVG_MONTH_DAYS, 2),
            "two_way": two_way,
            "two_way_share": _rate(two_way, total),
        },
        "response": {"sent": sent.overall, "received": received.overall},
        "active_network": {
            "window_days": p.active_days,
            "current": last,
            "at_start": first,
            "growth": last - first,
            "growth_pct": round(100 * (last - first) / first, 1) if first else None,
        },
        "overdue": sum(t["overdue"] for t in states.by_tier.values()),
        "dormant": sum(t["dormant"] for t in states.by_tier.values()),
        "months": months,
        "tiers": _tiers(p, days, activity, states, sent, received),
        "neglected": states.neglected,
    }


def _tiers(
    p: ReportParams,
    days: float,
    activity: dict[str | None, dict[str, int]],
    states: ContactStates,
    sent: Responses,
    received: Responses,
) -> list[dict[str, Any]]:
    names: list[str | None] = list(p.tiers)
    seen = set(names)
    extra = {t for t in (*activity, *states.by_tier) if t not in seen and t is not None}
    names += sorted(extra)
    names.append(None)
    out = []
    for tier in names:
        act = activity.get(tier, {"interactions": 0, "two_way": 0, "contacts_reached": 0})
        st = states.by_tier.get(tier, {"contacts": 0, "overdue": 0, "dormant": 0})
        if tier is None and not st["contacts"] and not act["interactions"]:
            continue
        contacts = st["contacts"]
        per = act["interactions"] / contacts / (days / AVG_MONTH_DAYS) if contacts else None
        out.append(
            {
                "tier": tier,
                "cadence_days": p.tiers.get(tier) if tier is not None else None,
                "contacts": contacts,
                "contacts_reached": act["contacts_reached"],
                "interactions": act["interactions"],
                "per_contact_per_month": None if per is None else round(per, 3),
                "two_way": act["two_way"],
                "two_way_share": _rate(act["two_way"], act["interactions"]),
                "sent_response": sent.by_tier.get(tier, empty_response()),
                "received_response": received.by_tier.get(tier, empty_response()),
                "overdue": st["overdue"],
                "dormant": st["dormant"],
            }
        )
    return out


def default_since(now: datetime, months: int = 12) -> datetime:
    """The first day of the month `months - 1` months before now's (UTC): `months` months."""
    y, m = now.year, now.month - (months - 1)
    while m <= 0:
        y, m = y - 1, m + 12
    return datetime(y, m, 1, tzinfo=UTC)


# --- how figures read (the terminal and the HTML page) -------------------------------------


def format_rate(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.0f}%"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def format_answered(r: dict[str, Any]) -> str:
    return f"{format_rate(r['rate'])} ({r['answered']}/{r['messages']})"
