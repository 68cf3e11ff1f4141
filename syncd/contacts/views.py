"""Contacts and histories as the CLI shows them, and the changes the CLI makes to them.

The JSON field names here are a contract (DESIGN.md): contact ``id, name, emails, tier,
cadence_days, timezone, last_interaction_at, next_due_at, interactions_90d, two_way_90d,
strength`` and interaction ``id, kind, direction, occurred_at, subject, thread, accounts,
participants, sources``.

An interaction counts for a contact when the contact is a counterpart in it (the sender of
mail the owner received, a recipient of mail the owner sent, another attendee of a meeting
the owner attended) and, for a meeting, once it has ended. The queries and writes are in
syncd/store/contacts.py; the measures of a contact (`strength`, `iso`, `Tiers`) and the
listing are in syncd/contacts/listing.py, re-exported here.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from syncd.contacts.listing import (
    RECENCY_HALF_LIFE_DAYS,
    STRENGTH_WEIGHTS,
    WINDOW_DAYS,
    Tiers,
    is_due,
    iter_contacts,
    strength,
    strength_parts,
)
from syncd.errors import InputError, NotFound
from syncd.ingest.addresses import normalize_address
from syncd.ingest.sanitize import clean_block, clean_fields, clean_line
from syncd.isotime import iso
from syncd.store import contacts as db
from syncd.store import rollups, stats
from syncd.store.contacts import counts_now, participation_counts_now
from syncd.store.db import lock_owner_writes
from syncd.store.models import Contact, Interaction

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.orm import Session

__all__ = [
    "RECENCY_HALF_LIFE_DAYS",
    "STRENGTH_WEIGHTS",
    "WINDOW_DAYS",
    "Tiers",
    "add_address",
    "counts_now",
    "dates_of",
    "describe_interactions",
    "forget",
    "history",
    "is_due",
    "iso",
    "list_contacts",
    "merge",
    "merge_card",
    "parse_partial_date",
    "participation_counts_now",
    "recent_interactions",
    "resolve_contact",
    "set_date",
    "set_fields",
    "strength",
    "strength_parts",
]


def resolve_contact(session: Session, owner_id: int, address: str) -> Contact:
    norm = normalize_address(address)
    if norm is None:
        raise InputError(f"{address!r} is not an email address")
    contact = db.contact_of_address(session, owner_id, norm)
    if contact is None:
        raise NotFound(
            f"no contact with the address {norm}",
            hint="`syncd contacts list` shows the contacts; `syncd history ADDR` works for anyone",
        )
    return contact


def list_contacts(
    session: Session,
    owner_id: int,
    now: datetime,
    tiers: Tiers,
    *,
    contact_id: int | None = None,
) -> list[dict[str, Any]]:
    """Every contact (or the one of `contact_id`), last interaction first; read from the
    contact statistics a page at a time (syncd/contacts/listing.py)."""
    return list(iter_contacts(session, owner_id, now, tiers, contact_id=contact_id))


def history(
    session: Session,
    owner_id: int,
    addresses: list[str],
    now: datetime,
    *,
    include_noise: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Every interaction with any of `addresses`, newest first."""
    rows, picked = db.interactions_with(
        session, owner_id, addresses, now, include_noise=include_noise, limit=limit
    )
    return describe_interactions(session, rows, picked)


def describe_interactions(
    session: Session, interactions: list[Interaction], picked: Select[Any] | None = None
) -> list[dict[str, Any]]:
    """`interactions` as JSON documents; `picked` selects their ids (a subquery instead
    of a list of ids, which would grow with the history past what a database binds)."""
    parts: dict[int, list[Any]] = {}
    sources: dict[int, list[tuple[str, Any]]] = {}
    if interactions:
        ids = [i.id for i in interactions] if picked is None else picked
        parts, sources = db.parties_and_sources(session, ids)
    out = []
    for i in interactions:
        ps = parts.get(i.id, [])
        srcs = sources.get(i.id, [])
        out.append(
            {
                "id": i.id,
                "kind": i.kind,
                "direction": i.direction,
                "occurred_at": iso(i.occurred_at),
                "ends_at": iso(i.ends_at),
                "subject": i.subject,
                "thread": i.thread_key,
                "accounts": sorted({name for name, _ in srcs}),
                "participants": list(dict.fromkeys(p.address for p in ps)),
                "participants_detail": [
                    {"address": p.address, "name": p.name, "role": p.role, "response": p.response}
                    for p in ps
                ],
                "counterparts": list(dict.fromkeys(p.address for p in ps if p.is_counterpart)),
                "sources": [
                    {"account": name, "provider_id": s.provider_id, "folder": s.folder}
                    for name, s in srcs
                ],
                "category": i.category,
                "is_interaction": i.is_interaction,
            }
        )
    return out


def recent_interactions(
    session: Session, owner_id: int, now: datetime, limit: int
) -> tuple[list[dict[str, Any]], int]:
    rows, total = db.recent_interactions(session, owner_id, now, limit)
    return describe_interactions(session, rows), total


# --- changing contacts ---


def set_fields(session: Session, contact: Contact, now: datetime, **fields: Any) -> None:
    for name, value in clean_fields(fields).items():
        setattr(contact, name, value)
    contact.updated_at = now


def add_address(session: Session, owner_id: int, contact: Contact, address: str) -> str:
    """Give `contact` another address; mail already stored with it joins their history."""
    norm = normalize_address(address)
    if norm is None:
        raise InputError(f"{address!r} is not an email address")
    holder = db.holder_of_address(session, owner_id, norm)
    if holder is not None and holder != contact.id:
        raise InputError(f"{norm} belongs to another contact", hint="use `syncd contacts merge`")
    if holder is None:
        lock_owner_writes(session, owner_id)
        db.add_address(session, owner_id, contact.id, norm)
    return norm


