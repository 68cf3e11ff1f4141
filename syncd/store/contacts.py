"""Contacts, their addresses and dates, and the histories the CLI shows: the queries and
writes of syncd/contacts/views.py, syncd/contacts/lookup.py and syncd/contacts/vcard_import.py.

An interaction counts for a contact when the contact is a counterpart in it and, for a
meeting, once it has ended (`counts_now`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from syncd.store import facts, rollups, stats
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
from syncd.store.one_of import one_of_each


def address_hash(address: str) -> str:
    """What the store keeps of a forgotten address."""
    return hashlib.sha256(address.encode("utf-8")).hexdigest()


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


# --- reading -----------------------------------------------------------------------------------


def contact_of_address(session: Session, owner_id: int, address: str) -> Contact | None:
    """The contact that has the (normalised) `address`."""
    return session.scalar(
        select(Contact)
        .join(ContactAddress, ContactAddress.contact_id == Contact.id)
        .where(ContactAddress.owner_id == owner_id, ContactAddress.address == address)
    )


def holder_of_address(session: Session, owner_id: int, address: str) -> int | None:
    """The id of the contact that has the (normalised) `address`."""
    return session.scalar(
        select(ContactAddress.contact_id).where(
            ContactAddress.owner_id == owner_id, ContactAddress.address == address
        )
    )


def holders_of_addresses(session: Session, owner_id: int, addresses: list[str]) -> dict[str, int]:
    """address → contact id, for those of `addresses` (one card's: bounded) a contact has."""
    return {
        addr: cid
        for addr, cid in session.execute(
            select(ContactAddress.address, ContactAddress.contact_id).where(
                ContactAddress.owner_id == owner_id, ContactAddress.address.in_(addresses)
            )
        ).all()
    }


def addresses_of(session: Session, contact_id: int) -> list[str]:
    """The contact's addresses, in the order it got them."""
    return list(
        session.scalars(
            select(ContactAddress.address)
            .where(ContactAddress.contact_id == contact_id)
            .order_by(ContactAddress.id)
        )
    )


def first_address_by_name(session: Session, contact_id: int) -> str | None:
    """The contact's alphabetically first address."""
    return session.scalar(
        select(ContactAddress.address)
        .where(ContactAddress.contact_id == contact_id)
        .order_by(ContactAddress.address)
        .limit(1)
    )


def contacts_named(session: Session, owner_id: int, wanted: str) -> list[Contact]:
    """Contacts whose name is `wanted` (lower case, single spaces), ignoring case."""
    return list(
        session.scalars(
            select(Contact).where(
                Contact.owner_id == owner_id,
                Contact.name.is_not(None),
                func.lower(Contact.name) == wanted,
            )
        )
    )


def contacts_named_like(
    session: Session, owner_id: int, words: list[str], limit: int
) -> list[Contact]:
    """Up to `limit` contacts whose name contains every one of `words` (lower case), by
    name."""
    query = select(Contact).where(Contact.owner_id == owner_id, Contact.name.is_not(None))
    for word in words:
        escaped = word.replace("%", r"\%").replace("_", r"\_")
        query = query.where(func.lower(Contact.name).like(f"%{escaped}%", escape="\\"))
    return list(session.scalars(query.order_by(Contact.name, Contact.id).limit(limit)))


def interactions_with(
    session: Session,
    owner_id: int,
    addresses: list[str],
    now: datetime,
    *,
    include_noise: bool,
    limit: int | None,
) -> tuple[list[Interaction], Select[Any]]:
    """Every interaction with any of `addresses`, newest first, and a query of their ids."""
    people = select(Participant.interaction_id).where(
        Participant.owner_id == owner_id, Participant.address.in_(addresses)
    )
    cond = [Interaction.id.in_(people), *([] if include_noise else [counts_now(now)])]
    newest = (Interaction.occurred_at.desc(), Interaction.id.desc())
    picked = select(Interaction.id).where(*cond)
    if limit:
        picked = picked.order_by(*newest).limit(limit)
    rows = session.scalars(select(Interaction).where(*cond).order_by(*newest).limit(limit))
    return list(rows), picked


def recent_interactions(
    session: Session, owner_id: int, now: datetime, limit: int
) -> tuple[list[Interaction], int]:
    """The `limit` newest interactions that count, and how many count in all."""
    cond = [Interaction.owner_id == owner_id, counts_now(now)]
    total = session.scalar(select(func.count()).select_from(Interaction).where(*cond)) or 0
    rows = session.scalars(
        select(Interaction).where(*cond).order_by(Interaction.occurred_at.desc()).limit(limit)
    ).all()
    return list(rows), total


def parties_and_sources(
    session: Session, ids: list[int] | Select[Any]
) -> tuple[dict[int, list[Participant]], dict[int, list[tuple[str, InteractionSource]]]]:
    """The participants and the (account name, source) pairs of the interactions `ids`
    (a list, or a query of ids), in the order they were stored."""
    parts: dict[int, list[Participant]] = defaultdict(list)
    sources: dict[int, list[tuple[str, InteractionSource]]] = defaultdict(list)
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
    return parts, sources


def dates_of(session: Session, contact_id: int) -> list[ContactDate]:
    return list(
        session.scalars(
            select(ContactDate).where(ContactDate.contact_id == contact_id).order_by(ContactDate.id)
        )
    )


# --- writing -----------------------------------------------------------------------------------


def link_participants(session: Session, owner_id: int, address: str, contact_id: int) -> None:
    """Attach the stored participations of `address` that have no contact to `contact_id`;
    refresh that contact's statistics."""
    session.execute(
        update(Participant)
        .where(
            Participant.owner_id == owner_id,
            Participant.address == address,
            Participant.contact_id.is_(None),
        )
        .values(contact_id=contact_id)
    )
    stats.refresh(session, [contact_id])
    rollups.refresh(session, [contact_id])


def link_new_addresses(session: Session, owner_id: int, addresses: Sequence[str]) -> None:
    """Attach stored participations of `addresses` that have no contact to the contact
    each address now belongs to: one UPDATE for a whole batch of new contacts. The caller
    refreshes the statistics (ingest does, for every address of its batch)."""
    ca = cast(Table, cast(Any, ContactAddress).__table__)
    p = cast(Table, cast(Any, Participant).__table__)
    owned = (
        select(ca.c.contact_id)
        .where(ca.c.owner_id == p.c.owner_id, ca.c.address == p.c.address)
        .scalar_subquery()
    )
    for among in one_of_each(session, p.c.address, addresses):
        session.execute(
            update(p)
            .where(p.c.owner_id == owner_id, among, p.c.contact_id.is_(None))
            .values(contact_id=owned)
        )


def add_address(session: Session, owner_id: int, contact_id: int, address: str) -> None:
    """Give the contact the (normalised, unowned) `address`; its stored mail joins them."""
    session.add(ContactAddress(owner_id=owner_id, contact_id=contact_id, address=address))
    session.flush()
    link_participants(session, owner_id, address, contact_id)


def new_contact(session: Session, owner_id: int, now: datetime) -> Contact:
    contact = Contact(owner_id=owner_id, name=None, created_at=now, updated_at=now)
    session.add(contact)
    session.flush()
    return contact


def set_date(
    session: Session,
    owner_id: int,
    contact_id: int,
    kind: str,
    value: tuple[int | None, int, int] | None,
    label: str = "",
) -> None:
    """Set (or with None remove) a birthday, anniversary or labelled custom date."""
    session.execute(
        delete(ContactDate).where(
            ContactDate.contact_id == contact_id,
            ContactDate.kind == kind,
            ContactDate.label == label,
        )
    )
    if value is not None:
        year, month, day = value
        session.add(
            ContactDate(
                owner_id=owner_id,
                contact_id=contact_id,
                kind=kind,
                label=label,
                year=year,
                month=month,
                day=day,
            )
        )


def move_contact_rows(session: Session, keep_id: int, other_id: int) -> None:
    """Addresses, participations and actions of `other_id` pass to `keep_id`.

    Its drafts and holds stay in the outbox (a cascade would forget a draft that is in the
    user's mailbox); the planner then withdraws those the merged contact no longer needs."""
    session.execute(
        update(ContactAddress)
        .where(ContactAddress.contact_id == other_id)
        .values(contact_id=keep_id)
    )
    session.execute(
        update(Participant).where(Participant.contact_id == other_id).values(contact_id=keep_id)
    )
    session.execute(update(Action).where(Action.contact_id == other_id).values(contact_id=keep_id))


def forget_addresses(
    session: Session, owner_id: int, contact_id: int | None, addresses: set[str], now: datetime
) -> dict[str, int]:
    """Remove the participations of `addresses`, interactions left with no other
    counterpart, and the contact `contact_id`; keep a hash of each address in `forgotten`."""
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
        gone = facts.touched_by(session, orphans)
        session.execute(delete(Interaction).where(Interaction.id.in_(orphans)))
        facts.refresh(session, gone)
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


def forgotten_hashes(session: Session, owner_id: int) -> Iterable[str]:
    return session.scalars(select(Forgotten.address_hash).where(Forgotten.owner_id == owner_id))
