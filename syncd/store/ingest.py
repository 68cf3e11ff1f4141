"""Ingest's batch writes (syncd/ingest/batch.py prepares the batch, purely): sources, new
interactions in bulk, contacts by the contact policy, participants, events seen again, and
sources the provider reports gone.

Every IN list here is one batch's (bounded by the connector's batch size).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from syncd.store.bulk import allocate_ids, bulk_insert, instant_converter
from syncd.store.contacts import link_new_addresses
from syncd.store.models import (
    Base,
    Contact,
    ContactAddress,
    Interaction,
    InteractionSource,
    Participant,
)
from syncd.store.one_of import one_of

if TYPE_CHECKING:
    from syncd.ingest.batch import IngestContext, _Item


@dataclass
class Written:
    """What one batch added."""

    new_interactions: int = 0
    new_sources: int = 0
    new_contacts: int = 0
    # The ids of the interactions and contacts created (for syncd/store/derived_append.py).
    interaction_ids: list[int] = field(default_factory=list)
    contact_ids: list[int] = field(default_factory=list)
    # (id, thread_key, in_reply_to) of each interaction created (for syncd/store/facts.py).
    created: list[tuple[int, str | None, str | None]] = field(default_factory=list)


def _table(model: type[Base]) -> Table:
    """The Core table of a model, for executemany inserts without the ORM's overhead."""
    return cast(Table, model.__table__)


def write_items(session: Session, ctx: IngestContext, items: list[_Item]) -> Written:
    """Store prepared `items` inside the caller's transaction: their sources, the
    interactions not stored yet, contacts by policy, participants; an event seen again is
    updated. The counts of what was new."""
    result = Written()
    _write(session, ctx, items, result)
    return result


def _write(session: Session, ctx: IngestContext, items: list[_Item], result: Written) -> None:
    known_sources = dict(
        session.execute(
            select(InteractionSource.provider_id, InteractionSource.interaction_id).where(
                InteractionSource.account_id == ctx.account_id,
                one_of(session, InteractionSource.provider_id, {i.provider_id for i in items}),
            )
        ).all()
    )
    events_to_refresh = [i for i in items if i.is_event and i.provider_id in known_sources]
    if events_to_refresh:
        _refresh_events(session, ctx, events_to_refresh, known_sources)
    fresh = [i for i in items if i.provider_id not in known_sources]
    if not fresh:
        return
    by_key = dict(
        session.execute(
            select(Interaction.message_key, Interaction.id).where(
                Interaction.owner_id == ctx.owner_id,
                one_of(session, Interaction.message_key, {i.message_key for i in fresh}),
            )
        ).all()
    )
    to_create: dict[str, _Item] = {}
    for item in fresh:
        if item.message_key not in by_key and item.message_key not in to_create:
            to_create[item.message_key] = item
    if to_create:
        # The ids drawn first (as contacts' are), so that the rows go in with them: no
        # SELECT of the keys afterwards. (RETURNING with a guaranteed row order makes
        # SQLAlchemy fall back to one INSERT per row on SQLite.)
        ids = allocate_ids(session, _table(Interaction), len(to_create))
        by_key.update(zip(to_create, ids, strict=True))
        # Each message's instants converted once, for its row and its participants' rows.
        instant = instant_converter(session)
        instants = {k: (instant(i.occurred_at), instant(i.ends_at)) for k, i in to_create.items()}
        now = instant(ctx.now)
        bulk_insert(
            session,
            _table(Interaction),
            ("id", *INTERACTION_COLUMNS),
            [
                _interaction_row(ctx, iid, item, *instants[k], now)
                for (k, item), iid in zip(to_create.items(), ids, strict=True)
            ],
            converted=True,
        )
        result.new_interactions += len(to_create)
        result.interaction_ids.extend(ids)
        result.created.extend(
            (iid, item.thread_key, item.in_reply_to)
            for iid, item in zip(ids, to_create.values(), strict=True)
        )
        contact_ids = _resolve_contacts(session, ctx, list(to_create.values()), result)
        _insert_participants(session, ctx, to_create.values(), by_key, contact_ids, instants)
    source_rows = []
    seen_pids: set[str] = set()
    for item in fresh:
        if item.provider_id in seen_pids:
            continue
        seen_pids.add(item.provider_id)
        source_rows.append(
            (
                ctx.owner_id,
                by_key[item.message_key],
                ctx.account_id,
                ctx.stream_id,
                item.provider_id,
                item.folder,
                item.thread_id,
            )
        )
    # Tuples with no instants: nothing to convert.
    bulk_insert(session, _table(InteractionSource), SOURCE_COLUMNS, source_rows, converted=True)
    result.new_sources += len(source_rows)


INTERACTION_COLUMNS = (
    "owner_id",
    "kind",
    "category",
    "is_interaction",
    "direction",
    "occurred_at",
    "ends_at",
    "subject",
    "thread_key",
    "message_key",
    "in_reply_to",
    "reasons",
    "created_at",
)
SOURCE_COLUMNS = (
    "owner_id",
    "interaction_id",
    "account_id",
    "stream_id",
    "provider_id",
    "folder",
    "thread_id",
)
PARTICIPANT_COLUMNS = (
    "owner_id",
    "interaction_id",
    "address",
    "name",
    "role",
    "is_owner",
    "is_counterpart",
    "response",
    "contact_id",
    "kind",
    "direction",
    "is_interaction",
    "occurred_at",
    "ends_at",
)