_PARTIAL_DATE = re.compile(r"^(?:(\d{4})-|--)?(\d{1,2})-(\d{1,2})$")


def parse_partial_date(text: str) -> tuple[int | None, int, int]:
    """'1985-04-12', '--04-12' or '04-12' (no year) → (year or None, month, day)."""
    m = _PARTIAL_DATE.match(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD, or MM-DD without the year)")
    year = int(m.group(1)) if m.group(1) else None
    month, day = int(m.group(2)), int(m.group(3))
    try:
        date(year or 2000, month, day)  # 2000 is a leap year: Feb 29 stays possible
    except ValueError:
        raise ValueError(f"{text!r} is not a real date") from None
    return year, month, day


def set_date(
    session: Session,
    owner_id: int,
    contact: Contact,
    kind: str,
    value: tuple[int | None, int, int] | None,
    label: str = "",
) -> None:
    """Set (or with None remove) a birthday, anniversary or labelled custom date."""
    db.set_date(session, owner_id, contact.id, kind, value, label)


def dates_of(session: Session, contact_id: int) -> list[dict[str, Any]]:
    return [
        {
            "kind": d.kind,
            "label": d.label or None,
            "date": (f"{d.year:04d}-" if d.year else "--") + f"{d.month:02d}-{d.day:02d}",
        }
        for d in db.dates_of(session, contact_id)
    ]


def merge_card(
    session: Session,
    owner_id: int,
    card: Any,
    now: datetime,
    *,
    create: bool,
) -> str:
    """Merge one address-book card into the contacts; returns created|updated|unmatched.

    A card matches the contact that has one of its addresses; contacts holding its other
    addresses are merged into that one. Its name wins (an address
    book is curated, a display name in mail is not); its dates replace the stored ones of
    the same kind; time zone, organisation and notes fill what is empty; addresses no
    other contact has are added. Without `create`, cards of people who are not contacts
    yet are left out.
    """
    emails = [e for e in (normalize_address(x) for x in card.emails) if e]
    if not emails:
        return "unmatched"
    owned = db.holders_of_addresses(session, owner_id, emails)
    contact_id = next((owned[e] for e in emails if e in owned), None)
    outcome = "updated"
    if contact_id is None:
        if not create:
            return "unmatched"
        contact = db.new_contact(session, owner_id, now)
        outcome = "created"
    else:
        found = session.get(Contact, contact_id)
        assert found is not None
        contact = found
        # The card says these addresses are one person: fold their other entries in.
        for other_id in dict.fromkeys(owned[e] for e in emails if e in owned):
            other = session.get(Contact, other_id)
            if other is not None and other.id != contact.id:
                merge(session, owner_id, contact, other, now)
    if card.name:
        contact.name = clean_line(card.name, 300)
    if card.timezone and not contact.timezone:
        contact.timezone = card.timezone
    if card.organisation and not contact.organisation:
        contact.organisation = clean_line(card.organisation, 300)
    if card.notes and not contact.notes:
        contact.notes = clean_block(card.notes)
    contact.updated_at = now
    for e in emails:  # at most vcard.MAX_EMAILS; each UPDATE flushes the address before it
        if e not in owned:
            db.add_address(session, owner_id, contact.id, e)
    if card.birthday:
        set_date(session, owner_id, contact, "birthday", card.birthday)
    if card.anniversary:
        set_date(session, owner_id, contact, "anniversary", card.anniversary)
    for label, value in card.custom_dates:
        set_date(session, owner_id, contact, "custom", value, clean_line(label, 200) or "")
    return outcome


def merge(session: Session, owner_id: int, keep: Contact, other: Contact, now: datetime) -> None:
    """Fold `other` into `keep`: addresses, history links and missing settings move over."""
    if keep.id == other.id:
        raise InputError("both addresses belong to the same contact already")
    # Ingest folds new mail into the stored statistics of existing contacts
    # (syncd/store/derived_append.py): it must not run between this change and its refresh.
    lock_owner_writes(session, owner_id)
    db.move_contact_rows(session, keep.id, other.id)
    for name in (
        "name",
        "tier",
        "cadence_days",
        "timezone",
        "organisation",
        "notes",
        "snoozed_until",
    ):
        if getattr(keep, name) is None and getattr(other, name) is not None:
            setattr(keep, name, getattr(other, name))
    keep.do_not_contact = keep.do_not_contact or other.do_not_contact
    keep.updated_at = now
    session.flush()
    stats.refresh(session, [keep.id])
    rollups.refresh(session, [keep.id])
    session.delete(other)  # its statistics row goes with it (ON DELETE CASCADE)


def forget(session: Session, owner_id: int, address: str, now: datetime) -> dict[str, int]:
    """Remove a person and everything recorded about them; keep them out from now on.

    Their contact, addresses and participations go; an interaction left with no other
    counterpart goes too (with its sources). Only a hash of each address is kept, so that
    later syncs leave them out.
    """
    norm = normalize_address(address)
    if norm is None:
        raise InputError(f"{address!r} is not an email address")
    contact_id = db.holder_of_address(session, owner_id, norm)
    addresses = {norm}
    if contact_id is not None:
        addresses |= set(db.addresses_of(session, contact_id))
    lock_owner_writes(session, owner_id)
    return db.forget_addresses(session, owner_id, contact_id, addresses, now)
