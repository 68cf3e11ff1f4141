"""Per-interaction facts `syncd report` reads (`interaction_facts`), kept equal to a
recomputation.

One row per real interaction (`is_interaction`), with what the report otherwise finds by
reading the interaction's thread and its replies (syncd/store/report_stage.py, `_items`):

- `other_way_at`: the earliest real email in its thread the other way (direction `in` or
  `out`, not the interaction's own). The interaction is two-way at `now` (a meeting aside)
  when it has a thread and `other_way_at <= now`.
- `thread_answer_at`: for real email in or out, the earliest real email the other way later
  in its thread (at the same second: stored later, a higher id); `reference_answer_at`:
  the earliest real email the other way, strictly later, naming it in In-Reply-To. Its
  first answer as of `now` is the earlier of the two, when that is at or before `now`.
- `horizon_at`: the latest `ends_at`, where later than its start, of the real email in its
  thread (nearly always none). An answer counts in the report only once it has ended, so
  the two answer times hold at a `now` at or after it; readers compute the others live.

The first three are minima over the rows as they are stored, independent of `now`: an
answer at a `now` is the minimum restricted to rows at or before `now`, which is the stored
minimum when that is at or before `now`, and none otherwise.

An interaction's facts change when its thread changes, or a reply naming it comes or goes.
Every path that adds, moves or removes interactions collects the `Touched` threads and
reply targets before and after its writes and calls `refresh`, in its own transaction:
one DELETE and one INSERT … SELECT (correlated subqueries over the thread index and the
In-Reply-To index) per chunk. `rebuild_all` recomputes every row (what migration 0007's
backfill does, for tests and repairs).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement, Executable, Select

from syncd.store.chunks import chunked
from syncd.store.models import Interaction, InteractionFacts, InteractionSource
from syncd.store.one_of import named_values, one_of_each, one_of_named

COLUMNS = (
    "interaction_id",
    "owner_id",
    "kind",
    "direction",
    "occurred_at",
    "ends_at",
    "other_way_at",
    "thread_answer_at",
    "reference_answer_at",
    "horizon_at",
)


def _real_mail(r: Any, e: Any) -> list[ColumnElement[bool]]:
    return [
        r.owner_id == e.owner_id,
        r.kind == "email",
        r.is_interaction.is_(True),
        r.direction.in_(("in", "out")),
    ]


E = aliased(Interaction, name="e")  # the interaction whose facts `aggregate` gives


@functools.cache
def aggregate() -> Select[Any]:
    """The facts' columns (COLUMNS' order) of every real interaction (`E`). Built once (a
    Select is immutable; `.where` returns a new one): ingest refreshes with it per batch."""
    e = E
    r = aliased(Interaction, name="r")
    in_thread = [*_real_mail(r, e), r.thread_key == e.thread_key]
    other_way = (
        select(func.min(r.occurred_at))
        .where(*in_thread, r.direction != e.direction)
        .scalar_subquery()
    )
    opposite = case((e.direction == "out", literal("in")), (e.direction == "in", literal("out")))
    is_mail = and_(e.kind == "email", e.direction.in_(("in", "out")))
    thread_answer = (
        select(func.min(r.occurred_at))
        .where(
            *in_thread,
            r.direction == opposite,
            or_(
                r.occurred_at > e.occurred_at,
                and_(r.occurred_at == e.occurred_at, r.id > e.id),
            ),
        )
        .scalar_subquery()
    )
    # The replies naming it, by ix_interactions_in_reply_to: "later" is inside the MIN, not
    # in the WHERE, where a time range would let SQLite's planner prefer the period index
    # of all replies (ix_interactions_replies) and read every later reply for each row.
    reference_answer = (
        select(func.min(case((r.occurred_at > e.occurred_at, r.occurred_at))))
        .where(
            *_real_mail(r, e),
            r.in_reply_to == func.substr(e.message_key, 5),
            r.direction != e.direction,
        )
        .scalar_subquery()
    )
    horizon = (
        select(func.max(r.ends_at)).where(*in_thread, r.ends_at > r.occurred_at).scalar_subquery()
    )
    threaded = e.thread_key.is_not(None)
    columns: list[Any] = [
        e.id,
        e.owner_id,
        e.kind,
        e.direction,
        e.occurred_at,
        e.ends_at,
        case((threaded, other_way)),
        case((and_(threaded, is_mail), thread_answer)),
        case((and_(is_mail, func.substr(e.message_key, 1, 4) == "mid:"), reference_answer)),
        case((threaded, horizon)),
    ]
    return select(*columns).where(e.is_interaction == true())


@dataclass
class Touched:
    """What a write changed: the threads whose rows' facts to recompute, keyed by owner,
    and single interactions (a reply's target, an interaction without a thread)."""

    threads: set[tuple[int, str]] = field(default_factory=set)
    interactions: set[int] = field(default_factory=set)

    def add(self, interaction_id: int, owner_id: int, thread_key: str | None) -> None:
        """An interaction's thread, or the interaction itself when it has none."""
        if thread_key is None:
            self.interactions.add(interaction_id)
        else:
            self.threads.add((owner_id, thread_key))

    def __ior__(self, other: Touched) -> Touched:
        self.threads |= other.threads
        self.interactions |= other.interactions
        return self


def touched_by(session: Session, interaction_ids: Iterable[int]) -> Touched:
    """The threads of `interaction_ids`, the interactions themselves, and those their
    In-Reply-To names: read before a write removes or moves them, and after it adds them."""
    out = Touched()
    i, o = Interaction, aliased(Interaction, name="o")
    for chunk in chunked(sorted(set(interaction_ids))):
        out.interactions.update(chunk)  # a gone one without a thread loses its row
        rows = session.execute(select(i.id, i.owner_id, i.thread_key).where(i.id.in_(chunk))).all()
        targets = session.execute(
            select(o.id, o.owner_id, o.thread_key)
            .join(
                i, and_(o.owner_id == i.owner_id, o.message_key == literal("mid:") + i.in_reply_to)
            )
            .where(i.id.in_(chunk), i.in_reply_to.is_not(None))
        ).all()
        for iid, owner_id, thread_key in [*rows, *targets]:
            if thread_key is None:
                out.interactions.add(iid)
            else:
                out.threads.add((owner_id, thread_key))
                out.interactions.discard(iid)
    return out


def touched_by_new(
    session: Session, owner_id: int, new: Iterable[tuple[int, str | None, str | None]]
) -> Touched:
    """`touched_by` for interactions of `owner_id` this transaction just inserted, from the
    values written, (id, thread_key, in_reply_to): only the interactions their In-Reply-To
    names are read (one query a batch, its values as one parameter)."""
    out = Touched()
    named: set[str] = set()
    for iid, thread_key, in_reply_to in new:
        out.add(iid, owner_id, thread_key)
        if in_reply_to is not None:
            named.add("mid:" + in_reply_to)
    o = Interaction
    for among in one_of_each(session, o.message_key, named):
        for iid, thread_key in session.execute(
            select(o.id, o.thread_key).where(o.owner_id == owner_id, among)
        ):
            out.add(iid, owner_id, thread_key)
    return out


def interactions_of_sources(
    session: Session, account_id: int, provider_ids: Iterable[str]
) -> set[int]:
    """The interactions `account_id`'s `provider_ids` point at."""
    S = InteractionSource
    out: set[int] = set()
    for chunk in chunked(sorted(set(provider_ids))):
        out.update(
            session.scalars(
                select(S.interaction_id).where(S.account_id == account_id, S.provider_id.in_(chunk))
            )
        )
    return out


def refresh(session: Session, touched: Touched) -> None:
    """Recompute the facts of every interaction in the touched threads, and of the touched
    interactions (gone ones just lose their row)."""
    by_owner: dict[int, list[str]] = {}
    for owner_id, thread_key in touched.threads:
        by_owner.setdefault(owner_id, []).append(thread_key)
    # A batch's keys and ids travel as one parameter each (store/one_of.py): an IN list
    # cost Python work per value, twice per statement pair. The statements are built once.
    dialect = session.connection().dialect.name
    for owner_id, keys in by_owner.items():
        values = named_values(session, sorted(keys))
        if values is not None:
            for statement in _by_thread(dialect):
                session.execute(statement, {"facts_owner": owner_id, "facts_threads": values})
            continue
        for among in one_of_each(session, Interaction.thread_key, sorted(keys)):
            session.execute(_delete_threads(owner_id, among))
        for among in one_of_each(session, E.thread_key, sorted(keys)):
            session.execute(_insert_threads(owner_id, among))
    ids = sorted(touched.interactions)
    values = named_values(session, ids) if ids else None
    if values is not None:
        for statement in _by_id(dialect):
            session.execute(statement, {"facts_ids": values})
        return
    for among in one_of_each(session, _FACTS.c.interaction_id, ids):
        session.execute(delete(_FACTS).where(among))
    for among in one_of_each(session, E.id, ids):
        session.execute(insert(_FACTS).from_select(list(COLUMNS), aggregate().where(among)))


_FACTS = cast(Table, InteractionFacts.__table__)  # Core: no ORM synchronising of a DELETE


def _delete_threads(owner_id: Any, among: ColumnElement[bool]) -> Executable:
    in_threads = select(Interaction.id).where(Interaction.owner_id == owner_id, among)
    return delete(_FACTS).where(_FACTS.c.interaction_id.in_(in_threads))


def _insert_threads(owner_id: Any, among: ColumnElement[bool]) -> Executable:
    rows = aggregate().where(E.owner_id == owner_id, among)
    return insert(_FACTS).from_select(list(COLUMNS), rows)


@functools.cache
def _by_thread(dialect: str) -> tuple[Executable, Executable]:
    """`refresh`'s two statements for the threads of one owner, with named parameters."""
    owner: Any = bindparam("facts_owner")
    return (
        _delete_threads(owner, one_of_named(dialect, Interaction.thread_key, "facts_threads")),
        _insert_threads(owner, one_of_named(dialect, E.thread_key, "facts_threads")),
    )


@functools.cache
def _by_id(dialect: str) -> tuple[Executable, Executable]:
    """`refresh`'s two statements for single interactions, with a named parameter."""
    return (
        delete(_FACTS).where(one_of_named(dialect, _FACTS.c.interaction_id, "facts_ids")),
        insert(_FACTS).from_select(
            list(COLUMNS), aggregate().where(one_of_named(dialect, E.id, "facts_ids"))
        ),
    )


def rebuild_all(session: Session, owner_id: int | None = None) -> int:
    """Recompute every row (of one owner, or all); returns how many rows."""
    F = InteractionFacts
    gone = delete(F)
    rows = aggregate()
    if owner_id is not None:
        gone = gone.where(F.owner_id == owner_id)
        rows = rows.where(E.owner_id == owner_id)
    session.execute(gone)
    session.execute(insert(F).from_select(list(COLUMNS), rows))
    q = select(func.count()).select_from(F)
    if owner_id is not None:
        q = q.where(F.owner_id == owner_id)
    return int(session.scalar(q) or 0)
