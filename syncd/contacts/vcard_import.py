"""Address-book import in batches: the store work of `syncd import vcard`.

`contacts.merge_card` merges one card with a handful of queries; 100,000 cards made that
hundreds of thousands of round trips. Here the cards of a file go in batches of
`BATCH_CARDS`: one query for the stored addresses of the batch, one for the contacts they
belong to, then bulk INSERTs and UPDATEs of contacts, addresses and dates, and one UPDATE
that links the stored participations of the batch's new addresses.

The result is the one `merge_card` gives, card after card. A card whose work depends on
an earlier card of the same pending group (they share an address or a contact) or that
folds several contacts into one is rare; the group before it is written out and the card
goes through `merge_card` itself, so the order of effects never changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from syncd.contacts.views import merge_card
from syncd.ingest.addresses import normalize_address
from syncd.ingest.sanitize import clean_block, clean_line
from syncd.store.cards import (
    CardDate,
    address_holders,
    contact_fields,
    create_contacts,
    write_cards,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

BATCH_CARDS = 1_000  # cards whose store work shares one set of queries (syncd/store/cards.py)

_FIELDS = ("name", "timezone", "organisation", "notes")


@dataclass
class _Group:
    """Cards merged without depending on one another, written out together."""

    contacts: set[int] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    # (card, emails, contact id or None to create, addresses already stored)
    cards: list[tuple[Any, list[str], int | None, set[str]]] = field(default_factory=list)


def import_cards(
    session: Session, owner_id: int, cards: Iterable[Any], now: datetime, *, create: bool
) -> dict[str, int]:
    """Merge `cards` as `merge_card` does one by one; returns counts by outcome."""
    counts = {"created": 0, "updated": 0, "unmatched": 0}
    batch: list[Any] = []
    for card in cards:
        batch.append(card)
        if len(batch) == BATCH_CARDS:
            _batch(session, owner_id, batch, now, create, counts)
            batch = []
    if batch:
        _batch(session, owner_id, batch, now, create, counts)
    return counts


def _emails(card: Any) -> list[str]:
    return list(dict.fromkeys(e for e in (normalize_address(x) for x in card.emails) if e))


def _batch(
    session: Session,
    owner_id: int,
    cards: list[Any],
    now: datetime,
    create: bool,
    counts: dict[str, int],
) -> None:
    parsed = [(card, _emails(card)) for card in cards]
    owned = address_holders(
        session, owner_id, list(dict.fromkeys(e for _, es in parsed for e in es))
    )
    group = _Group()
    for index, (card, emails) in enumerate(parsed):
        if not emails:
            counts["unmatched"] += 1
            continue
        matched = list(dict.fromkeys(owned[e] for e in emails if e in owned))
        # An address an earlier card of the group brings in is not stored yet: such a card
        # depends on the group whether or not it matched anything stored.
        depends = len(matched) > 1 or bool(
            group.emails.intersection(emails) or group.contacts.intersection(matched)
        )
        if not depends and not matched and not create:
            counts["unmatched"] += 1
            continue
        if not depends:
            stored = {e for e in emails if e in owned}
            group.cards.append((card, emails, matched[0] if matched else None, stored))
            group.emails.update(emails)
            group.contacts.update(matched)
            counts["created" if not matched else "updated"] += 1
            continue
        _write(session, owner_id, group, now)
        group = _Group()
        session.expire_all()  # the bulk statements above bypassed loaded objects
        counts[merge_card(session, owner_id, card, now, create=create)] += 1
        session.flush()
        rest = list(dict.fromkeys(e for _, es in parsed[index + 1 :] for e in es))
        owned = address_holders(session, owner_id, rest)
    _write(session, owner_id, group, now)


def _write(session: Session, owner_id: int, group: _Group, now: datetime) -> None:
    if not group.cards:
        return
    current = contact_fields(session, sorted(group.contacts), _FIELDS)
    fresh = [c for c, _, cid, _ in group.cards if cid is None]
    created = iter(create_contacts(session, owner_id, len(fresh), now))
    changes: list[dict[str, Any]] = []
    addresses: list[dict[str, Any]] = []
    linked: list[str] = []
    refreshed: list[int] = []
    dates: list[CardDate] = []
    for card, emails, cid, stored in group.cards:
        if cid is None:
            cid = next(created)
            values: dict[str, Any] = dict.fromkeys(_FIELDS)
        else:
            values = current[cid]
        if card.name:
            values["name"] = clean_line(card.name, 300)
        if card.timezone and not values["timezone"]:
            values["timezone"] = card.timezone
        if card.organisation and not values["organisation"]:
            values["organisation"] = clean_line(card.organisation, 300)
        if card.notes and not values["notes"]:
            values["notes"] = clean_block(card.notes)
        changes.append({"id": cid, **values, "updated_at": now})
        new = [e for e in emails if e not in stored]
        addresses.extend({"owner_id": owner_id, "contact_id": cid, "address": e} for e in new)
        linked.extend(new)
        if new:
            refreshed.append(cid)
        card_dates: dict[tuple[str, str], tuple[int | None, int, int]] = {}
        if card.birthday:
            card_dates["birthday", ""] = card.birthday
        if card.anniversary:
            card_dates["anniversary", ""] = card.anniversary
        for label, value in card.custom_dates:
            key = ("custom", clean_line(label, 200) or "")
            card_dates.pop(key, None)  # set again: the later row, as set_date leaves it
            card_dates[key] = value
        dates.extend((cid, kind, label, value) for (kind, label), value in card_dates.items())
    write_cards(
        session, owner_id, changes, addresses, sorted(group.contacts), dates, linked, refreshed
    )
