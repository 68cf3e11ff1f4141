"""Contacts and histories as the CLI shows them: SQL aggregates, never whole histories.

The JSON field names here are a contract (DESIGN.md): contact ``id, name, emails, tier,
cadence_days, timezone, last_interaction_at, next_due_at, interactions_90d, two_way_90d,
strength`` and interaction ``id, kind, direction, occurred_at, subject, thread, accounts,
participants, sources``.

An interaction counts for a contact when the contact is a counterpart in it (the sender of
mail the owner received, a recipient of mail the owner sent, another attendee of a meeting
the owner attended) and, for a meeting, once it has ended.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Select, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from syncd.addresses import normalize_address
from syncd.errors import InputError, NotFound
from syncd.ingest import address_hash
from syncd.linking import link_participants
from syncd.sanitize import clean_block, clean_fields, clean_line
from syncd.store import rollups, stats
from syncd.store.models import (
    Account,
    Action,
    Contact,
    ContactAddress,
    ContactDate,
    Forgotten,
    Interaction,
    InteractionSource,
    Participant,
)

WINDOW_DAYS = 90


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def counts_now(now: datetime) -> Any:
    """SQL condition: the interaction is real and has happened by `now`."""
    return and_(
        Interaction.is_interaction.is_(True),
        Interaction.occurred_at <= now,
        or_(Interaction.ends_at.is_(None), Interaction.ends_at <= now),
    )


def participation_counts_now(now: datetime) -> Any:
    """The same condition on a participant's copy of its interaction's columns."""
    return and_(
        Participant.is_interaction.is_(True),
        Participant.occurred_at <= now,
        or_(Participant.ends_at.is_(None), Participant.ends_at <= now),
    )


STRENGTH_WEIGHTS = {"recency": 0.4, "frequency": 0.3, "reciprocity": 0.3}
RECENCY_HALF_LIFE_DAYS = 30
FREQUENCY_FULL = 12  # interactions in 90 days for a full frequency part
RECIPROCITY_FULL = 4  # two-way interactions in 90 days for a full reciprocity part


def strength_parts(
    last: datetime | None, n90: int, two_way: int, now: datetime
) -> dict[str, float]:
    """The three parts of `strength`, each from 0 to 1 (docs/report.md explains them).

    recency = 0.5 ** (days since the last interaction / 30), 0 when there was none;
    frequency = min(1, interactions in 90 days / 12);
    reciprocity = min(1, two-way interactions in 90 days / 4).
    """
    if last is None:
        recency = 0.0
    else:
        days = max(0.0, (now - last).total_seconds() / 86400)
        recency = math.pow(0.5, days / RECENCY_HALF_LIFE_DAYS)
    return {
        "recency": round(recency, 4),
        "frequency": round(min(1.0, n90 / FREQUENCY_FULL), 4),
        "reciprocity": round(min(1.0, two_way / RECIPROCITY_FULL), 4),
    }


def strength(last: datetime | None, n90: int, two_way: int, now: datetime) -> int:
    """0-100 from recency (half-life 30 days), frequency and reciprocity over 90 days.

    strength = 100 * (0.4 * recency + 0.3 * frequency + 0.3 * reciprocity), the parts as
    `strength_parts` gives them; 0 for a contact never in touch.
    """
    if last is None:
        return 0
    parts = strength_parts(last, n90, two_way, now)
    return round(100 * sum(STRENGTH_WEIGHTS[k] * v for k, v in parts.items()))


@dataclass(frozen=True)
class Tiers:
    cadence_days: dict[str, int]


def resolve_contact(session: Session, owner_id: int, address: str) -> Contact:
    norm = normalize_address(address)
    if norm is None:
        raise InputError(f"{address!r} is not an email address")
    contact = session.scalar(
        select(Contact)
        .join(ContactAddress, ContactAddress.contact_id == Contact.id)
        .where(ContactAddress.owner_id == owner_id, ContactAddress.address == norm)
    )
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
    contact statistics a page at a time (syncd/contact_list.py)."""
    from syncd.contact_list import iter_contacts  # it builds on this module

    return list(iter_contacts(session, owner_id, now, tiers, contact_id=contact_id))


def is_due(contact: dict[str, Any], now: datetime) -> bool:
    if contact["do_not_contact"] or contact["next_due_at"] is None:
        return False
    snooze = contact["snoozed_until"]
    if snooze is not None and snooze > iso(now):
        return False
    return bool(contact["next_due_at"] <= iso(now))


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
    people = select(Participant.interaction_id).where(
        Participant.owner_id == owner_id, Participant.address.in_(addresses)
    )
    cond = [Interaction.id.in_(people), *([] if include_noise else [counts_now(now)])]
    newest = (Interaction.occurred_at.desc(), Interaction.id.desc())
    picked = select(Interaction.id).where(*cond)
    if limit:
        picked = picked.order_by(*newest).limit(limit)
    rows = session.scalars(select(Interaction).where(*cond).order_by(*newest).limit(limit))
    return describe_interactions(session, list(rows), picked)


