"""Per tier, an interaction counts once in the tier of each contact it involves, however its
contacts are spread: the report stages each interaction's one contact (or marks it as having
several, whose tiers it expands) and must equal tests/report_reference.py, on both engines.

    Feb 1   out to Ann and Bea (both key), t1; Ann answers Feb 2 (in, t1)
    Feb 3   out to Ann at two of her addresses, t2; she answers Feb 4 (in, t2)
    Feb 5   a meeting with Ann (key) and Cal (regular)
    Feb 6   a meeting with Dee (no tier) and a stranger
    Feb 7   in from Cal, t3; the owner answers Feb 10 (out, t3)
    Feb 8   out to a stranger alone, t4 (in no tier)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from syncd.report.document import ReportParams, build_report
from syncd.store.db import Store
from tests import report_reference
from tests.test_report import World, open_store

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
SINCE = datetime(2026, 1, 1, tzinfo=UTC)
TIERS = {"key": 14, "regular": 90}
HOUR = 3600


def feb(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 2, day, hour, tzinfo=UTC)


@pytest.fixture
def tiered(store_url: str) -> Iterator[tuple[Store, int]]:
    store, owner_id = open_store(store_url)
    with store.session() as s, s.begin():
        w = World(s, owner_id)
        w.contact("Ann", "key")
        w.contact("Bea", "key")
        w.contact("Cal", "regular")
        w.contact("Dee")
        w.contacts["Ann2"] = w.contacts["Ann"]  # a second address of Ann's
        w.email("out", feb(1), "Ann", "Bea", thread="t1")
        w.email("in", feb(2), "Ann", thread="t1")
        w.email("out", feb(3), "Ann", "Ann2", thread="t2")
        w.email("in", feb(4, 14), "Ann", thread="t2")
        w.meeting(feb(5, 14), feb(5, 15), "Ann", "Cal")
        w.meeting(feb(6, 14), feb(6, 15), "Dee", "Stranger")
        w.email("in", feb(7), "Cal", thread="t3")
        w.email("out", feb(10), "Cal", thread="t3")
        w.email("out", feb(8), "Stranger", thread="t4")
    yield store, owner_id
    store.dispose()


def _reports(store: Store, owner_id: int, **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    p = ReportParams(now=NOW, since=SINCE, tiers=TIERS, **kw)
    with store.session() as s:
        return build_report(s, owner_id, p), report_reference.build_report(s, owner_id, p)


def test_each_interaction_counts_once_in_each_tier_of_its_contacts(
    tiered: tuple[Store, int],
) -> None:
    new, old = _reports(*tiered)
    assert new == old
    tiers = {t["tier"]: t for t in new["tiers"]}
    # key: the mail to Ann and Bea once, Ann's answer, the mail to Ann's two addresses once,
    # her answer, the meeting with Cal
    assert tiers["key"]["interactions"] == 5
    # regular: the meeting with Ann, Cal's mail and the owner's answer
    assert tiers["regular"]["interactions"] == 3
    assert tiers[None]["interactions"] == 1  # Dee's meeting; the stranger is in no tier
    assert new["interactions"]["total"] == 9
    # the owner's mail to key contacts: both answered, after a day and after 26 hours
    sent = tiers["key"]["sent_response"]
    assert (sent["messages"], sent["answered"]) == (2, 2)
    assert sent["median_response_seconds"] == (24 * HOUR + 26 * HOUR) / 2


def test_the_tiers_follow_a_shorter_reply_window(tiered: tuple[Store, int]) -> None:
    """Cal's mail was answered after three days: not within two."""
    new, old = _reports(*tiered, reply_days=2)
    assert new == old
    tiers = {t["tier"]: t for t in new["tiers"]}
    received = tiers["regular"]["received_response"]
    assert (received["messages"], received["answered"]) == (1, 0)
