"""The bulk writers of ingest store exactly what the ORM would, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from syncd.store.bulk import allocate_ids, bulk_insert
from syncd.store.db import Store
from syncd.store.models import Contact, Interaction

COLUMNS = (
    "owner_id",
    "kind",
    "category",
    "is_interaction",
    "occurred_at",
    "message_key",
    "created_at",
)


def _store(url: str) -> tuple[Store, int]:
    store = Store(url)
    store.check_ready()
    return store, store.ensure_owner("Alex", datetime(2026, 1, 1, tzinfo=UTC))


def test_rows_read_back_as_the_orm_writes_them(store_url: str) -> None:
    store, owner = _store(store_url)
    whole = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # no microseconds: the format must not drop them
    berlin = datetime(2026, 3, 1, 10, 0, 0, 250, tzinfo=timezone(timedelta(hours=1)))
    with store.session() as s, s.begin():
        bulk_insert(
            s,
            Interaction.__table__,  # type: ignore[arg-type]
            COLUMNS,
            [
                (owner, "email", "human", True, whole, "bulk:1", whole),
                (owner, "email", "newsletter", False, berlin, "bulk:2", whole),
            ],
        )
        s.add(
            Interaction(
                owner_id=owner,
                kind="email",
                category="human",
                is_interaction=True,
                occurred_at=whole,
                message_key="orm:1",
                created_at=whole,
            )
        )
    with store.session() as s:
        rows = {i.message_key: i for i in s.scalars(select(Interaction))}
        assert rows["bulk:1"].occurred_at == whole
        assert rows["bulk:2"].occurred_at == datetime(2026, 3, 1, 9, 0, 0, 250, tzinfo=UTC)
        assert rows["bulk:1"].is_interaction is True and rows["bulk:2"].is_interaction is False
        # Compared in SQL against a bound parameter: equal instants match, order holds.
        same = s.scalars(select(Interaction.message_key).where(Interaction.occurred_at == whole))
        assert sorted(same) == ["bulk:1", "orm:1"]
        later = s.scalars(select(Interaction.message_key).where(Interaction.occurred_at > whole))
        assert list(later) == ["bulk:2"]
    store.dispose()


def test_naive_datetimes_are_refused(store_url: str) -> None:
    store, owner = _store(store_url)
    with (
        store.session() as s,
        s.begin(),
        pytest.raises(ValueError, match="naive datetime"),
    ):
        bulk_insert(
            s,
            Interaction.__table__,  # type: ignore[arg-type]
            COLUMNS,
            [(owner, "email", "human", True, datetime(2026, 3, 1), "naive", datetime(2026, 3, 1))],
        )
    store.dispose()


def test_allocated_ids_do_not_collide_with_later_inserts(store_url: str) -> None:
    store, owner = _store(store_url)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    with store.session() as s, s.begin():
        s.add(Contact(owner_id=owner, name="first", created_at=now, updated_at=now))
    with store.session() as s, s.begin():
        ids = allocate_ids(s, Contact.__table__, 3)  # type: ignore[arg-type]
        assert len(set(ids)) == 3
        bulk_insert(
            s,
            Contact.__table__,  # type: ignore[arg-type]
            ("id", "owner_id", "name", "do_not_contact", "created_at", "updated_at"),
            [(cid, owner, f"c{cid}", False, now, now) for cid in ids],
        )
    with store.session() as s, s.begin():
        s.add(Contact(owner_id=owner, name="after", created_at=now, updated_at=now))
    with store.session() as s:
        names = dict(s.execute(select(Contact.id, Contact.name)).all())
    assert len(names) == 5 and {f"c{i}" for i in ids} <= set(names.values())
    # The ids really are the ones the rows got: inserting one again is a conflict.
    with (
        store.session() as s,
        s.begin(),
        pytest.raises(IntegrityError),
    ):
        bulk_insert(
            s,
            Contact.__table__,  # type: ignore[arg-type]
            ("id", "owner_id", "name", "do_not_contact", "created_at", "updated_at"),
            [(ids[0], owner, "dup", False, now, now)],
        )
    store.dispose()


def test_a_long_read_does_not_make_a_writer_wait(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import threading

    url = f"sqlite:///{tmp_path / 'state' / 'syncd.db'}"
    reader_store, owner = _store(url)
    writer_store = Store(url)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    wrote = threading.Event()

    def write() -> None:
        with writer_store.session() as s, s.begin():
            s.add(Contact(owner_id=owner, name="while reading", created_at=now, updated_at=now))
        wrote.set()

    with reader_store.read_session() as s, s.begin():
        s.execute(select(Contact.id)).all()  # the read transaction is open from here
        writer = threading.Thread(target=write)
        writer.start()
        # With BEGIN IMMEDIATE the writer would wait out the 30 s busy timeout.
        assert wrote.wait(timeout=10)
        writer.join()
    reader_store.dispose()
    writer_store.dispose()
