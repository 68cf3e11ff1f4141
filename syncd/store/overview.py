"""Counts and states read at a glance: the metrics' scrape and the report's hints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from syncd.store.models import Account, Action, Interaction, Stream


def stream_states(session: Session, owner_id: int) -> list[Any]:
    """(account, stream, cursor_at, last_sync_at, last_error) of every stream."""
    return list(
        session.execute(
            select(
                Account.name,
                Stream.name,
                Stream.cursor_at,
                Stream.last_sync_at,
                Stream.last_error,
            )
            .join(Account, Account.id == Stream.account_id)
            .where(Stream.owner_id == owner_id)
        ).all()
    )


def accounts_by_state(session: Session, owner_id: int) -> dict[str, int]:
    return dict(
        session.execute(
            select(Account.state, func.count())
            .where(Account.owner_id == owner_id)
            .group_by(Account.state)
        ).all()
    )


def actions_by_state(session: Session, owner_id: int) -> dict[str, int]:
    return dict(
        session.execute(
            select(Action.state, func.count())
            .where(Action.owner_id == owner_id)
            .group_by(Action.state)
        ).all()
    )


def newest_interaction_before(session: Session, owner_id: int, before: datetime) -> datetime | None:
    """When the newest real interaction before `before` happened."""
    return session.scalar(
        select(func.max(Interaction.occurred_at)).where(
            Interaction.owner_id == owner_id,
            Interaction.is_interaction.is_(True),
            Interaction.occurred_at < before,
        )
    )
