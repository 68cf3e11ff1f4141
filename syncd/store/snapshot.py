"""The queries behind `syncd.outbox.snapshot`: what the rules plan over, as plain rows.

Plain SQL text on the caller's connection, the same for both engines but for the spelling
of TRUE: `syncd plan` is one short process, and building these statements as expressions
loaded the ORM models (a fifth of a second) and compiled each statement anew (a tenth). So
nothing here imports `syncd.store.models`; the tests hold these rows equal to what the
models say on random stores of both engines (tests/test_plan_narrowed.py).

Each query is bounded by the address book or by an index range, never by the whole
history: the contacts with their statistics row (syncd/store/stats.py), the exact
aggregate only for contacts whose statistics do not hold as of `now`, the owner's mail to
a given set of contacts in a window (a range of ix_participants_contact_stats per
contact), the replies in a given set of threads (ix_interactions_thread_replies), the
meetings of a few weeks, the open actions. The rows are the driver's tuples: instants come
raw (text on SQLite, naive UTC datetimes on PostgreSQL), booleans as the driver has them
(0 and 1 on SQLite); over 50,000 rows, converting each value costs more than the caller's
parsing of the few it uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

from syncd.store.chunks import chunked
from syncd.store.reader import EngineReader, Reader

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    # What the reads run on: a session (in its transaction), a connection, or a reader
    # (Store.read_connection: on SQLite without SQLAlchemy, see syncd/store/reader.py).
    Db: TypeAlias = Session | Connection | Reader


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


def _reader(db: Db) -> Reader:
    """`db` as a reader; a session's or a connection's in their transaction."""
    if isinstance(db, Reader):
        return db
    from sqlalchemy import Connection

    return EngineReader(db if isinstance(db, Connection) else db.connection())


def _rows(db: Db, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """The rows of `sql` as the driver gives them, plain tuples.

    `{T}` in `sql` is TRUE as each engine stores booleans (1 on SQLite, so that the partial
    indexes' `is_counterpart = 1` applies). `{+}` before a column in a comparison that
    only filters rows (never one that bounds an index range) is SQLite's unary plus: it
    drops the column's NUMERIC affinity (DATETIME), so the text instants compare as they
    are; with it SQLite tried to read the parameter as a number at every comparison (an
    eighth of the contact query's instructions over 50,000 statistics rows, a tenth of
    the sent mail's). A datetime parameter is bound as the store keeps instants (naive
    UTC), a list one as an IN list (`IN :name`)."""
    reader = _reader(db)
    sqlite = reader.dialect == "sqlite"
    sql = sql.replace("{T}", "1" if sqlite else "true").replace("{+}", "+" if sqlite else "")
    return reader.rows(sql, params)


# A participation that has happened by :now (its interaction is real, started and ended):
# the condition of `syncd.store.contacts.counts_now`.
_REAL = (
    "p.is_interaction IS {T} AND p.occurred_at <= :now AND (p.ends_at IS NULL OR p.ends_at <= :now)"
)
# The contact's statistics do not hold as of :now (no row, or a participation ahead of it).
_AHEAD = "(s.contact_id IS NULL OR {+}s.horizon_at > :now)"
# A contact (its statistics holding) whose last mail out is in the window from :since and
# not before its last mail in: only its mail can await an answer.
_WAITING = "({+}s.last_out_at > :since AND (s.last_in_at IS NULL OR s.last_out_at >= s.last_in_at))"


def contact_rows(
    db: Db, owner_id: int, now: datetime, pickable: Pickable | None = None
) -> list[tuple[Any, ...]]:
    """Every contact that existed at `now` (with `pickable`, only those it keeps), with
    its statistics row's values, as plain tuples: id, name, tier, cadence_days, timezone,
    working_hours, do_not_contact, snoozed_until, ahead, then the aggregates as
    `exact_aggregates` gives them.

    `ahead` is 1 where the statistics do not hold as of `now` (no row, or a participation
    still ahead of it): `exact_aggregates` gives those contacts' values instead.
    """
    params: dict[str, Any] = {"owner": owner_id, "now": now}
    where = ""
    if pickable is not None:
        where = f" AND ({_pickable(pickable, params)})"
    return _rows(
        db,
        "SELECT c.id, c.name, c.tier, c.cadence_days, c.timezone, c.working_hours,"
        " c.do_not_contact, c.snoozed_until,"
        # Compared in SQL: no datetime conversion for each of 50,000 rows.
        f" CASE WHEN {_AHEAD} THEN 1 ELSE 0 END,"
        " s.contact_id, s.last_at, s.last_in_at, s.last_out_at,"
        " CASE WHEN s.last_meeting_at IS NOT NULL THEN 1 ELSE 0 END,"
        " CASE WHEN s.last_at IS NOT NULL THEN 1 ELSE 0 END,"
        " NULL"
        " FROM contacts c LEFT OUTER JOIN contact_stats s ON s.contact_id = c.id"
        " WHERE c.owner_id = :owner AND c.created_at <= :now" + where,
        **params,
    )


def _pickable(p: Pickable, params: dict[str, Any]) -> str:
    """The condition on a contact `c` (joined to its statistics row `s`) that `Pickable`
    states; its parameters are added to `params`."""
    reasons: list[str] = []
    own = "(c.cadence_days IS NULL OR c.cadence_days = 0)"
    for i, (tier, bound) in enumerate(p.tiers):
        params[f"tier{i}"], params[f"tier{i}_at"] = tier, bound
        reasons.append(f"({own} AND c.tier = :tier{i} AND {{+}}s.last_at <= :tier{i}_at)")
    if p.own_cadence:
        reasons.append("c.cadence_days > 0")
    if p.dormant is not None:
        params["dormant"] = p.dormant
        reasons.append(
            "((s.last_meeting_at IS NOT NULL"
            " OR (s.last_in_at IS NOT NULL AND s.last_out_at IS NOT NULL))"
            " AND {+}s.last_at <= :dormant)"
        )
    if p.waiting_since is not None:
        params["since"] = p.waiting_since
        reasons.append(_WAITING)
    if p.met_since is not None:
        # A real meeting's participations are `mutual` (syncd/ingest/batch.py), so a
        # meeting that `meetings` reads started at or before the last one the statistics
        # hold (or it is ahead of `now`, and so are they).
        params["met_since"] = p.met_since
        reasons.append("{+}s.last_meeting_at >= :met_since")
    if p.all_days or p.days:
        dated = "SELECT d.contact_id FROM contact_dates d WHERE d.owner_id = :owner"
        if not p.all_days:
            # Numbers the planner made (month * 100 + day): written out, not bound.
            days = ", ".join(str(int(d)) for d in sorted(p.days))
            dated += f" AND d.month * 100 + d.day IN ({days})"
        reasons.append(f"c.id IN ({dated})")
    acted = (
        "c.id IN (SELECT a.contact_id FROM actions a"
        " WHERE a.owner_id = :owner AND a.contact_id IS NOT NULL)"
    )
    cond = f"{_AHEAD} OR {acted}"
    if reasons:
        eligible = "c.do_not_contact IS NOT {T} AND s.last_at IS NOT NULL"
        cond += f" OR ({eligible} AND ({' OR '.join(reasons)}))"
    return cond


def exact_aggregates(
    db: Db, owner_id: int, now: datetime, ahead: timedelta
) -> dict[int, tuple[Any, ...]]:
    """Per contact with no statistics row, or a participation still ahead of `now` (an
    upcoming meeting, or a backtest's earlier day), its aggregates as of `now`, and its
    next meeting up to `now + ahead`: {contact id: (contact id, last, last in, last out,
    met, any real, next meeting)}."""
    rows = _rows(
        db,
        "SELECT p.contact_id,"
        f" MAX(CASE WHEN {_REAL} THEN p.occurred_at END),"
        f" MAX(CASE WHEN {_REAL} AND p.direction = 'in' THEN p.occurred_at END),"
        f" MAX(CASE WHEN {_REAL} AND p.direction = 'out' THEN p.occurred_at END),"
        f" MAX(CASE WHEN {_REAL} AND p.direction = 'mutual' THEN 1 ELSE 0 END),"
        f" MAX(CASE WHEN {_REAL} THEN 1 ELSE 0 END),"
        " MIN(CASE WHEN p.kind = 'meeting' AND p.is_interaction IS {T}"
        " AND p.occurred_at > :now THEN p.occurred_at END)"
        # One pass over the covering index ix_participants_contact_stats, stated as it
        # states its condition so that the partial index applies: no join.
        " FROM participants p"
        " WHERE p.owner_id = :owner AND p.contact_id IS NOT NULL AND p.is_counterpart = {T}"
        " AND p.occurred_at <= :until AND p.contact_id IN ("
        " SELECT c.id FROM contacts c LEFT OUTER JOIN contact_stats s ON s.contact_id = c.id"
        f" WHERE c.owner_id = :owner AND {_AHEAD})"
        " GROUP BY p.contact_id",
        owner=owner_id,
        now=now,
        until=now + ahead,
    )
    return {r[0]: tuple(r) for r in rows}


def addresses(db: Db, owner_id: int) -> list[tuple[Any, ...]]:
    """(contact id, address) in the order they were added."""
    return _rows(
        db,
        "SELECT contact_id, address FROM contact_addresses WHERE owner_id = :owner ORDER BY id",
        owner=owner_id,
    )


def dates(db: Db, owner_id: int) -> list[tuple[Any, ...]]:
    """The owner's contact dates: contact id, kind, month, day, year, label."""
    return _rows(
        db,
        "SELECT contact_id, kind, month, day, year, label FROM contact_dates"
        " WHERE owner_id = :owner ORDER BY id",
        owner=owner_id,
    )


# The owner's human mail to a contact in (:since, :now], with the latest reply in its
# thread in the window and the first place it was seen (the source with the smallest id,
# its row by primary key: one lookup in the interaction index, not one per column). The
# participation is stated as the partial index states its condition, so that it applies;
# its copies of the mail's kind and direction leave out the mail in before the table is
# read.
_SENT = (
    "SELECT m.id, m.message_key, m.subject, m.thread_key, m.occurred_at, p.contact_id,"
    " p.address,"
    " (SELECT MAX(r.occurred_at) FROM interactions r WHERE r.owner_id = :owner"
    " AND r.thread_key = m.thread_key AND r.direction = 'in' AND r.is_interaction IS {T}"
    " AND r.occurred_at > :since AND r.occurred_at <= :now),"
    " f.account_id, f.thread_id"
    " FROM participants p JOIN interactions m ON m.id = p.interaction_id"
    " LEFT OUTER JOIN interaction_sources f ON f.id = ("
    " SELECT MIN(src.id) FROM interaction_sources src WHERE src.interaction_id = m.id)"
    " {JOIN}"
    " WHERE p.contact_id IS NOT NULL AND p.is_counterpart = {T} AND p.is_interaction IS {T}"
    " AND p.kind = 'email' AND p.direction = 'out'"
    " AND p.occurred_at > :since AND p.occurred_at <= :now AND p.owner_id = :owner"
    " AND m.owner_id = :owner AND m.kind = 'email' AND m.direction = 'out'"
    " AND m.is_interaction IS {T} AND {+}m.occurred_at > :since AND {+}m.occurred_at <= :now"
)


def sent_waiting(
    db: Db,
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
    window = {"owner": owner_id, "since": since, "now": now}
    waiting = (
        _SENT.replace("{JOIN}", "JOIN contact_stats s ON s.contact_id = p.contact_id")
        + f" AND s.owner_id = :owner AND {{+}}s.horizon_at <= :now AND {_WAITING}"
        " AND {+}p.occurred_at >= COALESCE(s.last_in_at, :since)"
    )
    found = {(r[0], r[5]): r for r in _rows(db, waiting, **window)}
    chosen = _SENT.replace("{JOIN}", "") + " AND p.contact_id IN :ids"
    for chunk in chunked(sorted(set(contact_ids))):
        for r in _rows(db, chosen, ids=chunk, **window):
            found[(r[0], r[5])] = r
    # The account's name by its id (a handful of accounts): joined per row, SQLite
    # scanned the accounts for each of 10,000 rows.
    names = dict(_rows(db, "SELECT id, name FROM accounts"))
    # Raw instants sort as instants: fixed-width text on SQLite, datetimes on PostgreSQL.
    return [
        (*r[:8], names.get(r[8]) if r[8] is not None else None, r[9])
        for r in sorted(found.values(), key=lambda r: (r[4], r[0]))
    ]


def first_sources(db: Db, ids: Iterable[int]) -> dict[int, tuple[str, str | None]]:
    """For each interaction of `ids`, the account and provider thread of the first place
    it was seen."""
    out: dict[int, tuple[str, str | None]] = {}
    # In chunks, each in source order, which is all `setdefault` needs per interaction.
    for chunk in chunked(sorted(set(ids))):
        rows = _rows(
            db,
            "SELECT src.interaction_id, a.name, src.thread_id FROM interaction_sources src"
            " JOIN accounts a ON a.id = src.account_id"
            " WHERE src.interaction_id IN :ids ORDER BY src.id",
            ids=chunk,
        )
        for iid, name, thread in rows:
            out.setdefault(iid, (name, thread))
    return out


def meetings(
    db: Db, owner_id: int, now: datetime, back: timedelta, ahead: timedelta
) -> list[tuple[Any, ...]]:
    """Real meetings with contacts that end after `now - back` and start by `now + ahead`:
    message key, subject, start, end (raw), contact id, interaction id.

    Read per contact that can have one (a range of ix_participants_contact_stats each),
    not over every interaction of those weeks: a real meeting's participations are
    `mutual` (syncd/ingest/batch.py), so one that started by `now` is at or before the
    last meeting its contact's statistics hold, and one ahead of `now` is ahead of them
    too (or the contact has no statistics row). No meeting lasts a week: a lower bound on
    the indexed start, so the query reads the last weeks, not the whole history."""
    return _rows(
        db,
        "SELECT m.message_key, m.subject, m.occurred_at, m.ends_at, p.contact_id, m.id"
        " FROM interactions m JOIN participants p ON p.interaction_id = m.id"
        " WHERE m.owner_id = :owner AND m.kind = 'meeting' AND m.is_interaction IS {T}"
        " AND m.ends_at >= :ended AND m.occurred_at >= :earliest AND m.occurred_at <= :until"
        " AND p.contact_id IS NOT NULL"
        # As ix_participants_contact_stats states its condition and columns, so that a
        # range of it per contact serves the query.
        " AND p.is_counterpart = {T} AND p.kind = 'meeting' AND p.is_interaction IS {T}"
        " AND p.occurred_at >= :earliest AND p.occurred_at <= :until"
        " AND p.contact_id IN ("
        " SELECT c.id FROM contacts c LEFT OUTER JOIN contact_stats s ON s.contact_id = c.id"
        " WHERE c.owner_id = :owner AND (s.contact_id IS NULL OR {+}s.horizon_at > :now"
        " OR {+}s.last_meeting_at >= :earliest))",
        owner=owner_id,
        now=now,
        ended=now - back,
        earliest=now - back - timedelta(days=7),
        until=now + ahead,
    )


def actions(db: Db, owner_id: int, now: datetime, back: timedelta) -> list[tuple[Any, ...]]:
    """The open actions, and the others due after `now - back`: key, rule, kind,
    contact_id, state, due_at, created_at (instants raw)."""
    return _rows(
        db,
        "SELECT key, rule, kind, contact_id, state, due_at, created_at FROM actions"
        " WHERE owner_id = :owner AND (state IN ('planned', 'executing', 'failed', 'created')"
        " OR due_at >= :since)",
        owner=owner_id,
        since=now - back,
    )


def action_states(db: Db, owner_id: int, keys: Iterable[str]) -> dict[str, str]:
    """key → state of the stored actions of `keys` (one plan's, chunked)."""
    states: dict[str, str] = {}
    for chunk in chunked(keys):
        states.update(
            _rows(
                db,
                "SELECT key, state FROM actions WHERE owner_id = :owner AND key IN :keys",
                owner=owner_id,
                keys=chunk,
            )
        )
    return states


def first_addresses(db: Db, contact_ids: Iterable[int]) -> dict[int, str]:
    """contact id → first address, for `contact_ids` (one plan's contacts: chunked)."""
    out: dict[int, str] = {}
    for chunk in chunked(sorted(set(contact_ids))):
        rows = _rows(
            db,
            "SELECT contact_id, address FROM contact_addresses WHERE contact_id IN :ids"
            " ORDER BY id DESC",
            ids=chunk,
        )
        out.update({cid: addr for cid, addr in rows})
    return out
