"""The batch writes of `syncd import vcard` (syncd/contacts/vcard_import.py): a batch's stored
addresses and contacts in a few queries, then bulk INSERTs and UPDATEs.

Every list here comes from one batch of cards (at most vcard_import.BATCH_CARDS cards of at
most vcard.MAX_EMAILS addresses each): bounded, and still sent in chunks of `IN_CHUNK`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from syncd.store import rollups, stats
from syncd.store.chunks import chunked
from syncd.store.contacts import link_new_addresses
from syncd.store.models import Contact, ContactAddress, ContactDate

CardDate = tuple[int, str, str, tuple[int | None, int, int]]  # contact, kind, label, date


def address_holders(session: Session, owner_id: int, emails: Sequence[str]) -> dict[str, int]:
    """address → contact id, for those of `emails` a contact has."""
    owned: dict[str, int] = {}
    for chunk in chunked(emails):
        rows = session.execute(
            select(ContactAddress.address, ContactAddress.contact_id).where(
                ContactAddress.owner_id == owner_id, ContactAddress.address.in_(chunk)
            )
        )
        owned.update((address, contact_id) for address, contact_id in rows)
    return owned


def contact_fields(
    session: Session, ids: Sequence[int], fields: Sequence[str]
) -> dict[int, dict[str, Any]]:
    """contact id → {field: value} of the contacts `ids`."""
    current: dict[int, dict[str, Any]] = {}
    for chunk in chunked(ids):
        for row in session.execute(
            select(Contact.id, *(getattr(Contact, f) for f in fields)).where(Contact.id.in_(chunk))
        ):
            current[row.id] = dict(zip(fields, row[1:], strict=True))
    return current


def create_contacts(session: Session, owner_id: int, count: int, now: datetime) -> list[int]:
    """`count` new contacts without a name; their ids, in order."""
    if not count:
        return []
    return list(
        session.scalars(
            insert(Contact).returning(Contact.id, sort_by_parameter_order=True),
            [
                {"owner_id": owner_id, "name": None, "created_at": now, "updated_at": now}
                for _ in range(count)
            ],
        )
    )


def write_cards(
    session: Session,
    owner_id: int,
    changes: list[dict[str, Any]],
    addresses: list[dict[str, Any]],
    matched: list[int],
    dates: list[CardDate],
    linked: list[str],
    refreshed: list[int],
) -> None:
    """Update the contacts (`changes`), add their new `addresses`, let the cards' `dates`
    replace the stored ones of the `matched` contacts, link the stored participations of the
    `linked` addresses, refresh the statistics of the contacts in `refreshed`."""
    session.execute(update(Contact), changes)
    if addresses:
        session.execute(insert(ContactAddress), addresses)
    _replace_dates(session, owner_id, matched, dates)
    link_new_addresses(session, owner_id, linked)
    stats.refresh(session, refreshed)
    rollups.refresh(session, refreshed)


def _replace_dates(
    session: Session, owner_id: int, matched: list[int], dates: list[CardDate]
) -> None:
    """Dates of the cards replace stored ones of the same kind and label."""
    if not dates:
        return
    keys = {(cid, kind, label) for cid, kind, label, _ in dates}
    stale: list[int] = []
    for chunk in chunked(matched):
        rows = session.execute(
            select(
                ContactDate.id, ContactDate.contact_id, ContactDate.kind, ContactDate.label
            ).where(ContactDate.contact_id.in_(chunk))
        )
        stale.extend(r.id for r in rows if (r.contact_id, r.kind, r.label) in keys)
    for chunk in chunked(stale):
        session.execute(delete(ContactDate).where(ContactDate.id.in_(chunk)))
    session.execute(
        insert(ContactDate),
        [
            {
                "owner_id": owner_id,
                "contact_id": cid,
                "kind": kind,
                "label": label,
                "year": year,
                "month": month,
                "day": day,
            }
            for cid, kind, label, (year, month, day) in dates
        ],
    )
