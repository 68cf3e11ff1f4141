"""The statements of the lease table (syncd/sync/leases.py keeps the bookkeeping): each reads or
locks the rows of one owner, and the ones that lock skip rows another worker has locked
wherever waiting could deadlock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from syncd.store.models import Lease


def holder_for_update(
    session: Session, owner_id: int, resource: str
) -> tuple[str | None, int] | None:
    """Lock the row of `resource`; its (holder, generation), None if there is none."""
    row = session.execute(
        select(Lease.holder, Lease.generation)
        .where(Lease.owner_id == owner_id, Lease.resource == resource)
        .with_for_update()
    ).first()
    return None if row is None else (row[0], row[1])


def present(session: Session, owner_id: int, resources: Sequence[str]) -> set[str]:
    """Those of `resources` that have a row."""
    return set(
        session.scalars(
            select(Lease.resource).where(Lease.owner_id == owner_id, Lease.resource.in_(resources))
        )
    )


def insert_missing(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert lease rows, leaving any that another worker inserted meanwhile."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(Lease).values(rows).on_conflict_do_nothing(index_elements=["owner_id", "resource"])
    )


def held_for_update(
    session: Session, owner_id: int, holder: str, resources: Sequence[str]
) -> list[Lease]:
    """Lock the rows of `resources` that `holder` holds, in id order."""
    return list(
        session.scalars(
            select(Lease)
            .where(
                Lease.owner_id == owner_id,
                Lease.holder == holder,
                Lease.resource.in_(resources),
            )
            .order_by(Lease.id)
            .with_for_update()
        ).all()
    )


def lease_for_update(session: Session, owner_id: int, resource: str) -> Lease | None:
    return session.scalar(
        select(Lease)
        .where(Lease.owner_id == owner_id, Lease.resource == resource)
        .with_for_update()
    )


def delete_dead_workers(
    session: Session, owner_id: int, prefix: str, me: str, expired_before: datetime
) -> None:
    """Delete the worker rows (`prefix`) other than `me` that were released or expired
    before `expired_before`; rows another worker has locked are left for later."""
    dead = session.scalars(
        select(Lease.id)
        .where(
            Lease.owner_id == owner_id,
            Lease.resource.startswith(prefix),
            Lease.resource != me,
            Lease.holder.is_(None) | (Lease.expires_at < expired_before),
        )
        .with_for_update(skip_locked=True)
    ).all()
    if dead:
        session.execute(delete(Lease).where(Lease.id.in_(dead)))


def count_live(session: Session, owner_id: int, prefix: str, me: str, now: datetime) -> int:
    """Rows of `prefix` other than `me` that are held and not expired at `now`."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Lease)
            .where(
                Lease.owner_id == owner_id,
                Lease.resource.startswith(prefix),
                Lease.resource != me,
                Lease.holder.is_not(None),
                Lease.expires_at > now,
            )
        )
        or 0
    )


def count_prefixed(session: Session, owner_id: int, prefix: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Lease)
            .where(Lease.owner_id == owner_id, Lease.resource.startswith(prefix))
        )
        or 0
    )


def free_for_update(
    session: Session, owner_id: int, resources: Sequence[str], now: datetime, limit: int
) -> list[Lease]:
    """Lock up to `limit` rows of `resources` that are free or expired, skipping locked ones."""
    return list(
        session.scalars(
            select(Lease)
            .where(
                Lease.owner_id == owner_id,
                Lease.resource.in_(resources),
                (Lease.holder.is_(None)) | (Lease.expires_at <= now),
            )
            .order_by(Lease.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
    )
