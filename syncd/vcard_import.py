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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from syncd.addresses import normalize_address
from syncd.contacts import merge_card
from syncd.linking import link_new_addresses
from syncd.sanitize import clean_block, clean_line
from syncd.store import rollups, stats
from syncd.store.models import Contact, ContactAddress, ContactDate

BATCH_CARDS = 1_000  # cards whose store work shares one set of queries
# Bound of one IN list here: the values come from a batch of at most BATCH_CARDS cards of at
# most vcard.MAX_EMAILS addresses each, so the list is chunked, never unbounded.
IN_CHUNK = 500

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


def _owners(session: Session, owner_id: int, emails: Sequence[str]) -> dict[str, int]:
    owned: dict[str, int] = {}
    for i in range(0, len(emails), IN_CHUNK):
        rows = session.execute(
            select(ContactAddress.address, ContactAddress.contact_id).where(
                ContactAddress.owner_id == owner_id,
                ContactAddress.address.in_(emails[i : i + IN_CHUNK]),
            )
        )
        owned.update((address, contact_id) for address, contact_id in rows)
    return owned


def _batch(
    session: Session,
    owner_id: int,
    cards: list[Any],
    now: datetime,
    create: bool,
    counts: dict[str, int],
) -> None:
    parsed = [(card, _emails(card)) for card in cards]
    owned = _owners(session, owner_id, list(dict.fromkeys(e for _, es in parsed for e in es)))
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
        owned = _owners(session, owner_id, rest)
    _write(session, owner_id, group, now)


def _write(session: Session, owner_id: int, group: _Group, now: datetime) -> None:
    if not group.cards:
        return
    current: dict[int, dict[str, Any]] = {}
    ids = sorted(group.contacts)
    for i in range(0, len(ids), IN_CHUNK):
        for row in session.execute(
            select(Contact.id, *(getattr(Contact, f) for f in _FIELDS)).where(
                Contact.id.in_(ids[i : i + IN_CHUNK])
            )
        ):
            current[row.id] = dict(zip(_FIELDS, row[1:], strict=True))
    fresh = [c for c, _, cid, _ in group.cards if cid is None]
    new_ids = (
        list(
            session.scalars(
                insert(Contact).returning(Contact.id, sort_by_parameter_order=True),
                [
                    {"owner_id": owner_id, "name": None, "created_at": now, "updated_at": now}
                    for _ in fresh
                ],
            )
        )
        if fresh
        else []
    )
    created = iter(new_ids)
    changes: list[dict[str, Any]] = []
    addresses: list[dict[str, Any]] = []
    linked: list[str] = []
    refreshed: list[int] = []
    dates: list[tuple[int, str, str, tuple[int | None, int, int]]] = []
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
    session.execute(update(Contact), changes)
    if addresses:
        session.execute(insert(ContactAddress), addresses)
    _replace_dates(session, owner_id, sorted(group.contacts), dates)
    link_new_addresses(session, owner_id, linked)
    stats.refresh(session, refreshed)
    rollups.refresh(session, refreshed)


def _replace_dates(
    session: Session,
    owner_id: int,
    matched: list[int],
    dates: list[tuple[int, str, str, tuple[int | None, int, int]]],
) -> None:
    """Dates of the cards replace stored ones of the same kind and label."""
    if not dates:
        return
    keys = {(cid, kind, label) for cid, kind, label, _ in dates}
    stale: list[int] = []
    for i in range(0, len(matched), IN_CHUNK):
        rows = session.execute(
            select(
                ContactDate.id, ContactDate.contact_id, ContactDate.kind, ContactDate.label
            ).where(ContactDate.contact_id.in_(matched[i : i + IN_CHUNK]))
        )
        stale.extend(r.id for r in rows if (r.contact_id, r.kind, r.label) in keys)
    for i in range(0, len(stale), IN_CHUNK):
        session.execute(delete(ContactDate).where(ContactDate.id.in_(stale[i : i + IN_CHUNK])))
    session.execute(
        insert(ContactDate),
        [
            {
                "owner_id": owner_id,
                "contact_id": cid,
                "kind": kind,
                "label": label,
                "year": year,
                "month": month,
                "day": day,
            }
            for cid, kind, label, (year, month, day) in dates
        ],
    )
