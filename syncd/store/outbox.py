"""The outbox's rows (actions) and the addresses they go to: the queries of syncd/outbox/executor.py
and of the `plan` and `actions` commands."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from syncd.store.chunks import chunked
from syncd.store.models import Action, ContactAddress


def actions_by_key(session: Session, owner_id: int, keys: Iterable[str]) -> dict[str, Action]:
    """The stored actions of `keys` (one plan's: bounded by the plan, chunked)."""
    return {
        a.key: a
        for chunk in chunked(keys)
        for a in session.scalars(
            select(Action).where(Action.owner_id == owner_id, Action.key.in_(chunk))
        )
    }


def action_by_key(session: Session, owner_id: int, key: str) -> Action | None:
    return session.scalar(select(Action).where(Action.owner_id == owner_id, Action.key == key))


def created_actions(
    session: Session, owner_id: int
) -> list[tuple[str, str, str | None, str | None]]:
    """(key, kind, fingerprint, provider_ref) of every created action."""
    rows = session.execute(
        select(Action.key, Action.kind, Action.fingerprint, Action.provider_ref).where(
            Action.owner_id == owner_id, Action.state == "created"
        )
    ).all()
    return [(key, kind, fp, ref) for key, kind, fp, ref in rows]


def due_action_ids(
    session: Session, owner_id: int, now: datetime, held_back: Collection[str] = ()
) -> list[int]:
    """Planned actions that are due, those caught executing, failed ones due a retry.

    Planned actions whose key is in `held_back` wait, due or not: the planner deferred them
    past its horizon (the caps are full), so their stored due time no longer holds."""
    rows = session.execute(
        select(Action.id, Action.key, Action.state)
        .where(
            Action.owner_id == owner_id,
            or_(
                (Action.state == "planned") & (Action.due_at <= now),
                Action.state == "executing",
                (Action.state == "failed")
                & Action.next_attempt_at.is_not(None)
                & (Action.next_attempt_at <= now),
            ),
        )
        .order_by(Action.due_at, Action.id)
    )
    return [i for i, key, state in rows if not (state == "planned" and key in held_back)]


def actions_listed(session: Session, owner_id: int, state: str | None) -> list[Action]:
    """Every action (or those in `state`), soonest due first."""
    q = select(Action).where(Action.owner_id == owner_id).order_by(Action.due_at, Action.id)
    if state:
        q = q.where(Action.state == state)
    return list(session.scalars(q).all())


def first_address(session: Session, contact_id: int) -> str | None:
    """The contact's first address (the one it got first)."""
    return session.scalar(
        select(ContactAddress.address)
        .where(ContactAddress.contact_id == contact_id)
        .order_by(ContactAddress.id)
        .limit(1)
    )


def owner_first_addresses(session: Session, owner_id: int) -> dict[int, str]:
    """contact id → first address, for every contact of the owner."""
    return {
        cid: addr
        for cid, addr in session.execute(
            select(ContactAddress.contact_id, ContactAddress.address)
            .where(ContactAddress.owner_id == owner_id)
            .order_by(ContactAddress.id.desc())
        ).all()
    }