def describe_interactions(
    session: Session, interactions: list[Interaction], picked: Select[Any] | None = None
) -> list[dict[str, Any]]:
    """`interactions` as JSON documents; `picked` selects their ids (a subquery instead
    of a list of ids, which would grow with the history past what a database binds)."""
    ids = [i.id for i in interactions] if picked is None else picked
    parts: dict[int, list[Participant]] = defaultdict(list)
    sources: dict[int, list[tuple[str, InteractionSource]]] = defaultdict(list)
    if interactions:
        for p in session.scalars(
            select(Participant).where(Participant.interaction_id.in_(ids)).order_by(Participant.id)
        ):
            parts[p.interaction_id].append(p)
        for name, src in session.execute(
            select(Account.name, InteractionSource)
            .join(Account, Account.id == InteractionSource.account_id)
            .where(InteractionSource.interaction_id.in_(ids))
            .order_by(InteractionSource.id)
        ).all():
            sources[src.interaction_id].append((name, src))
    out = []
    for i in interactions:
        ps = parts[i.id]
        srcs = sources[i.id]
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
    cond = [Interaction.owner_id == owner_id, counts_now(now)]
    total = session.scalar(select(func.count()).select_from(Interaction).where(*cond)) or 0
    rows = session.scalars(
        select(Interaction).where(*cond).order_by(Interaction.occurred_at.desc()).limit(limit)
    ).all()
    return describe_interactions(session, list(rows)), total


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
    holder = session.scalar(
        select(ContactAddress.contact_id).where(
            ContactAddress.owner_id == owner_id, ContactAddress.address == norm
        )
    )
    if holder is not None and holder != contact.id:
        raise InputError(f"{norm} belongs to another contact", hint="use `syncd contacts merge`")
    if holder is None:
        session.add(ContactAddress(owner_id=owner_id, contact_id=contact.id, address=norm))
        session.flush()
        link_participants(session, owner_id, norm, contact.id)
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
    session.execute(
        delete(ContactDate).where(
            ContactDate.contact_id == contact.id,
            ContactDate.kind == kind,
            ContactDate.label == label,
        )
    )
    if value is not None:
        year, month, day = value
        session.add(
            ContactDate(
                owner_id=owner_id,
                contact_id=contact.id,
                kind=kind,
                label=label,
                year=year,
                month=month,
                day=day,
            )
        )


def dates_of(session: Session, contact_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ContactDate).where(ContactDate.contact_id == contact_id).order_by(ContactDate.id)
    )
    return [
        {
            "kind": d.kind,
            "label": d.label or None,
            "date": (f"{d.year:04d}-" if d.year else "--") + f"{d.month:02d}-{d.day:02d}",
        }
        for d in rows
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
    matches = session.execute(
        select(ContactAddress.address, ContactAddress.contact_id).where(
            ContactAddress.owner_id == owner_id, ContactAddress.address.in_(emails)
        )
    ).all()
    owned = {addr: cid for addr, cid in matches}
    contact_id = next((owned[e] for e in emails if e in owned), None)
    outcome = "updated"
    if contact_id is None:
        if not create:
            return "unmatched"
        contact = Contact(owner_id=owner_id, name=None, created_at=now, updated_at=now)
        session.add(contact)
        session.flush()
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
            session.add(ContactAddress(owner_id=owner_id, contact_id=contact.id, address=e))
            link_participants(session, owner_id, e, contact.id)
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
    session.execute(
        update(ContactAddress)
        .where(ContactAddress.contact_id == other.id)
        .values(contact_id=keep.id)
    )
    session.execute(
        update(Participant).where(Participant.contact_id == other.id).values(contact_id=keep.id)
    )
    # Its drafts and holds stay in the outbox (a cascade would forget a draft that is in the
    # user's mailbox); the planner then withdraws those the merged contact no longer needs.
    session.execute(update(Action).where(Action.contact_id == other.id).values(contact_id=keep.id))
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
    contact_id = session.scalar(
        select(ContactAddress.contact_id).where(
            ContactAddress.owner_id == owner_id, ContactAddress.address == norm
        )
    )
    addresses = {norm}
    if contact_id is not None:
        addresses |= set(
            session.scalars(
                select(ContactAddress.address).where(ContactAddress.contact_id == contact_id)
            )
        )
    touched = set(
        session.scalars(
            select(Participant.interaction_id).where(
                Participant.owner_id == owner_id, Participant.address.in_(addresses)
            )
        )
    )
    others = stats.contacts_of_interactions(session, touched)
    removed_parts = cast(
        CursorResult[Any],
        session.execute(
            delete(Participant).where(
                Participant.owner_id == owner_id, Participant.address.in_(addresses)
            )
        ),
    ).rowcount
    still = (
        set(
            session.scalars(
                select(Participant.interaction_id).where(
                    Participant.interaction_id.in_(touched),
                    or_(Participant.is_counterpart.is_(True), Participant.is_owner.is_(False)),
                )
            )
        )
        if touched
        else set()
    )
    orphans = touched - still
    if orphans:
        session.execute(delete(Interaction).where(Interaction.id.in_(orphans)))
    if contact_id is not None:
        session.execute(delete(Contact).where(Contact.id == contact_id))
    stats.refresh(session, others - {contact_id})
    rollups.refresh(session, others - {contact_id})
    for addr in addresses:
        h = address_hash(addr)
        exists = session.scalar(
            select(Forgotten.id).where(Forgotten.owner_id == owner_id, Forgotten.address_hash == h)
        )
        if exists is None:
            session.execute(
                insert(Forgotten).values(owner_id=owner_id, address_hash=h, created_at=now)
            )
    return {
        "addresses": len(addresses),
        "participations": int(removed_parts or 0),
        "interactions": len(orphans),
        "contacts": 1 if contact_id is not None else 0,
    }
