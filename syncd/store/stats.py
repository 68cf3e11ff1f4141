"""Per-contact statistics (`contact_stats`): kept equal to a recomputation, set-based.

Every path that adds, moves or removes counterpart participations calls `refresh` with the
contacts it touched, in its own transaction: one DELETE and one grouped INSERT … SELECT
over those contacts' participations (the covering index ix_participants_contact_stats
serves it), however many rows the batch had. `rebuild_all` does the same for every
contact (the migration that added the table, and `syncd reconcile` if ever needed).

`recompute` is the reference the property tests compare against: the same aggregate
without the table.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, case, func, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from syncd.store import derived
from syncd.store.chunks import IN_CHUNK as CHUNK
from syncd.store.models import ContactAddress, ContactStats, InteractionSource, Participant
from syncd.store.one_of import one_of_each

P = Participant
COLUMNS = (
    "contact_id",
    "owner_id",
    "last_at",
    "last_in_at",
    "last_out_at",
    "last_meeting_at",
    "interactions",
    "horizon_at",
)


@functools.cache
def aggregate() -> Select[Any]:
    """Per contact, the statistics' columns (in COLUMNS' order) from the participations.
    Built once (a Select is immutable; `.where` returns a new one): ingest uses it in every
    batch, and building it took half a millisecond."""
    real = P.is_interaction.is_(True)
    span_end = case(
        (and_(P.ends_at.is_not(None), P.ends_at > P.occurred_at), P.ends_at),
        else_=P.occurred_at,
    )
    columns: list[Any] = [
        P.contact_id,
        func.min(P.owner_id),
        func.max(case((real, P.occurred_at))),
        func.max(case((and_(real, P.direction == "in"), P.occurred_at))),
        func.max(case((and_(real, P.direction == "out"), P.occurred_at))),
        func.max(case((and_(real, P.direction == "mutual"), P.occurred_at))),
        func.count(func.distinct(case((real, P.interaction_id)))),
        func.max(span_end),
    ]
    return (
        select(*columns)
        # As ix_participants_contact_stats states its condition, so that it applies.
        .where(P.contact_id.is_not(None), P.is_counterpart == true())
        .group_by(P.contact_id)
    )


def refresh(session: Session, contact_ids: Iterable[int | None]) -> None:
    """Recompute the statistics of `contact_ids` (None and repeats are ignored)."""
    derived.refresh(session, ContactStats, COLUMNS, aggregate(), P.contact_id, contact_ids)


def rebuild_all(session: Session, owner_id: int | None = None) -> int:
    """Recompute every contact's statistics (of one owner, or all); returns how many rows."""
    return derived.rebuild_all(session, ContactStats, COLUMNS, aggregate(), P.owner_id, owner_id)


def contacts_of_interactions(session: Session, interaction_ids: Iterable[int]) -> set[int]:
    """The contacts that are counterparts in any of `interaction_ids`."""
    ids = sorted(set(interaction_ids))
    out: set[int] = set()
    for i in range(0, len(ids), CHUNK):
        out.update(
            session.scalars(
                select(P.contact_id)
                .where(P.interaction_id.in_(ids[i : i + CHUNK]), P.contact_id.is_not(None))
                .distinct()
            )
        )
    return out


def contacts_of_sources(session: Session, account_id: int, provider_ids: Iterable[str]) -> set[int]:
    """The contacts that are counterparts in what `account_id`'s `provider_ids` point at."""
    S = InteractionSource
    pids = sorted(set(provider_ids))
    out: set[int] = set()
    for i in range(0, len(pids), CHUNK):
        out.update(
            session.scalars(
                select(P.contact_id)
                .join(S, S.interaction_id == P.interaction_id)
                .where(
                    S.account_id == account_id,
                    S.provider_id.in_(pids[i : i + CHUNK]),
                    P.contact_id.is_not(None),
                )
                .distinct()
            )
        )
    return out


def contacts_of_addresses(session: Session, owner_id: int, addresses: Iterable[str]) -> set[int]:
    """The contacts `addresses` belong to."""
    A = ContactAddress
    out: set[int] = set()
    for among in one_of_each(session, A.address, sorted(set(addresses))):
        out.update(session.scalars(select(A.contact_id).where(A.owner_id == owner_id, among)))
    return out
