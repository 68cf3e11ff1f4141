"""The report as it was computed before the monthly rollup (commit 1e6abc7: syncd/report/stage.py,
syncd/report/measures.py and build_report of syncd/report/document.py, joined, unchanged but for imports):
the reference tests/test_report_rollups.py holds the report to."""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement, Select

from syncd.contacts.views import participation_counts_now
from syncd.store.sqltime import epoch_seconds, month_of
from syncd.store.models import Contact, ContactStats, Interaction, Participant, UTCDateTime

P = Participant
DAY = 86400.0


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


def month_ends(since: datetime, now: datetime) -> list[tuple[str, datetime]]:
    """Each UTC month of [since, now] with the instant it ends (now, for the current month)."""
    out: list[tuple[str, datetime]] = []
    start = since.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while start <= now:
        nxt = (start + timedelta(days=32)).replace(day=1)
        out.append((start.strftime("%Y-%m"), min(now, nxt - timedelta(microseconds=1))))
        start = nxt
    return out


def _contact_rows(owner_id: int) -> list[ColumnElement[bool]]:
    """Counterparts that are contacts, stated as ix_participants_contact_stats states it."""
    return [P.owner_id == owner_id, P.contact_id.is_not(None), P.is_counterpart == true()]


# --- the staged tables ------------------------------------------------------------------------

_STAGE = MetaData()
ITEMS = Table(
    "report_items",
    _STAGE,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16)),
    Column("direction", String(8)),
    Column("month", String(7)),
    Column("two_way", Integer),
    Column("closed", Integer),  # email: its reply window has closed by now
    Column("delta", Float),  # email: seconds to its first answer
    prefixes=["TEMPORARY"],
)
PEOPLE = Table(
    "report_contacts",
    _STAGE,
    Column("cid", Integer, primary_key=True),
    Column("last", UTCDateTime),
    Column("last_in", UTCDateTime),
    Column("last_out", UTCDateTime),
    Column("met", Integer),
    Column("n", Integer),
    prefixes=["TEMPORARY"],
)
PARTS = Table(
    "report_participations",
    _STAGE,
    Column("cid", Integer),
    Column("iid", Integer),
    Column("thread", String(1000)),
    Column("kind", String(16)),
    Column("direction", String(8)),
    Column("at", UTCDateTime),
    Column("bucket", String(7)),  # the UTC month it ended (a meeting) or happened
    prefixes=["TEMPORARY"],
)
STAGED = (ITEMS, PEOPLE, PARTS)


@contextmanager
def staged(session: Session, owner_id: int, p: ReportParams) -> Iterator[None]:
    """Fill the temporary tables for the period; drop them afterwards.

    ITEMS: the period's interactions; PEOPLE: each contact's aggregates; PARTS: the
    contacts' participations from `active_days` before the first month's end (what the
    active network of that month looks back on), with their interaction's thread.
    """
    conn = session.connection()
    lo = month_ends(p.since, p.now)[0][1] - timedelta(days=p.active_days)
    for table in STAGED:
        conn.execute(text(f"DROP TABLE IF EXISTS {table.name}"))
        table.create(conn)
    for table, rows in (
        (ITEMS, _items(owner_id, p)),
        (PEOPLE, _people(owner_id, p)),
        (PARTS, _participations(owner_id, p, lo)),
    ):
        conn.execute(insert(table).from_select([c.name for c in table.c], rows))
        conn.execute(text(f"ANALYZE {table.name}"))  # PostgreSQL plans blind without
    try:
        yield
    finally:
        for table in STAGED:
            conn.execute(text(f"DROP TABLE IF EXISTS {table.name}"))


def _participations(owner_id: int, p: ReportParams, lo: datetime) -> Select[Any]:
    columns: list[Any] = [
        P.contact_id,
        P.interaction_id,
        Interaction.thread_key,
        P.kind,
        P.direction,
        P.occurred_at,
        month_of(func.coalesce(P.ends_at, P.occurred_at)),
    ]
    return (
        select(*columns)
        .join(Interaction, Interaction.id == P.interaction_id)
        .where(
            *_contact_rows(owner_id),
            participation_counts_now(p.now),
            P.occurred_at >= lo,
            Interaction.owner_id == owner_id,
            Interaction.occurred_at >= lo,
            Interaction.occurred_at <= p.now,
        )
    )