def _interaction_row(
    ctx: IngestContext, iid: int, item: _Item, occurred_at: object, ends_at: object, now: object
) -> tuple[object, ...]:
    """The row of `item` as id, INTERACTION_COLUMNS, its instants already converted."""
    return (
        iid,
        ctx.owner_id,
        item.kind,
        item.category,
        item.is_interaction,
        item.direction,
        occurred_at,
        ends_at,
        item.subject,
        item.thread_key,
        item.message_key,
        item.in_reply_to,
        item.reasons,
        now,
    )


def _resolve_contacts(
    session: Session, ctx: IngestContext, items: list[_Item], result: Written
) -> dict[str, int]:
    """Map every non-owner address in `items` to its contact, creating contacts by policy."""
    addresses = {p.address for i in items for p in i.parties if not p.is_owner}
    if not addresses:
        return {}
    known = dict(
        session.execute(
            select(ContactAddress.address, ContactAddress.contact_id).where(
                ContactAddress.owner_id == ctx.owner_id,
                one_of(session, ContactAddress.address, addresses),
            )
        ).all()
    )
    wanted: dict[str, str | None] = {}
    for item in items:
        if not item.creates_contacts:
            continue
        for p in item.parties:
            if not p.is_counterpart or p.address in known:
                continue
            if p.address not in wanted or (wanted[p.address] is None and p.name):
                wanted[p.address] = p.name
    if wanted:
        ids = allocate_ids(session, _table(Contact), len(wanted))
        known.update(zip(wanted, ids, strict=True))
        bulk_insert(
            session,
            _table(Contact),
            ("id", "owner_id", "name", "do_not_contact", "created_at", "updated_at"),
            [
                (cid, ctx.owner_id, name, False, ctx.now, ctx.now)
                for cid, name in zip(ids, wanted.values(), strict=True)
            ],
        )
        bulk_insert(
            session,
            _table(ContactAddress),
            ("owner_id", "contact_id", "address"),
            [(ctx.owner_id, known[a], a) for a in wanted],
        )
        result.new_contacts += len(wanted)
        result.contact_ids.extend(ids)
        # Earlier mail with these people was stored before they became contacts.
        link_new_addresses(session, ctx.owner_id, list(wanted))
    return known


def _insert_participants(
    session: Session,
    ctx: IngestContext,
    items: Iterable[_Item],
    by_key: dict[str, int],
    contact_ids: dict[str, int],
    instants: dict[str, tuple[object, object]] | None = None,
) -> None:
    """The participants of `items`; `instants`, when given, holds each message's instants
    (by message key) as instant_converter made them."""
    instant = instant_converter(session)
    owner_id = ctx.owner_id
    rows = []
    for item in items:
        iid = by_key[item.message_key]
        # The columns every participant copies from its interaction, made once a message.
        kind, direction, is_interaction = item.kind, item.direction, item.is_interaction
        if instants is None:
            occurred_at, ends_at = instant(item.occurred_at), instant(item.ends_at)
        else:
            occurred_at, ends_at = instants[item.message_key]
        seen: set[tuple[str, str]] = set()
        for p in item.parties:
            key = (p.address, p.role)
            if key in seen:
                continue
            seen.add(key)
            rows.append(
                (
                    owner_id,
                    iid,
                    p.address,
                    p.name,
                    p.role,
                    p.is_owner,
                    p.is_counterpart,
                    p.response,
                    None if p.is_owner else contact_ids.get(p.address),
                    kind,
                    direction,
                    is_interaction,
                    occurred_at,
                    ends_at,
                )
            )
    bulk_insert(session, _table(Participant), PARTICIPANT_COLUMNS, rows, converted=True)


def _refresh_events(
    session: Session, ctx: IngestContext, items: list[_Item], known: dict[str, int]
) -> None:
    """An event seen again may have moved, been cancelled, or changed its attendees."""
    for item in items:
        iid = known[item.provider_id]
        session.execute(
            update(Interaction)
            .where(Interaction.id == iid)
            .values(
                occurred_at=item.occurred_at,
                ends_at=item.ends_at,
                subject=item.subject,
                is_interaction=item.is_interaction,
                reasons=item.reasons,
            )
        )
        session.execute(delete(Participant).where(Participant.interaction_id == iid))
    contact_ids = _resolve_contacts(session, ctx, items, Written())
    by_key = {item.message_key: known[item.provider_id] for item in items}
    _insert_participants(session, ctx, items, by_key, contact_ids)


def remove_sources(session: Session, stream_id: int, provider_ids: Sequence[str]) -> int:
    """Forget sources the provider reports gone; drop interactions left with no source."""
    rows = session.execute(
        select(InteractionSource.id, InteractionSource.interaction_id).where(
            InteractionSource.stream_id == stream_id,
            InteractionSource.provider_id.in_(set(provider_ids)),
        )
    ).all()
    if not rows:
        return 0
    session.execute(delete(InteractionSource).where(InteractionSource.id.in_([r[0] for r in rows])))
    affected = {r[1] for r in rows}
    still = set(
        session.scalars(
            select(InteractionSource.interaction_id).where(
                InteractionSource.interaction_id.in_(affected)
            )
        )
    )
    orphans = affected - still
    if orphans:
        session.execute(delete(Interaction).where(Interaction.id.in_(orphans)))
    return len(rows)
