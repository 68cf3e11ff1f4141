"""`one_of` finds exactly what an IN list finds, on SQLite and PostgreSQL, whatever the values."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from syncd.store.bulk import bulk_insert
from syncd.store.db import Store
from syncd.store.models import Interaction
from syncd.store.one_of import one_of

KEYS = ["mid:a@x", "mid:é漢字🙂@y", 'mid:"quoted"\\@z', "mid:1e5", "mid: 12 ", "null", ""]


def _store(url: str) -> tuple[Store, int]:
    store = Store(url)
    store.check_ready()
    owner = store.ensure_owner("Alex", datetime(2026, 1, 1, tzinfo=UTC))
    now = datetime(2026, 3, 1, tzinfo=UTC)
    with store.session() as s, s.begin():
        bulk_insert(
            s,
            Interaction.__table__,  # type: ignore[arg-type]
            (
                "owner_id",
                "kind",
                "category",
                "is_interaction",
                "occurred_at",
                "message_key",
                "created_at",
            ),
            [(owner, "email", "human", True, now, key, now) for key in KEYS]
            + [(owner, "email", "human", True, now, f"mid:{i}", now) for i in range(3000)],
        )
    return store, owner


def _found(store: Store, values: object) -> set[str]:
    with store.session() as s:
        return set(
            s.scalars(
                select(Interaction.message_key).where(
                    one_of(s, Interaction.message_key, values)  # type: ignore[arg-type]
                )
            )
        )


def test_strings_are_matched_exactly(store_url: str) -> None:
    store, _owner = _store(store_url)
    assert _found(store, KEYS) == set(KEYS)
    assert _found(store, ["mid:A@x", "mid:a@x ", "mid:100000", "missing"]) == set()
    many = [f"mid:{i}" for i in range(0, 6000, 2)]  # more than any IN chunk, half absent
    assert _found(store, many) == {f"mid:{i}" for i in range(0, 3000, 2)}
    assert _found(store, []) == set()
    store.dispose()


def test_integers_and_text_json_cannot_carry(store_url: str) -> None:
    store, _owner = _store(store_url)
    with store.session() as s:
        ids = list(s.scalars(select(Interaction.id).where(Interaction.message_key.in_(KEYS))))
        got = set(s.scalars(select(Interaction.id).where(one_of(s, Interaction.id, ids))))
    assert got == set(ids) and len(ids) == len(KEYS)
    if store_url.startswith("sqlite"):  # PostgreSQL text cannot hold a NUL at all
        # JSON would cut the value at the NUL and so find mid:a@x: the IN list finds nothing.
        assert _found(store, ["mid:a@x\x00tail", "mid:1e5"]) == {"mid:1e5"}
    store.dispose()
