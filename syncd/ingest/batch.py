"""Ingest: a batch from a connector becomes interactions, sources, participants, contacts.

`ingest_batch` runs inside the caller's transaction, together with the stream's new cursor,
so a batch is stored whole or not at all. It is an idempotent upsert: an item whose source
(account, provider id) is known is skipped; an item whose message key (normalised
Message-ID, or iCalendar UID and instance) is known from another account only gains a
source. Every query is set-based over the batch, never one per item.

This module prepares a batch (classifies it, resolves its parties: pure, no database) and
hands it to the store; the statements are in syncd/store/ingest.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from connectors.base import RawEvent, RawMessage, take_turn
from syncd.ingest.addresses import OwnerIdentity
from syncd.ingest.classify import Classification, ClassifyOptions, classify
from syncd.ingest.meetings import Meeting, meeting_from_event
from syncd.ingest.owner_history import apply_owner_history
from syncd.ingest.sanitize import clean_line
from syncd.store import facts, rollups, stats
from syncd.store.contacts import address_hash, forgotten_hashes
from syncd.store.derived_append import fold_new_interactions
from syncd.store.ingest import Written, remove_sources, write_items

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "IngestContext",
    "IngestResult",
    "Prepared",
    "Privacy",
    "address_hash",
    "ingest_batch",
    "load_privacy",
    "prepare_batch",
    "store_prepared",
]

MAX_SUBJECT = 1000
MAX_KEY = 1000


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
    hashes = forgotten_hashes(session, owner_id)
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
        take_turn()  # a reader thread's turn (syncd/sync/prefetch.py)
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
    # Interaction facts (syncd/store/facts.py): the threads and reply targets of what may
    # move or go, read before, and of what is there after.
    changed = facts.interactions_of_sources(session, ctx.account_id, [*events, *removed])
    threads = facts.touched_by(session, changed)
    if removed:
        result.removed += remove_sources(session, ctx.stream_id, removed)
    written = Written()
    if prepared.items:
        written = write_items(session, ctx, prepared.items)
        result.new_interactions += written.new_interactions
        result.new_sources += written.new_sources
        result.new_contacts += written.new_contacts
    parties = {p.address for i in prepared.items for p in i.parties if p.is_counterpart}
    affected = stats.contacts_of_addresses(session, ctx.owner_id, parties)
    if events or removed:
        touched |= affected  # events move and removals take rows away: recompute
    else:
        # Mail only adds: the contacts that existed before gain new interactions and
        # nothing else; new contacts also gained their earlier, just linked, mail.
        touched |= affected & set(written.contact_ids)
        fold_new_interactions(session, written.interaction_ids, affected - touched)
    stats.refresh(session, touched)
    rollups.refresh(session, touched)
    threads |= facts.touched_by(session, changed)
    threads |= facts.touched_by_new(session, ctx.owner_id, written.created)
    facts.refresh(session, threads)
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
