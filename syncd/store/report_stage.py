"""What `syncd report` reads from the store, staged once into temporary tables.

The period's interactions (`ITEMS`: one row each with its month, direction, whether it was
two-way, the seconds to its first answer, and the tier of its contacts when they are one
contact), each contact's aggregates (`PEOPLE`), the contacts' monthly buckets since the
first month's active-network window (`BUCKETS`) and the (interaction, tier) pairs of the
few interactions with several contacts (`PAIRS`) are read with one INSERT … SELECT each;
then one GROUP BY over ITEMS and PAIRS counts every (month, direction, kind, tier) once
(`COUNTS`: the measures' counts, by month and by tier, add its few rows up), and one
partial index orders the answered mail for the medians. The tables are `CREATE TEMPORARY
TABLE`, the same on SQLite and PostgreSQL: they belong to the report's connection and
transaction and are dropped when it is done.

PEOPLE comes from the contact statistics (`contact_stats`) and BUCKETS from the monthly
rollup (`contact_buckets`, syncd/store/rollups.py), both maintained at ingest, for every
contact whose statistics hold as of `now`; for the others (no statistics row, or a
participation still ahead of `now`) the same aggregates are computed live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
    literal_column,
    null,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import Join

from syncd.store import rollups
from syncd.store.models import (
    Contact,
    ContactBucket,
    ContactStats,
    Interaction,
    InteractionFacts,
    Participant,
    UTCDateTime,
)
from syncd.store.sqltime import epoch_seconds, month_of

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
    # its one contact; NULL: none; SEVERAL: more than one (their tiers are in PAIRS)
    Column("contact", Integer),
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
BUCKETS = Table(  # syncd/store/rollups.py: per contact, month and thread
    "report_buckets",
    _STAGE,
    Column("cid", Integer),
    Column("thread", String(1000)),
    Column("month", String(7)),
    Column("last_at", UTCDateTime),
    Column("last_in", UTCDateTime),
    Column("last_out", UTCDateTime),
    Column("last_met", UTCDateTime),
    prefixes=["TEMPORARY"],
)
PAIRS = Table(  # each interaction of ITEMS with several contacts, once per tier
    "report_tier_pairs",
    _STAGE,
    Column("iid", Integer),
    Column("tier", String(64)),
    # ITEMS' columns of the interaction, so that the measures per tier read this alone
    Column("kind", String(16)),
    Column("direction", String(8)),
    Column("two_way", Integer),
    Column("closed", Integer),
    Column("delta", Float),
    prefixes=["TEMPORARY"],
)
COUNTS = Table(  # ITEMS and PAIRS counted per (month, direction, kind, tier)
    "report_counts",
    _STAGE,
    Column("month", String(7)),  # NULL on PAIRS' rows
    Column("direction", String(8)),
    Column("kind", String(16)),
    Column("tier", String(64)),
    Column("in_month", Integer),  # 1: counts in its month (ITEMS' rows)
    Column("in_tier", Integer),  # 1: counts in `tier` (one contact's, or one of PAIRS)
    Column("n", Integer),
    Column("two_way", Integer),
    Column("closed", Integer),  # email whose reply window has closed by now
    Column("answered", Integer),  # of those, answered within it
    prefixes=["TEMPORARY"],
)
STAGED = (ITEMS, PEOPLE, BUCKETS, PAIRS, COUNTS)
# The answered mail in order of its response time, per direction: a median is then read at
# its rank with LIMIT/OFFSET off the index, not by numbering every answered message
# (syncd/store/report_measures.py, `_median`); a month's or a tier's median reads the
# direction's order and keeps its own rows (the month and tier are in the index: no table
# row is read). Partial, on the mail whose reply window has closed and that was answered
# at all: the median's query states the same condition with the same literals
# (ANSWERED), so that both engines use it.
ANSWERED = "kind = 'email' AND closed = 1 AND delta IS NOT NULL"
ANSWERED_INDEXES = (
    (ITEMS.name, "ix_report_items_answered", "direction, delta, month, contact"),
    (PAIRS.name, "ix_report_tier_pairs_answered", "direction, tier, delta"),
)


@contextmanager
def staged(
    session: Session,
    owner_id: int,
    p: ReportParams,
    on_staged: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Fill the temporary tables for the period; drop them afterwards.

    ITEMS: the period's interactions; PEOPLE: each contact's aggregates; BUCKETS: the
    contacts' monthly buckets from `active_days` before the first month's end on (what
    the active network of that month looks back on); PAIRS: the (interaction, tier) pairs
    of ITEMS' interactions with several contacts, and then COUNTS and the medians' indexes.
    `on_staged` is called with each table's name once it is filled (the bench times them
    one by one; COUNTS and the indexes are timed with PAIRS).
    """
    conn = session.connection()
    lo = month_ends(p.since, p.now)[0][1] - timedelta(days=p.active_days)
    for table in STAGED:
        conn.execute(text(f"DROP TABLE IF EXISTS {table.name}"))
        table.create(conn)
    for table, rows in (
        (ITEMS, _with_contact(_items(owner_id, p, _has_facts(session, owner_id)))),
        (PEOPLE, _people(owner_id, p)),
        (BUCKETS, _buckets(owner_id, p, month_of_instant(lo))),
        (PAIRS, _tier_pairs(owner_id)),
    ):
        conn.execute(insert(table).from_select([c.name for c in table.c], rows))
        if table is PAIRS:
            conn.execute(insert(COUNTS).from_select([c.name for c in COUNTS.c], _counts(p)))
            for name, index, columns in ANSWERED_INDEXES:
                conn.execute(text(f"CREATE INDEX {index} ON {name} ({columns}) WHERE {ANSWERED}"))
            conn.execute(text(f"ANALYZE {ITEMS.name}"))  # again, with its index
        conn.execute(text(f"ANALYZE {table.name}"))  # PostgreSQL plans blind without
        if on_staged is not None:
            on_staged(table.name)
    try:
        yield
    finally:
        for table in STAGED:
            conn.execute(text(f"DROP TABLE IF EXISTS {table.name}"))


