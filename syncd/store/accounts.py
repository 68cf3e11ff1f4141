"""Accounts and owners: the look-ups the CLI and the daemon make by name."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from syncd.store.models import Account, Owner, Stream


def account_named(session: Session, owner_id: int, name: str) -> Account | None:
    return session.scalar(select(Account).where(Account.owner_id == owner_id, Account.name == name))


def account_names_in_state(session: Session, owner_id: int, state: str) -> list[str]:
    return list(
        session.scalars(
            select(Account.name).where(Account.owner_id == owner_id, Account.state == state)
        )
    )


def accounts_and_streams(
    session: Session, owner_id: int
) -> tuple[dict[str, Account], dict[int, list[Stream]]]:
    """The owner's stored accounts by name, and each account's streams in name order."""
    stored = {
        a.name: a for a in session.scalars(select(Account).where(Account.owner_id == owner_id))
    }
    streams: dict[int, list[Stream]] = {}
    for st in session.scalars(
        select(Stream).where(Stream.owner_id == owner_id).order_by(Stream.name)
    ):
        streams.setdefault(st.account_id, []).append(st)
    return stored, streams


def owner_id_named(session: Session, name: str) -> int | None:
    return session.scalar(select(Owner.id).where(Owner.name == name))


def missing_sqlite_file(store_url: str) -> bool:
    """`store_url` names an SQLite file that does not exist (yet)."""
    url = make_url(store_url)
    return url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file()
