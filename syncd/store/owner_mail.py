"""The owner's sent mail, as ingest's classifier asks about it (syncd/ingest/owner_history.py)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from syncd.store.models import Interaction, Participant
from syncd.store.one_of import one_of_each


def has_sent_mail(session: Session, owner_id: int) -> bool:
    return (
        session.scalar(
            select(Interaction.id)
            .where(Interaction.owner_id == owner_id, Interaction.direction == "out")
            .limit(1)
        )
        is not None
    )


def written_to(session: Session, owner_id: int, addresses: Iterable[str]) -> set[str]:
    """Those of `addresses` (a batch's, chunked) the owner has sent mail to."""
    written: set[str] = set()
    for among in one_of_each(session, Participant.address, sorted(set(addresses))):
        written.update(
            session.scalars(
                select(Participant.address)
                .where(
                    Participant.owner_id == owner_id,
                    Participant.direction == "out",
                    Participant.is_owner.is_(False),
                    Participant.role.in_(("to", "cc", "bcc")),
                    among,
                )
                .distinct()
            )
        )
    return written


def sent_message_keys(session: Session, owner_id: int, keys: Iterable[str]) -> set[str]:
    """Those of the message keys `keys` (a batch's, chunked) that are the owner's sent mail."""
    sent: set[str] = set()
    for among in one_of_each(session, Interaction.message_key, sorted(set(keys))):
        sent.update(
            session.scalars(
                select(Interaction.message_key).where(
                    Interaction.owner_id == owner_id,
                    Interaction.direction == "out",
                    among,
                )
            )
        )
    return sent