def _has_facts(session: Session, owner_id: int) -> bool:
    F = InteractionFacts
    return (
        session.scalar(select(F.interaction_id).where(F.owner_id == owner_id).limit(1)) is not None
    )


def month_of_instant(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m")


def counts_now(now: datetime) -> ColumnElement[bool]:
    """A participation that counts at `now` (real, and over by then)."""
    return and_(
        P.is_interaction.is_(True),
        P.occurred_at <= now,
        or_(P.ends_at.is_(None), P.ends_at <= now),
    )


def _untrusted(owner_id: int, p: ReportParams) -> Select[Any]:
    S = ContactStats
    return (
        select(Contact.id)
        .outerjoin(S, S.contact_id == Contact.id)
        .where(Contact.owner_id == owner_id, or_(S.contact_id.is_(None), S.horizon_at > p.now))
    )


def _buckets(owner_id: int, p: ReportParams, first: str) -> Any:
    """The buckets of months from `first` on: the rollup's rows for the contacts whose
    statistics hold as of `now`, the same aggregate computed live for the others."""
    B = ContactBucket
    kept = (
        select(B.contact_id, B.thread_key, B.month, B.last_at, B.last_in_at, B.last_out_at)
        .add_columns(B.last_meeting_at)
        .join(ContactStats, ContactStats.contact_id == B.contact_id)
        .where(B.owner_id == owner_id, B.month >= first, ContactStats.horizon_at <= p.now)
    )
    agg = (
        rollups.buckets(p.now)
        .where(P.owner_id == owner_id, P.contact_id.in_(_untrusted(owner_id, p)))
        .subquery("live")
    )
    c = list(agg.c)
    live = select(c[0], c[3], c[2], *c[4:]).where(c[2] >= first)
    return union_all(kept, live)


class _OrderedJoin(Join):
    """An inner join whose left side the query reads first: on SQLite `CROSS JOIN`, which
    its planner never reorders; elsewhere a plain JOIN."""

    inherit_cache = True


@compiles(_OrderedJoin, "sqlite")
def _ordered_join_sqlite(element: _OrderedJoin, compiler: SQLCompiler, **kw: Any) -> str:
    kw["asfrom"] = True
    left = compiler.process(element.left, **kw)
    right = compiler.process(element.right, **kw)
    assert element.onclause is not None
    on = compiler.process(element.onclause, **{k: v for k, v in kw.items() if k != "asfrom"})
    return f"{left} CROSS JOIN {right} ON {on}"


SEVERAL = -1  # ITEMS' contact of an interaction with several (contacts' ids are positive)
# An interaction's participants are its owner's: no owner_id, which
# ix_participants_interaction_contacts does not hold (it holds every column read here).
_CONTACT_COUNTERPART = (P.is_counterpart == true(), P.contact_id.is_not(None))


def _with_contact(rows: Any) -> Select[Any]:
    """ITEMS' `rows` with the interaction's contact: its one contact counterpart (or two
    addresses of one contact), NULL for none, SEVERAL for more than one.

    One look-up per interaction, in ix_participants_interaction_contacts, which holds
    every column the subquery reads; the tier is the contact's (COUNTS and the medians
    join it), or PAIRS' for SEVERAL."""
    base = rows.subquery("base")
    iid = next(iter(base.c))  # named as the first SELECT of `rows` names it
    lowest, highest = func.min(P.contact_id), func.max(P.contact_id)
    contact = (
        select(case((lowest < highest, SEVERAL), else_=lowest))
        .where(P.interaction_id == iid, *_CONTACT_COUNTERPART)
        .scalar_subquery()
    )
    return select(*base.c, contact)


def _tier_pairs(owner_id: int) -> Select[Any]:
    """(interaction, tier) for each interaction of ITEMS with several contacts, once per
    tier, with ITEMS' columns of the interaction."""
    i = ITEMS.c
    columns: list[Any] = [i.id, Contact.tier, i.kind, i.direction, i.two_way, i.closed, i.delta]
    parts = P.__table__
    items_first = _OrderedJoin(ITEMS, parts, parts.c.interaction_id == i.id)
    return (
        select(*columns)
        .select_from(_OrderedJoin(items_first, Contact.__table__, Contact.id == P.contact_id))
        .where(i.contact == SEVERAL, *_contact_rows(owner_id))
        .distinct()
    )


_ONE: ColumnElement[int] = literal_column("1")  # constants: no parameter to type
_ZERO: ColumnElement[int] = literal_column("0")


def _counts(p: ReportParams) -> Any:
    """COUNTS' rows: ITEMS per (month, direction, kind, one contact or not, tier), PAIRS per
    (direction, kind, tier)."""

    def sums(src: Table) -> list[Any]:
        c = src.c
        answered = and_(c.closed == 1, c.delta <= p.reply_days * DAY)
        return [
            func.count(),
            func.sum(c.two_way),
            func.sum(func.coalesce(c.closed, 0)),
            func.sum(case((answered, 1), else_=0)),
        ]

    i, r = ITEMS.c, PAIRS.c
    one = case((i.contact > _ZERO, _ONE), else_=_ZERO)  # literals: PostgreSQL groups by it
    items = (
        select(i.month, i.direction, i.kind, Contact.tier, _ONE, one, *sums(ITEMS))
        .select_from(ITEMS.outerjoin(Contact, Contact.id == i.contact))
        .group_by(i.month, i.direction, i.kind, one, Contact.tier)
    )
    pairs = select(null(), r.direction, r.kind, r.tier, _ZERO, _ONE, *sums(PAIRS))
    return union_all(items, pairs.group_by(r.direction, r.kind, r.tier))


def _items(owner_id: int, p: ReportParams, has_facts: bool) -> Any:
    """One row per real interaction of the period (see the module docstring).

    From the interaction facts (syncd/store/facts.py) where they hold as of `now`: two-way
    when a meeting or when the thread's first mail the other way is at or before `now`;
    answered by the earlier of its first answers in the thread and by In-Reply-To, when
    that is at or before `now`. The rows of a thread whose facts do not hold (an email
    there ends after `now`) are computed live, as `_live_items` does; all of them for an
    owner with no facts at all (a store written past ingest)."""
    if not has_facts:
        return _live_items(owner_id, p, None)
    F = InteractionFacts
    thread_at, ref_at = F.thread_answer_at, F.reference_answer_at
    answered_at = case(
        (ref_at.is_(None), thread_at),
        (thread_at.is_(None), ref_at),
        (ref_at < thread_at, ref_at),
        else_=thread_at,
    )
    is_mail = F.kind == "email"
    delta = case(
        (
            and_(is_mail, answered_at <= p.now),
            epoch_seconds(answered_at) - epoch_seconds(F.occurred_at),
        )
    )
    two_way = case((F.kind == "meeting", 1), (F.other_way_at <= p.now, 1), else_=0)
    closed = case((and_(is_mail, F.occurred_at <= p.now - timedelta(days=p.reply_days)), 1))
    kept = select(
        F.interaction_id,
        F.kind,
        F.direction,
        month_of(F.occurred_at),
        two_way,
        closed,
        delta,
    ).where(
        F.owner_id == owner_id,
        F.occurred_at >= p.since,
        F.occurred_at <= p.now,
        or_(F.ends_at.is_(None), F.ends_at <= p.now),
        or_(F.horizon_at.is_(None), F.horizon_at <= p.now),
    )
    ahead = (
        select(Interaction.thread_key)
        .join(F, F.interaction_id == Interaction.id)
        .where(F.owner_id == owner_id, F.horizon_at > p.now)
        .distinct()
    )
    return union_all(kept, _live_items(owner_id, p, ahead))


def _live_items(owner_id: int, p: ReportParams, threads: Select[Any] | None) -> Select[Any]:
    """ITEMS' rows of the period's interactions in `threads` (None: all), from the
    interactions themselves.

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
            *_in_threads(e, threads),
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
            *_in_threads(o, threads),
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


def _in_threads(e: Any, threads: Select[Any] | None) -> list[ColumnElement[bool]]:
    return [] if threads is None else [e.thread_key.in_(threads)]


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
    real = counts_now(p.now)
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