def _items(owner_id: int, p: ReportParams) -> Select[Any]:
    """One row per real interaction of the period (see the module docstring).

    In a thread, the first answer comes from one pass over the period's interactions
    ordered by thread and time: MIN over the following rows of the times the other way
    (a message of the same second counts when it was stored later). An answer is always
    later than its message, so mail before the period is not read for it. In-Reply-To
    answers are a join on the unique `(owner_id, message_key)` (`message_key` is `mid:` +
    the normalised Message-ID, the form `in_reply_to` is stored in); the earlier wins.
    Whether a thread was two-way looks at its whole history, through its index.
    """
    e = aliased(Interaction, name="e")
    later: dict[str, Any] = {
        "partition_by": e.thread_key,
        "order_by": (e.occurred_at, e.id),
        "rows": (1, None),
    }
    email = e.kind == "email"
    threaded = (
        select(
            e.id,
            e.kind,
            e.direction,
            e.thread_key,
            e.occurred_at,
            case((_two_way(e, p.now), 1), else_=0).label("two_way"),
            func.min(case((and_(email, e.direction == "in"), e.occurred_at)))
            .over(**later)
            .label("next_in"),
            func.min(case((and_(email, e.direction == "out"), e.occurred_at)))
            .over(**later)
            .label("next_out"),
        )
        .where(
            e.owner_id == owner_id,
            e.is_interaction.is_(True),
            e.occurred_at >= p.since,
            e.occurred_at <= p.now,
            or_(e.ends_at.is_(None), e.ends_at <= p.now),
        )
        .subquery("threaded")
    )
    t = threaded.c
    answer_at = case((t.direction == "out", t.next_in), (t.direction == "in", t.next_out))
    in_thread = case(
        (t.thread_key.is_not(None), epoch_seconds(answer_at) - epoch_seconds(t.occurred_at))
    )
    o, r = aliased(Interaction, name="o"), aliased(Interaction, name="r")
    by_reference = (
        select(
            o.id.label("oid"),
            func.min(epoch_seconds(r.occurred_at) - epoch_seconds(o.occurred_at)).label("delta"),
        )
        .select_from(r)
        .join(o, and_(o.owner_id == r.owner_id, o.message_key == literal("mid:") + r.in_reply_to))
        .where(
            *_period_mail(r, owner_id, p),
            *_period_mail(o, owner_id, p),
            r.in_reply_to.is_not(None),
            o.direction != r.direction,
            o.occurred_at < r.occurred_at,
        )
        .group_by(o.id)
        .subquery("by_reference")
    )
    ref = by_reference.c.delta
    first = case(
        (t.kind != "email", null()),
        (ref.is_(None), in_thread),
        (in_thread.is_(None), ref),
        (ref < in_thread, ref),
        else_=in_thread,
    )
    is_mail = t.kind == "email"
    closed = case((and_(is_mail, t.occurred_at <= p.now - timedelta(days=p.reply_days)), 1))
    return select(
        t.id,
        t.kind,
        t.direction,
        month_of(t.occurred_at),
        t.two_way,
        closed,
        first,
    ).outerjoin(by_reference, by_reference.c.oid == t.id)


def _period_mail(e: Any, owner_id: int, p: ReportParams) -> list[ColumnElement[bool]]:
    return [
        e.owner_id == owner_id,
        e.kind == "email",
        e.is_interaction.is_(True),
        e.direction.in_(("in", "out")),
        e.occurred_at >= p.since,
        e.occurred_at <= p.now,
    ]


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


