"""Attaching stored participations to the contact an address belongs to.

Mail is often stored before its people become contacts (noise policy, an address added to
a contact later): these UPDATEs give those participations their contact. Both keep the
contact statistics (syncd/store/stats.py) right: `link_participants` refreshes the
contact it links to; `link_new_addresses` runs inside ingest, which refreshes the
contacts of every address of its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from syncd.store import rollups, stats
from syncd.store.models import ContactAddress, Participant


def link_participants(session: Session, owner_id: int, address: str, contact_id: int) -> None:
    """Attach the stored participations of `address` that have no contact to `contact_id`."""
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
    each address now belongs to: one UPDATE for a whole batch of new contacts."""
    ca = cast(Table, cast(Any, ContactAddress).__table__)
    p = cast(Table, cast(Any, Participant).__table__)
    owned = (
        select(ca.c.contact_id)
        .where(ca.c.owner_id == p.c.owner_id, ca.c.address == p.c.address)
        .scalar_subquery()
    )
    for offset in range(0, len(addresses), 500):
        chunk = addresses[offset : offset + 500]
        session.execute(
            update(p)
            .where(p.c.owner_id == owner_id, p.c.address.in_(chunk), p.c.contact_id.is_(None))
            .values(contact_id=owned)
        )
