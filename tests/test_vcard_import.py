"""The batched vCard import gives what `merge_card` gives card after card.

Hypothesis draws address books over a small pool of addresses (so cards share addresses
with stored contacts and with one another, which makes contacts merge) and imports each
into two owners of one real store that start alike: one through `contacts.merge_card`
card by card, one through `vcard_import.import_cards` in small batches. Contacts, their
addresses, fields and dates and the outcome counts must come out the same.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from connectors.vcard import VCard
from syncd.contacts import vcard_import
from syncd.contacts.views import merge_card
from syncd.store.db import Store
from syncd.store.models import Contact, ContactAddress, ContactDate

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POOL = [f"p{i}@corp.example" for i in range(8)]
_owners = itertools.count(1)

dates = st.tuples(st.none() | st.just(1985), st.integers(1, 12), st.integers(1, 28))
cards = st.builds(
    VCard,
    uid=st.none(),
    name=st.none() | st.sampled_from(["Ann", "Bo", "Cy"]),
    emails=st.lists(st.sampled_from(POOL), max_size=3, unique=True).map(tuple),
    birthday=st.none() | dates,
    anniversary=st.none() | dates,
    custom_dates=st.lists(st.tuples(st.sampled_from(["x", "y"]), dates), max_size=3).map(tuple),
    timezone=st.none() | st.sampled_from(["Europe/Berlin", "Asia/Tokyo"]),
    organisation=st.none() | st.just("Acme"),
    notes=st.none() | st.just("met at a fair"),
)
books = st.lists(cards, max_size=12)
# the stored contacts both owners start with: groups of pool addresses, one contact each
seeds = st.lists(st.lists(st.sampled_from(POOL), min_size=1, max_size=2, unique=True), max_size=4)


def _seed(store: Store, groups: list[list[str]]) -> int:
    with store.session() as s, s.begin():
        owner_id = store.ensure_owner(f"vc{next(_owners)}", NOW)
        taken: set[str] = set()
        for n, group in enumerate(groups):
            fresh = [a for a in group if a not in taken]
            if not fresh:
                continue
            taken.update(fresh)
            c = Contact(
                owner_id=owner_id,
                name=f"seed{n}",
                timezone="UTC" if n % 2 else None,
                created_at=NOW,
                updated_at=NOW,
            )
            s.add(c)
            s.flush()
            s.add_all(ContactAddress(owner_id=owner_id, contact_id=c.id, address=a) for a in fresh)
            s.add(
                ContactDate(
                    owner_id=owner_id,
                    contact_id=c.id,
                    kind="birthday",
                    label="",
                    year=None,
                    month=1,
                    day=1,
                )
            )
        return owner_id


def _state(store: Store, owner_id: int) -> list[Any]:
    with store.session() as s:
        contacts = s.scalars(select(Contact).where(Contact.owner_id == owner_id)).all()
        out = []
        for c in contacts:
            emails = sorted(
                s.scalars(select(ContactAddress.address).where(ContactAddress.contact_id == c.id))
            )
            ds = [
                (d.kind, d.label, d.year, d.month, d.day)
                for d in s.scalars(
                    select(ContactDate)
                    .where(ContactDate.contact_id == c.id)
                    .order_by(ContactDate.id)
                )
            ]
            out.append((emails, c.name, c.timezone, c.organisation, c.notes, ds, c.updated_at))
        return sorted(out, key=repr)


@pytest.fixture
def vc_store(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(vcard_import, "BATCH_CARDS", 4)  # several batches per book
    (tmp_path / "state").mkdir(exist_ok=True)
    store = Store(store_url)
    store.check_ready()
    yield store
    store.dispose()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(groups=seeds, book=books, create=st.booleans())
def test_batches_equal_card_by_card(vc_store: Store, groups: Any, book: Any, create: bool) -> None:
    one, many = _seed(vc_store, groups), _seed(vc_store, groups)
    counts = {"created": 0, "updated": 0, "unmatched": 0}
    with vc_store.session() as s, s.begin():
        for card in book:
            counts[merge_card(s, one, card, NOW, create=create)] += 1
    with vc_store.session() as s, s.begin():
        batched = vcard_import.import_cards(s, many, book, NOW, create=create)
    assert batched == counts
    assert _state(vc_store, many) == _state(vc_store, one)