def _people(owner_id: int, p: ReportParams) -> Any:
    """Per contact: last interaction, last each way, ever met, interactions in all.

    From the contact statistics (syncd/store/stats.py) where they hold as of `now`; the
    aggregate over the participations for a contact with one still ahead of `now`, or
    with no statistics row."""
    S = ContactStats
    ahead = or_(S.contact_id.is_(None), S.horizon_at > p.now)
    kept = select(
        S.contact_id,
        S.last_at,
        S.last_in_at,
        S.last_out_at,
        case((S.last_meeting_at.is_not(None), 1), else_=0),
        S.interactions,
    ).where(S.owner_id == owner_id, S.horizon_at <= p.now)
    exact_ids = (
        select(Contact.id)
        .outerjoin(S, S.contact_id == Contact.id)
        .where(Contact.owner_id == owner_id, ahead)
    )
    real = participation_counts_now(p.now)
    columns: list[Any] = [
        P.contact_id,
        func.max(case((real, P.occurred_at))),
        func.max(case((and_(real, P.direction == "in"), P.occurred_at))),
        func.max(case((and_(real, P.direction == "out"), P.occurred_at))),
        func.max(case((and_(real, P.direction == "mutual"), 1), else_=0)),
        func.count(func.distinct(case((real, P.interaction_id)))),
    ]
    exact = (
        select(*columns)
        .where(*_contact_rows(owner_id), P.contact_id.in_(exact_ids))
        .group_by(P.contact_id)
    )
    return union_all(kept, exact)


import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, false, func, literal, null, or_, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

from syncd.isotime import iso
from syncd.store.sqltime import epoch_seconds
from syncd.store.chunks import chunked
from syncd.store.models import Contact, ContactAddress, UTCDateTime


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # an aggregate over a CASE comes back as text on SQLite
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _tier_pairs(p: ReportParams) -> Subquery:
    """(interaction, tier) for each real interaction of the period with a contact, once."""
    return (
        select(PARTS.c.iid, Contact.tier.label("tier"))
        .join(Contact, Contact.id == PARTS.c.cid)
        .where(PARTS.c.at >= p.since)
        .distinct()
        .subquery("tier_pairs")
    )


# --- interactions -----------------------------------------------------------------------------


def interactions_by_month(session: Session) -> dict[str, dict[str, int]]:
    """Per UTC month: interactions in each direction, and how many were two-way."""
    out: dict[str, dict[str, int]] = {}
    for m, direction, n, tw in session.execute(
        select(ITEMS.c.month, ITEMS.c.direction, func.count(), func.sum(ITEMS.c.two_way)).group_by(
            ITEMS.c.month, ITEMS.c.direction
        )
    ).all():
        slot = out.setdefault(m, {"in": 0, "out": 0, "mutual": 0, "total": 0, "two_way": 0})
        if direction in slot:
            slot[direction] += int(n)
        slot["total"] += int(n)
        slot["two_way"] += int(tw or 0)
    return out


