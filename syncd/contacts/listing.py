"""`contacts list` as a stream, and the measures of a contact it shows.

The contacts come in pages from the contact statistics (syncd/store/contact_list.py): the
first page costs the same whatever the size of the store, and memory follows the page, not
the address book. Per page, the 90-day counts give each contact's `strength`.

This module imports neither the classifier nor ingest: `syncd contacts list` loads only it,
the config and the store. syncd/contacts/views.py re-exports its measures (`iso`, `strength`,
`Tiers`, `is_due`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from syncd.isotime import iso
from syncd.store.contact_list import contact_pages, emails_of, recent_counts, two_way_counts

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

PAGE = 500
WINDOW_DAYS = 90


STRENGTH_WEIGHTS = {"recency": 0.4, "frequency": 0.3, "reciprocity": 0.3}
RECENCY_HALF_LIFE_DAYS = 30
FREQUENCY_FULL = 12  # interactions in 90 days for a full frequency part
RECIPROCITY_FULL = 4  # two-way interactions in 90 days for a full reciprocity part


def strength_parts(
    last: datetime | None, n90: int, two_way: int, now: datetime
) -> dict[str, float]:
    """The three parts of `strength`, each from 0 to 1 (docs/report.md explains them).

    recency = 0.5 ** (days since the last interaction / 30), 0 when there was none;
    frequency = min(1, interactions in 90 days / 12);
    reciprocity = min(1, two-way interactions in 90 days / 4).
    """
    if last is None:
        recency = 0.0
    else:
        days = max(0.0, (now - last).total_seconds() / 86400)
        recency = math.pow(0.5, days / RECENCY_HALF_LIFE_DAYS)
    return {
        "recency": round(recency, 4),
        "frequency": round(min(1.0, n90 / FREQUENCY_FULL), 4),
        "reciprocity": round(min(1.0, two_way / RECIPROCITY_FULL), 4),
    }


def strength(last: datetime | None, n90: int, two_way: int, now: datetime) -> int:
    """0-100 from recency (half-life 30 days), frequency and reciprocity over 90 days.

    strength = 100 * (0.4 * recency + 0.3 * frequency + 0.3 * reciprocity), the parts as
    `strength_parts` gives them; 0 for a contact never in touch.
    """
    if last is None:
        return 0
    parts = strength_parts(last, n90, two_way, now)
    return round(100 * sum(STRENGTH_WEIGHTS[k] * v for k, v in parts.items()))


@dataclass(frozen=True)
class Tiers:
    cadence_days: dict[str, int]


def is_due(contact: dict[str, Any], now: datetime) -> bool:
    if contact["do_not_contact"] or contact["next_due_at"] is None:
        return False
    snooze = contact["snoozed_until"]
    if snooze is not None and snooze > iso(now):
        return False
    return bool(contact["next_due_at"] <= iso(now))


def iter_contacts(
    session: Session,
    owner_id: int,
    now: datetime,
    tiers: Tiers,
    *,
    contact_id: int | None = None,
    limit: int | None = None,
    offset: int = 0,
    page: int = PAGE,
) -> Iterator[dict[str, Any]]:
    """The contacts, last interaction first (then by id), `offset` and `limit` applied."""
    for rows in contact_pages(
        session, owner_id, now, contact_id=contact_id, limit=limit, offset=offset, page=page
    ):
        yield from _describe(session, owner_id, now, tiers, rows)


def _describe(
    session: Session, owner_id: int, now: datetime, tiers: Tiers, rows: Iterable[Any]
) -> Iterator[dict[str, Any]]:
    rows = list(rows)
    ids = [r.id for r in rows]
    since = now - timedelta(days=WINDOW_DAYS)
    emails = emails_of(session, owner_id, ids)
    n90 = recent_counts(session, owner_id, since, now, ids)
    two_way = two_way_counts(session, owner_id, since, now, ids)
    for c in rows:
        last_dt = _aware(c.last)
        cadence = c.cadence_days or (tiers.cadence_days.get(c.tier) if c.tier else None)
        due = None
        if cadence:
            due = (last_dt or c.created_at) + timedelta(days=cadence)
        n, tw = n90.get(c.id, 0), two_way.get(c.id, 0)
        yield {
            "id": c.id,
            "name": c.name,
            "emails": emails.get(c.id, []),
            "tier": c.tier,
            "cadence_days": cadence,
            "timezone": c.timezone,
            "last_interaction_at": iso(last_dt),
            "next_due_at": iso(due),
            "interactions_90d": n,
            "two_way_90d": tw,
            "strength": strength(last_dt, n, tw, now),
            "strength_parts": strength_parts(last_dt, n, tw, now),
            "do_not_contact": c.do_not_contact,
            "snoozed_until": iso(c.snoozed_until),
            "organisation": c.organisation,
        }


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns a CASE over datetimes as text
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- output -----------------------------------------------------------------------------------


def select_contacts(
    session: Session,
    owner_id: int,
    now: datetime,
    tiers: Tiers,
    *,
    due: bool,
    sort: str,
    limit: int | None,
    offset: int,
) -> Iterator[dict[str, Any]]:
    """What `contacts list` prints, in its order: streamed for the default order (recent)
    without --due; --due filters the stream; another order needs every contact first."""
    if sort == "recent" and not due:
        yield from iter_contacts(session, owner_id, now, tiers, limit=limit, offset=offset)
        return
    rows: Iterable[dict[str, Any]] = iter_contacts(session, owner_id, now, tiers)
    if due:
        rows = (c for c in rows if is_due(c, now))
    if sort != "recent":
        listed = list(rows)
        if sort == "strength":
            listed.sort(key=lambda c: (-c["strength"], c["id"]))
        elif sort == "name":
            listed.sort(
                key=lambda c: (
                    (c["name"] or c["emails"][0] if c["emails"] else "").lower(),
                    c["id"],
                )
            )
        rows = listed
    end = None if limit is None else offset + limit
    for n, c in enumerate(rows):
        if end is not None and n >= end:
            return
        if n >= offset:
            yield c


def json_array(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The text of `json.dumps(list(rows), indent=2)` and a newline, a page of rows at a
    time, as the rows come."""
    parts: list[str] = []
    first = True
    for n, row in enumerate(rows, 1):
        body = json.dumps(row, ensure_ascii=False, indent=2, default=str)
        parts.append(("[\n" if first else ",\n") + "  " + body.replace("\n", "\n  "))
        first = False
        if n % PAGE == 0:
            yield "".join(parts)
            parts.clear()
    parts.append("[]\n" if first else "\n]\n")
    yield "".join(parts)


def json_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One compact JSON object a line, a page of lines at a time."""
    parts: list[str] = []
    for n, row in enumerate(rows, 1):
        parts.append(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        if n % PAGE == 0:
            yield "".join(parts)
            parts.clear()
    yield "".join(parts)
