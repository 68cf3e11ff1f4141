"""Finding a free slot for a calendar hold. Pure: busy intervals in, one slot out.

A slot is free when it lies inside the owner's working hours on a working day that is not
a quiet date (all in the owner's zone), ends by the horizon, and keeps `buffer` away from
every busy interval. Candidate starts sit on a grid of `step` counted from local midnight
in the owner's zone, so with a 15-minute step a hold starts at :00, :15, :30 or :45 on the
owner's wall clock even in zones with odd offsets (India, Nepal).

When the contact's working hours are known the finder first looks for a slot that is also
inside them (in the contact's zone) and only then falls back to the owner's hours alone.

Working hours are wall-clock times, so they follow daylight saving: 09:00-17:00 stays
09:00-17:00 local on the day the clocks change. A working window whose end is not after its
start runs past midnight into the next day (a night shift). A time zone the contact's
record names but the zone database does not know is treated as "contact hours unknown".
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rules.model import WorkingTime

Interval = tuple[datetime, datetime]


def find_slot(
    busy: Sequence[tuple[datetime, datetime]],
    *,
    not_before: datetime,
    horizon_end: datetime,
    duration: timedelta,
    owner: WorkingTime,
    contact: WorkingTime | None = None,
    buffer: timedelta = timedelta(minutes=15),
    quiet_dates: frozenset[date] = frozenset(),
    step: timedelta = timedelta(minutes=15),
) -> tuple[datetime, datetime] | None:
    """The first free slot of `duration` in ``[not_before, horizon_end]``, in UTC, or None.

    Busy intervals may come unsorted, overlapping and in any zone; empty or reversed ones
    are ignored. Raises ValueError for naive datetimes, a non-positive duration or step, a
    negative buffer, or an owner time zone the zone database does not know.
    """
    _check_aware(not_before, "not_before")
    _check_aware(horizon_end, "horizon_end")
    if duration <= timedelta(0):
        raise ValueError("duration must be positive")
    if step <= timedelta(0):
        raise ValueError("step must be positive")
    if buffer < timedelta(0):
        raise ValueError("buffer must not be negative")
    owner_zone = _zone(owner.timezone)
    if owner_zone is None:
        raise ValueError(f"unknown time zone for the owner: {owner.timezone!r}")

    blocked = _merge(busy, buffer)
    finder = _Finder(
        blocked=blocked,
        start=not_before.astimezone(UTC),
        end=horizon_end.astimezone(UTC),
        duration=duration,
        step=step,
        zone=owner_zone,
    )
    owner_windows = list(_windows(owner, owner_zone, finder.start, finder.end, quiet_dates))

    contact_zone = _zone(contact.timezone) if contact is not None else None
    if contact is not None and contact_zone is not None:
        contact_windows = list(
            _windows(contact, contact_zone, finder.start, finder.end, frozenset())
        )
        slot = finder.first(_intersect(owner_windows, contact_windows))
        if slot is not None:
            return slot
    return finder.first(owner_windows)


class _Finder:
    """Walks candidate starts through windows, skipping over merged busy intervals."""

    def __init__(
        self,
        *,
        blocked: list[Interval],
        start: datetime,
        end: datetime,
        duration: timedelta,
        step: timedelta,
        zone: ZoneInfo,
    ) -> None:
        self.blocked = blocked
        self.blocked_ends = [e for _, e in blocked]
        self.start = start
        self.end = end
        self.duration = duration
        self.step = step
        self.zone = zone

    def first(self, windows: Sequence[Interval]) -> Interval | None:
        for win_start, win_end in windows:
            lo = max(win_start, self.start)
            hi = min(win_end, self.end)
            if hi - lo < self.duration:
                continue
            slot = self._first_in(lo, hi)
            if slot is not None:
                return slot
        return None

    def _first_in(self, lo: datetime, hi: datetime) -> Interval | None:
        candidate = _ceil_to_grid(lo, self.zone, self.step)
        while candidate + self.duration <= hi:
            finish = candidate + self.duration
            # the first blocked interval that ends after the candidate starts
            i = bisect.bisect_right(self.blocked_ends, candidate)
            if i == len(self.blocked) or self.blocked[i][0] >= finish:
                return candidate, finish
            candidate = _ceil_to_grid(self.blocked[i][1], self.zone, self.step)
        return None


def _check_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _merge(busy: Sequence[Interval], buffer: timedelta) -> list[Interval]:
    """Busy intervals in UTC, widened by `buffer`, sorted, with overlaps merged."""
    widened: list[Interval] = []
    for start, end in busy:
        _check_aware(start, "busy start")
        _check_aware(end, "busy end")
        if end <= start:
            continue
        widened.append((start.astimezone(UTC) - buffer, end.astimezone(UTC) + buffer))
    widened.sort()
    merged: list[Interval] = []
    for start, end in widened:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Wall-clock `at` on `day` in `zone`, in UTC (a time in a DST gap moves forward)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _windows(
    work: WorkingTime,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    quiet_dates: frozenset[date],
) -> Iterator[Interval]:
    """Working windows (UTC, in order) of the local days that can overlap [start, end]."""
    overnight = work.end <= work.start
    day = start.astimezone(zone).date() - timedelta(days=1 if overnight else 0)
    last = end.astimezone(zone).date()
    while day <= last:
        if day.weekday() in work.days and day not in quiet_dates:
            win_start = _local(day, work.start, zone)
            win_end = _local(day + timedelta(days=1) if overnight else day, work.end, zone)
            if win_end > start and win_start < end and win_end > win_start:
                yield win_start, win_end
        day += timedelta(days=1)


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """The intersection of two sorted lists of disjoint intervals."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _ceil_to_grid(moment: datetime, zone: ZoneInfo, step: timedelta) -> datetime:
    """The first grid point at or after `moment`; the grid counts `step` from local midnight."""
    local = moment.astimezone(zone)
    wall = local.replace(tzinfo=None)
    midnight = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    k = -((midnight - wall) // step)  # ceiling division
    while True:
        candidate = (midnight + k * step).replace(tzinfo=zone, fold=local.fold).astimezone(UTC)
        if candidate >= moment:
            return candidate
        k += 1
