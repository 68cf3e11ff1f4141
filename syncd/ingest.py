"""Ingest: a batch from a connector becomes interactions, sources, participants, contacts.

`ingest_batch` runs inside the caller's transaction, together with the stream's new cursor,
so a batch is stored whole or not at all. It is an idempotent upsert: an item whose source
(account, provider id) is known is skipped; an item whose message key (normalised
Message-ID, or iCalendar UID and instance) is known from another account only gains a
source. Every query is set-based over the batch, never one per item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from connectors.base import RawEvent, RawMessage
from syncd.addresses import OwnerIdentity
from syncd.classify import Classification, ClassifyOptions, classify
from syncd.linking import link_new_addresses
from syncd.meetings import Meeting, meeting_from_event
from syncd.owner_history import apply_owner_history
from syncd.sanitize import clean_line
from syncd.store import rollups, stats
from syncd.store.bulk import allocate_ids, bulk_insert
from syncd.store.models import (
    Base,
    Contact,
    ContactAddress,
    Forgotten,
    Interaction,
    InteractionSource,
    Participant,
)

MAX_SUBJECT = 1000
MAX_KEY = 1000


def _table(model: type[Base]) -> Table:
    """The Core table of a model, for executemany inserts without the ORM's overhead."""
    return cast(Table, model.__table__)


