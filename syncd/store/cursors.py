"""Accounts' streams and their cursors, and the sources a stream holds: the statements of
sync (syncd/sync/passes.py) and reconciliation (syncd/sync/reconcile.py) outside ingest's
batch writes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from syncd.store.chunks import chunked
from syncd.store.models import Account, InteractionSource, Stream


def ensure_account(session: Session, owner_id: int, name: str, kind: str, now: datetime) -> int:
    """The id of the owner's account `name`, made (state ok) if it is not stored yet."""
    acc_id = session.scalar(
        select(Account.id).where(Account.owner_id == owner_id, Account.name == name)
    )
    if acc_id is None:
        acc = Account(owner_id=owner_id, name=name, kind=kind, state="ok", created_at=now)
        session.add(acc)
        session.flush()
        acc_id = acc.id
    return acc_id


def stream_row(
    session: Session, owner_id: int, account_id: int, name: str, kind: str, *, create: bool
) -> tuple[int, str | None] | None:
    """(id, cursor) of the account's stream `name`; with `create` a missing one is made
    (no cursor), without it None."""
    row = session.execute(
        select(Stream.id, Stream.cursor).where(Stream.account_id == account_id, Stream.name == name)
    ).first()
    if row is not None:
        return row[0], row[1]
    if not create:
        return None
    stream = Stream(owner_id=owner_id, account_id=account_id, name=name, kind=kind, items=0)
    session.add(stream)
    session.flush()
    return stream.id, None


def streams_of(session: Session, account_id: int) -> list[Stream]:
    return list(session.scalars(select(Stream).where(Stream.account_id == account_id)))


def stream_cursors(session: Session, owner_id: int, account: str) -> dict[str, str | None]:
    """The stored cursor of each stream of `account`, by stream name."""
    rows = session.execute(
        select(Stream.name, Stream.cursor)
        .join(Account, Account.id == Stream.account_id)
        .where(Account.owner_id == owner_id, Account.name == account)
    ).all()
    return {name: cursor for name, cursor in rows}


def stored_sources(session: Session, account_id: int, ids: Iterable[str]) -> set[str]:
    """Which of the provider ids `ids` (one reconciliation window's, chunked) the account
    has a source for (ingest's idempotency key)."""
    found: set[str] = set()
    for chunk in chunked(sorted(ids)):
        found.update(
            session.scalars(
                select(InteractionSource.provider_id).where(
                    InteractionSource.account_id == account_id,
                    InteractionSource.provider_id.in_(chunk),
                )
            )
        )
    return found


def drop_replaced_sources(session: Session, stream_id: int, seen: set[str]) -> int:
    """Delete the stream's sources not in `seen` whose interaction has one that is."""
    rows = session.execute(
        select(
            InteractionSource.id, InteractionSource.provider_id, InteractionSource.interaction_id
        ).where(InteractionSource.stream_id == stream_id)
    ).all()
    current = {interaction for _id, pid, interaction in rows if pid in seen}
    stale = [sid for sid, pid, interaction in rows if pid not in seen and interaction in current]
    for chunk in chunked(stale):
        session.execute(delete(InteractionSource).where(InteractionSource.id.in_(chunk)))
    return len(stale)