def tier_activity(session: Session, p: ReportParams) -> dict[str | None, dict[str, int]]:
    """Per tier: interactions in the period, how many were two-way, contacts reached."""
    pairs = _tier_pairs(p)
    out: dict[str | None, dict[str, int]] = {}
    for tier, n, tw in session.execute(
        select(pairs.c.tier, func.count(), func.sum(ITEMS.c.two_way))
        .join(ITEMS, ITEMS.c.id == pairs.c.iid)
        .group_by(pairs.c.tier)
    ).all():
        out[tier] = {"interactions": int(n), "two_way": int(tw or 0), "contacts_reached": 0}
    for tier, reached in session.execute(
        select(Contact.tier, func.count(func.distinct(PARTS.c.cid)))
        .join(Contact, Contact.id == PARTS.c.cid)
        .where(PARTS.c.at >= p.since)
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
    session: Session, src: Any, key: str | None, reply_days: int
) -> dict[tuple[str, Any], dict[str, Any]]:
    """Mail decided, answered and pending, and the median response time, per direction and
    `key` (a column of `src`, which has ITEMS' columns; None: one group per direction).

    The counts are one GROUP BY; the median numbers only the answered mail."""
    k = src.c[key] if key is not None else literal("all", String)
    groups = [src.c.direction] + ([src.c[key]] if key is not None else [])
    is_answered = and_(src.c.closed == 1, src.c.delta <= reply_days * DAY)
    out: dict[tuple[str, Any], dict[str, Any]] = {}
    for direction, kv, n, decided, answered in session.execute(
        select(
            src.c.direction,
            k.label("k"),
            func.count(),
            func.sum(func.coalesce(src.c.closed, 0)),
            func.sum(case((is_answered, 1), else_=0)),
        )
        .where(src.c.kind == "email")
        .group_by(*groups)
    ).all():
        decided_i, answered_i = int(decided or 0), int(answered or 0)
        out[(direction, kv)] = {
            "messages": decided_i,
            "answered": answered_i,
            "rate": _rate(answered_i, decided_i),
            "median_response_seconds": None,
            "pending": int(n) - decided_i,
        }
    ranked = (
        select(
            src.c.direction,
            k.label("k"),
            src.c.delta,
            func.row_number().over(partition_by=groups, order_by=src.c.delta).label("rn"),
            func.count().over(partition_by=groups).label("n"),
        )
        .where(src.c.kind == "email", is_answered)
        .subquery("ranked")
    )
    r = ranked.c
    for direction, kv, median in session.execute(
        select(r.direction, r.k, func.avg(r.delta))
        .where(or_(r.rn == (r.n + 1) // 2, r.rn == (r.n + 2) // 2))
        .group_by(r.direction, r.k)
    ).all():
        out[(direction, kv)]["median_response_seconds"] = round(float(median))
    return out


@dataclass(frozen=True)
class Responses:
    overall: dict[str, Any]
    by_month: dict[str, dict[str, Any]]
    by_tier: dict[str | None, dict[str, Any]]


def responses(session: Session, p: ReportParams) -> dict[str, Responses]:
    """Response measures of the owner's mail (`out`) and of the contacts' mail (`in`)."""
    overall = response_stats(session, ITEMS, None, p.reply_days)
    by_month = response_stats(session, ITEMS, "month", p.reply_days)
    pairs = _tier_pairs(p)
    tiered = select(ITEMS, pairs.c.tier).join(pairs, pairs.c.iid == ITEMS.c.id).subquery("tiered")
    by_tier = response_stats(session, tiered, "tier", p.reply_days)
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

    The staged participations go into buckets of (contact, thread, month)
    with the latest mail in, mail out and meeting of each; a meeting goes into the month
    it ended. A window [end - 90 days, end] reaches at most three months back, and the
    latest of a bucket is in the window when any of its items is, so each month's window
    is answered from the buckets of its month and the three before, not from the rows.
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
    x = PARTS.c
    email = x.kind == "email"
    buckets = (
        select(
            x.cid,
            x.thread,
            x.bucket.label("month"),
            func.max(case((and_(email, x.direction == "in"), x.at))).label("last_in"),
            func.max(case((and_(email, x.direction == "out"), x.at))).label("last_out"),
            func.max(case((x.kind == "meeting", x.at))).label("last_met"),
        )
        .where(or_(x.kind == "meeting", x.thread.is_not(None)))
        .group_by(x.cid, x.thread, x.bucket)
        .subquery("buckets")
    )
    b = buckets.c
    active = (
        select(w.c.month, b.cid)
        .join(buckets, and_(b.month >= w.c.first, b.month <= w.c.month))
        .group_by(w.c.month, w.c.w_start, b.cid, b.thread)
        .having(
            or_(
                func.max(b.last_met) >= w.c.w_start,
                and_(func.max(b.last_in) >= w.c.w_start, func.max(b.last_out) >= w.c.w_start),
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


DAY = 86400.0
AVG_MONTH_DAYS = 365.25 / 12


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- the whole report -------------------------------------------------------------------------


def build_report(session: Session, owner_id: int, p: ReportParams) -> dict[str, Any]:
    """Every measure, as the JSON document `syncd report --json` prints."""
    ends = month_ends(p.since, p.now)
    with staged(session, owner_id, p):
        by_month = interactions_by_month(session)
        both_ways = responses(session, p)
        active = active_network(session, p, ends)
        activity = tier_activity(session, p)
        states = contact_states(session, owner_id, p)
    sent, received = both_ways["out"], both_ways["in"]

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
