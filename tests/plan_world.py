"""The owner, zone, day and contact the planner's example tests share (Berlin, Tuesday
24 November 2026, 10:00; working hours 09:00-17:30)."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from rules.model import ContactSnap, OwnerInfo, WorkingTime

BERLIN = ZoneInfo("Europe/Berlin")
OWNER = OwnerInfo(
    "Alex Morgan",
    "alex@example.com",
    frozenset({"alex@example.com"}),
    frozenset({"example.com"}),
    WorkingTime("Europe/Berlin", time(9), time(17, 30)),
)
TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)
PRIYA = ContactSnap(id=1, name="Priya Raman", email="priya@acme.test", two_way=True)
