"""Working days and working hours in a time zone, as pure functions.

Every datetime taken or returned is timezone-aware; a naive one is a bug and raises
`ValueError`. A local wall time is turned into an instant with `wall()`, which builds it in
the zone and normalises it through UTC, so:

- 09:00 stays 09:00 local on both sides of a daylight-saving change (the offset is the one
  in force on that date, not the one of the day the computation started from);
- a wall time inside a spring-forward gap (02:30 on the last Sunday of March in Berlin)
  does not exist and moves forward by the length of the gap (03:30);
- an ambiguous wall time (the repeated hour in autumn) is its first occurrence.

A working day is a day of `WorkingTime.days` that is not a quiet date; its working hours
are `start` to `end` local time (the config guarantees `end` after `start`). Results are
expressed in the working time's zone. `ZoneInfo` objects come from a cache (`zone()`), so
the functions can be called per contact without constructing zones in a loop.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Set
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from rules.model import WorkingTime

__all__ = [
    "add_business_days",
    "business_day_after",
    "business_days_between",
    "clamp_to_working",
    "is_working_day",
    "local_date",
    "next_working_start",
    "overlap_window",
    "wall",
    "working_window",
    "zone",
]

_ONE_DAY = timedelta(days=1)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The `ZoneInfo` for an IANA name, cached (raises `ZoneInfoNotFoundError` if unknown)."""
    return ZoneInfo(name)


def _tz(tz: str | tzinfo) -> tzinfo:
    return zone(tz) if isinstance(tz, str) else tz


def _aware(dt: datetime, what: str) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {dt.isoformat()}")


def local_date(dt: datetime, tz: str | tzinfo) -> date:
    """The calendar date of the instant `dt` in `tz`."""
    _aware(dt, "local_date(dt)")
    return dt.astimezone(_tz(tz)).date()


def wall(d: date, t: time, tz: str | tzinfo) -> datetime:
    """The instant at local time `t` on `d` in `tz` (a time in a DST gap moves forward)."""
    z = _tz(tz)
    return (
        datetime.combine(d, t.replace(tzinfo=None, fold=0), tzinfo=z).astimezone(UTC).astimezone(z)
    )


def is_working_day(d: date, work: WorkingTime, quiet: Set[date] = frozenset()) -> bool:
    """`d` is one of the working weekdays and not a quiet date."""
    return d.weekday() in work.days and d not in quiet


def working_window(d: date, work: WorkingTime) -> tuple[datetime, datetime] | None:
    """Start and end of the working hours on `d` (local date in `work`'s zone), or None when
    `d` is not a working weekday. Quiet dates are the caller's concern."""
    if d.weekday() not in work.days:
        return None
    start, end = wall(d, work.start, work.timezone), wall(d, work.end, work.timezone)
    return (start, end) if start < end else None


def _search_limit(work: WorkingTime, quiet: Set[date]) -> int:
    """Days to look ahead before concluding there is no working day at all: every week has
    one working weekday, and each quiet date can cost at most one week."""
    if not work.days:
        raise ValueError(f"working time in {work.timezone} has no working days")
    return 7 * (len(quiet) + 2)


def add_business_days(
    start: datetime, n: int, work: WorkingTime, quiet: Set[date] = frozenset()
) -> datetime:
    """The same local time of day on the `n`-th working day after `start`'s local date.

    Friday 17:00 plus 3 business days is Wednesday 17:00; Saturday 10:00 plus 1 is Monday
    10:00. `n == 0` returns `start` itself (in `work`'s zone).
    """
    _aware(start, "add_business_days(start)")
    if n < 0:
        raise ValueError(f"add_business_days: n must be >= 0, got {n}")
    z = zone(work.timezone)
    local = start.astimezone(z)
    if n == 0:
        return local
    d = business_day_after(local.date(), n, work, quiet, start)
    return wall(d, local.time(), z)


def business_day_after(
    day: date, n: int, work: WorkingTime, quiet: Set[date], start: datetime | None = None
) -> date:
    """The `n`-th working day after `day` (n >= 1): the date `add_business_days` lands on
    from an instant of that local date."""
    limit = n * 7 + _search_limit(work, quiet)
    d, left = day, n
    for _ in range(limit):
        d += _ONE_DAY
        if is_working_day(d, work, quiet):
            left -= 1
            if left == 0:
                return d
    after = start.isoformat() if start is not None else day.isoformat()
    raise ValueError(f"no {n} working days found after {after}")


def next_working_start(
    after: datetime, work: WorkingTime, quiet: Set[date] = frozenset()
) -> datetime:
    """The first start of working hours strictly after `after` (today's start when `after`
    is before it on a working day)."""
    _aware(after, "next_working_start(after)")
    d = local_date(after, work.timezone)
    for _ in range(_search_limit(work, quiet)):
        if is_working_day(d, work, quiet):
            window = working_window(d, work)
            if window is not None and window[0] > after:
                return window[0]
        d += _ONE_DAY
    raise ValueError(f"no working day found after {after.isoformat()}")


def clamp_to_working(dt: datetime, work: WorkingTime, quiet: Set[date] = frozenset()) -> datetime:
    """`dt` when it is inside the working hours of a working day, else the next start."""
    _aware(dt, "clamp_to_working(dt)")
    d = local_date(dt, work.timezone)
    if is_working_day(d, work, quiet):
        window = working_window(d, work)
        if window is not None and window[0] <= dt < window[1]:
            return dt
    return next_working_start(dt, work, quiet)


def overlap_window(d: date, a: WorkingTime, b: WorkingTime) -> tuple[datetime, datetime] | None:
    """The part of `a`'s working hours on `d` (a local date in `a`'s zone) that is also
    inside `b`'s working hours, in `a`'s zone; None when there is none.

    Both sides' working weekdays count (`b`'s in its own zone, whose date may differ from
    `d`); quiet dates do not. When two of `b`'s days touch `a`'s window, the earlier part.
    """
    mine = working_window(d, a)
    if mine is None:
        return None
    za = zone(a.timezone)
    b_first = local_date(mine[0], b.timezone)
    b_last = local_date(mine[1], b.timezone)
    day = b_first
    while day <= b_last:
        theirs = working_window(day, b)
        if theirs is not None:
            start, end = max(mine[0], theirs[0]), min(mine[1], theirs[1])
            if start < end:
                return start.astimezone(za), end.astimezone(za)
        day += _ONE_DAY
    return None


@lru_cache(maxsize=64)
def _sorted_dates(dates: frozenset[date]) -> tuple[date, ...]:
    return tuple(sorted(dates))


def business_days_between(
    first: date, last: date, work: WorkingTime, quiet: Set[date] = frozenset()
) -> int:
    """How many working days `d` there are with `first < d <= last` (0 when none)."""
    days = last.toordinal() - first.toordinal()
    if days <= 0:
        return 0
    weeks, rest = divmod(days, 7)
    count = weeks * len(work.days)
    weekday = first.weekday()
    count += sum(1 for i in range(1, rest + 1) if (weekday + i) % 7 in work.days)
    ordered = _sorted_dates(frozenset(quiet))
    lo, hi = bisect_right(ordered, first), bisect_left(ordered, last + _ONE_DAY)
    return count - sum(1 for q in ordered[lo:hi] if q.weekday() in work.days)
