"""The owner, zone, day and contact the planner's example tests share (Berlin, Tuesday
24 November 2026, 10:00; working hours 09:00-17:30), and a host set to another zone."""

from __future__ import annotations

import os
import time as time_module
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta, tzinfo
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


@contextmanager
def host_zone(name: str) -> Iterator[None]:
    """Run the block with the process in zone `name`, as a server set to local time there
    would be: a result that depends on the host's zone changes under it."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time_module.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time_module.tzset()


class NoOffset(tzinfo):
    """A tzinfo that does not know its offset: naive in all but name."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None