def address_hash(address: str) -> str:
    return hashlib.sha256(address.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Privacy:
    """What must never be recorded: blocked addresses and domains, forgotten people."""

    blocked: frozenset[str] = frozenset()
    forgotten_hashes: frozenset[str] = frozenset()
    skip_internal: bool = False

    def excluded(self, address: str) -> bool:
        if not self.blocked and not self.forgotten_hashes:
            return False  # the usual case; hashing every address was a tenth of ingest
        if address in self.blocked or address_hash(address) in self.forgotten_hashes:
            return True
        domain = address.rpartition("@")[2]
        while domain:
            if domain in self.blocked:
                return True
            domain = domain.partition(".")[2]
        return False


@dataclass(frozen=True)
class IngestContext:
    owner_id: int
    account_id: int
    stream_id: int
    identity: OwnerIdentity
    options: ClassifyOptions
    contact_policy: str
    privacy: Privacy
    now: datetime


@dataclass
class IngestResult:
    seen: int = 0
    new_interactions: int = 0
    new_sources: int = 0
    new_contacts: int = 0
    removed: int = 0
    skipped_private: int = 0
    by_category: dict[str, int] = field(default_factory=dict)

    def add(self, other: IngestResult) -> None:
        self.seen += other.seen
        self.new_interactions += other.new_interactions
        self.new_sources += other.new_sources
        self.new_contacts += other.new_contacts
        self.removed += other.removed
        self.skipped_private += other.skipped_private
        for k, v in other.by_category.items():
            self.by_category[k] = self.by_category.get(k, 0) + v


@dataclass(slots=True)
class _Party:
    address: str
    name: str | None
    role: str
    is_owner: bool
    is_counterpart: bool
    response: str | None = None


@dataclass(slots=True)
class _Item:
    """What ingest stores for one email or meeting, whatever its source."""

    provider_id: str
    folder: str | None
    thread_id: str | None
    message_key: str
    kind: str
    category: str
    is_interaction: bool
    direction: str | None
    occurred_at: datetime
    ends_at: datetime | None
    subject: str | None
    thread_key: str | None
    in_reply_to: str | None
    reasons: str
    parties: list[_Party]
    creates_contacts: bool
    is_event: bool = False
    classification: Classification | None = None  # incoming mail, for the owner's history


def load_privacy(
    session: Session, owner_id: int, block: Iterable[str], skip_internal: bool
) -> Privacy:
    hashes = session.scalars(select(Forgotten.address_hash).where(Forgotten.owner_id == owner_id))
    return Privacy(
        blocked=frozenset(block), forgotten_hashes=frozenset(hashes), skip_internal=skip_internal
    )


def ingest_batch(
    session: Session,
    ctx: IngestContext,
    items: Sequence[RawMessage | RawEvent],
    removed: Sequence[str] = (),
) -> IngestResult:
    return store_prepared(session, ctx, prepare_batch(ctx, items), removed)


@dataclass(slots=True)
class Prepared:
    """A batch classified and resolved to what is stored, before any database work.

    Pure data (it pickles), so the preparing can happen away from the storing: in another
    thread or process while the previous batch is written.
    """

    items: list[_Item]
    seen: int
    skipped_private: int
    by_category: dict[str, int]


def prepare_batch(ctx: IngestContext, items: Sequence[RawMessage | RawEvent]) -> Prepared:
    """Classify `items` (no database access; `ctx` carries all it needs)."""
    out = Prepared(items=[], seen=len(items), skipped_private=0, by_category={})
    for raw in items:
        item = _prepare(raw, ctx)
        if item is None:
            out.skipped_private += 1
            continue
        out.items.append(item)
        out.by_category[item.category] = out.by_category.get(item.category, 0) + 1
    return out


def store_prepared(
    session: Session, ctx: IngestContext, prepared: Prepared, removed: Sequence[str] = ()
) -> IngestResult:
    """Store a prepared batch inside the caller's transaction."""
    apply_owner_history(session, ctx, prepared)
    result = IngestResult(
        seen=prepared.seen,
        skipped_private=prepared.skipped_private,
        by_category=dict(prepared.by_category),
    )
    # Contact statistics (syncd/store/stats.py): the contacts this batch may touch, found
    # before (a moved event's old attendees, a removed message's people) and after.
    events = [i.provider_id for i in prepared.items if i.is_event]
    touched = stats.contacts_of_sources(session, ctx.account_id, [*events, *removed])
    if removed:
        result.removed += _remove_sources(session, ctx, removed)
    if prepared.items:
        _store(session, ctx, prepared.items, result)
    parties = {p.address for i in prepared.items for p in i.parties if p.is_counterpart}
    touched |= stats.contacts_of_addresses(session, ctx.owner_id, parties)
    stats.refresh(session, touched)
    rollups.refresh(session, touched)
    return result


# --- turning raw items into what is stored ---


def _prepare(raw: RawMessage | RawEvent, ctx: IngestContext) -> _Item | None:
    if isinstance(raw, RawEvent):
        return _prepare_event(raw, ctx)
    return _prepare_message(raw, ctx)


def _prepare_message(msg: RawMessage, ctx: IngestContext) -> _Item | None:
    c = classify(msg, ctx.identity, ctx.options)
    parties = _message_parties(c, ctx)
    if parties is None:
        return None
    occurred = c.occurred_at or msg.internal_date or ctx.now
    is_interaction = c.is_interaction and any(p.is_counterpart for p in parties)
    return _Item(
        provider_id=msg.provider_id,
        folder=msg.folder,
        thread_id=msg.thread_id,
        message_key=_message_key(c, msg),
        kind="email",
        category=c.kind,
        is_interaction=is_interaction,
        direction=c.direction,
        occurred_at=occurred,
        ends_at=None,
        subject=clean_line(c.subject, MAX_SUBJECT),
        thread_key=_clip(c.thread_key),
        in_reply_to=_clip(c.in_reply_to),
        reasons="; ".join(c.reasons),
        parties=parties,
        creates_contacts=_creates_contacts(ctx.contact_policy, is_interaction, c.direction),
        classification=c if c.direction is not None else None,
    )


def _message_parties(c: Classification, ctx: IngestContext) -> list[_Party] | None:
    """The parties to record, or None when privacy settings say to skip the message."""
    counterparts = set(c.counterparts)
    privacy = ctx.privacy
    parties: list[_Party] = []
    seen: set[tuple[str, str]] = set()
    for p in c.parties:
        if (p.address, p.role) in seen or p.role not in ("from", "to", "cc", "bcc"):
            continue
        seen.add((p.address, p.role))
        is_owner = ctx.identity.is_owner(p.address)
        if not is_owner and privacy.excluded(p.address):
            continue
        parties.append(
            _Party(
                address=p.address,
                name=clean_line(p.name, 300),
                role=p.role,
                is_owner=is_owner,
                is_counterpart=p.address in counterparts and not is_owner,
            )
        )
    if counterparts and not any(p.is_counterpart for p in parties):
        return None  # every counterpart is blocked or forgotten
    if c.direction == "in" and c.from_address and privacy.excluded(c.from_address):
        return None
    others = [p for p in parties if not p.is_owner]
    if (
        privacy.skip_internal
        and others
        and all(ctx.identity.is_internal(p.address) for p in others)
    ):
        return None
    return parties


def _creates_contacts(policy: str, is_interaction: bool, direction: str | None) -> bool:
    if policy == "all":
        return is_interaction
    if policy == "written":
        return is_interaction and direction == "out"
    return False


def _message_key(c: Classification, msg: RawMessage) -> str:
    if c.message_id:
        return _clip("mid:" + c.message_id) or ""
    # No Message-ID: the same headers seen through two accounts still meet here.
    basis = "\x00".join(
        (
            msg.get("From") or "",
            msg.get("Date") or "",
            msg.get("Subject") or "",
            msg.get("To") or "",
        )
    )
    if not basis.strip("\x00"):
        basis = msg.provider_id
    return "hash:" + hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()


SYNCD_UID_SUFFIX = "@syncd.invalid"  # holds syncd wrote (connectors/ics_holds.hold_uid)


def _prepare_event(ev: RawEvent, ctx: IngestContext) -> _Item | None:
    if ev.uid.endswith(SYNCD_UID_SUFFIX):
        return None  # our own hold, read back from the calendar: not an interaction
    m: Meeting = meeting_from_event(ev, ctx.identity)
    parties: list[_Party] = []
    for a in m.attendees:
        is_owner = ctx.identity.is_owner(a.address)
        if not is_owner and ctx.privacy.excluded(a.address):
            continue
        parties.append(
            _Party(
                address=a.address,
                name=clean_line(a.name, 300),
                role=a.role,
                is_owner=is_owner,
                is_counterpart=a.is_counterpart,
                response=a.response,
            )
        )
    if m.is_meeting and not any(p.is_counterpart for p in parties):
        return None
    others = [p for p in parties if not p.is_owner]
    if (
        ctx.privacy.skip_internal
        and others
        and all(ctx.identity.is_internal(p.address) for p in others)
    ):
        return None
    return _Item(
        provider_id=ev.provider_id,
        folder=ev.calendar,
        thread_id=None,
        message_key=_clip(m.key) or m.key[:MAX_KEY],
        kind="meeting",
        category="meeting",
        is_interaction=m.is_meeting,
        direction="mutual",
        occurred_at=m.start,
        ends_at=m.end,
        subject=clean_line(ev.summary, MAX_SUBJECT),
        thread_key=None,
        in_reply_to=None,
        reasons="; ".join(m.reasons),
        parties=parties,
        creates_contacts=m.is_meeting and ctx.contact_policy == "all",
        is_event=True,
    )


def _clip(value: str | None) -> str | None:
    return None if value is None else value[:MAX_SUBJECT]


# --- storing ---


def _store(session: Session, ctx: IngestContext, items: list[_Item], result: IngestResult) -> None:
    known_sources = dict(
        session.execute(
            select(InteractionSource.provider_id, InteractionSource.interaction_id).where(
                InteractionSource.account_id == ctx.account_id,
                InteractionSource.provider_id.in_({i.provider_id for i in items}),
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
                Interaction.message_key.in_({i.message_key for i in fresh}),
            )
        ).all()
    )
    to_create: dict[str, _Item] = {}
    for item in fresh:
        if item.message_key not in by_key and item.message_key not in to_create:
            to_create[item.message_key] = item
    if to_create:
        # Plain executemany, then one SELECT for the ids: RETURNING with a guaranteed row
        # order makes SQLAlchemy fall back to one INSERT per row on SQLite.
        bulk_insert(
            session,
            _table(Interaction),
            INTERACTION_COLUMNS,
            [_interaction_row(ctx, i) for i in to_create.values()],
        )
        by_key.update(
            session.execute(
                select(Interaction.message_key, Interaction.id).where(
                    Interaction.owner_id == ctx.owner_id,
                    Interaction.message_key.in_(list(to_create)),
                )
            ).all()
        )
        result.new_interactions += len(to_create)
        contact_ids = _resolve_contacts(session, ctx, list(to_create.values()), result)
        _insert_participants(session, ctx, to_create.values(), by_key, contact_ids)
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
    bulk_insert(session, _table(InteractionSource), SOURCE_COLUMNS, source_rows)
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


def _interaction_row(ctx: IngestContext, item: _Item) -> tuple[object, ...]:
    return (
        ctx.owner_id,
        item.kind,
        item.category,
        item.is_interaction,
        item.direction,
        item.occurred_at,
        item.ends_at,
        item.subject,
        item.thread_key,
        item.message_key,
        item.in_reply_to,
        item.reasons,
        ctx.now,
    )


def _resolve_contacts(
    session: Session, ctx: IngestContext, items: list[_Item], result: IngestResult
) -> dict[str, int]:
    """Map every non-owner address in `items` to its contact, creating contacts by policy."""
    addresses = {p.address for i in items for p in i.parties if not p.is_owner}
    if not addresses:
        return {}
    known = dict(
        session.execute(
            select(ContactAddress.address, ContactAddress.contact_id).where(
                ContactAddress.owner_id == ctx.owner_id, ContactAddress.address.in_(addresses)
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
        # Earlier mail with these people was stored before they became contacts.
        link_new_addresses(session, ctx.owner_id, list(wanted))
    return known


def _insert_participants(
    session: Session,
    ctx: IngestContext,
    items: Iterable[_Item],
    by_key: dict[str, int],
    contact_ids: dict[str, int],
) -> None:
    rows = []
    for item in items:
        iid = by_key[item.message_key]
        seen: set[tuple[str, str]] = set()
        for p in item.parties:
            if (p.address, p.role) in seen:
                continue
            seen.add((p.address, p.role))
            rows.append(
                (
                    ctx.owner_id,
                    iid,
                    p.address,
                    p.name,
                    p.role,
                    p.is_owner,
                    p.is_counterpart,
                    p.response,
                    None if p.is_owner else contact_ids.get(p.address),
                    item.kind,
                    item.direction,
                    item.is_interaction,
                    item.occurred_at,
                    item.ends_at,
                )
            )
    bulk_insert(session, _table(Participant), PARTICIPANT_COLUMNS, rows)


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
    contact_ids = _resolve_contacts(session, ctx, items, IngestResult())
    by_key = {item.message_key: known[item.provider_id] for item in items}
    _insert_participants(session, ctx, items, by_key, contact_ids)


def _remove_sources(session: Session, ctx: IngestContext, provider_ids: Sequence[str]) -> int:
    """Forget sources the provider reports gone; drop interactions left with no source."""
    rows = session.execute(
        select(InteractionSource.id, InteractionSource.interaction_id).where(
            InteractionSource.stream_id == ctx.stream_id,
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
