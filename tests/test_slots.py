"""The slot finder for calendar holds: working hours, busy time, contacts' hours, DST."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.model import WorkingTime
from rules.slots import find_slot

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
OWNER = WorkingTime("Europe/Berlin", clock(9), clock(17))
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def slot(
    busy: list[tuple[datetime, datetime]] | None = None,
    *,
    not_before: datetime,
    duration: timedelta = 30 * MIN,
    owner: WorkingTime = OWNER,
    contact: WorkingTime | None = None,
    buffer: timedelta = 15 * MIN,
    quiet_dates: frozenset[date] = frozenset(),
    step: timedelta = 15 * MIN,
) -> tuple[datetime, datetime] | None:
    """A slot within two weeks of `not_before`."""
    return find_slot(
        busy or [],
        not_before=not_before,
        horizon_end=not_before + timedelta(days=14),
        duration=duration,
        owner=owner,
        contact=contact,
        buffer=buffer,
        quiet_dates=quiet_dates,
        step=step,
    )


def start(
    busy: list[tuple[datetime, datetime]] | None = None,
    *,
    not_before: datetime,
    owner: WorkingTime = OWNER,
    contact: WorkingTime | None = None,
    buffer: timedelta = 15 * MIN,
    quiet_dates: frozenset[date] = frozenset(),
) -> datetime:
    """The start of the slot, which must exist."""
    found = slot(
        busy,
        not_before=not_before,
        owner=owner,
        contact=contact,
        buffer=buffer,
        quiet_dates=quiet_dates,
    )
    assert found is not None
    return found[0]


# 2026-03-02 is a Monday; Berlin is on CET (UTC+1) until 2026-03-29.
MONDAY_8 = berlin(2026, 3, 2, 8, 0)


def test_first_slot_is_the_start_of_the_working_day_in_utc() -> None:
    found = slot(not_before=MONDAY_8)
    assert found == (
        datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 8, 30, tzinfo=UTC),
    )
    assert found[0].tzinfo is UTC


def test_not_before_is_rounded_up_to_the_step() -> None:
    assert start(not_before=berlin(2026, 3, 2, 10, 7)) == berlin(2026, 3, 2, 10, 15)
    assert start(not_before=berlin(2026, 3, 2, 10, 15)) == berlin(2026, 3, 2, 10, 15)
    found = slot(not_before=berlin(2026, 3, 2, 10, 1), step=HOUR)
    assert found is not None and found[0] == berlin(2026, 3, 2, 11)


def test_busy_time_is_kept_apart_by_the_buffer() -> None:
    busy = [(berlin(2026, 3, 2, 9), berlin(2026, 3, 2, 10))]
    assert start(busy, not_before=MONDAY_8) == berlin(2026, 3, 2, 10, 15)
    assert start(busy, not_before=MONDAY_8, buffer=timedelta(0)) == berlin(2026, 3, 2, 10)
    # a gap of exactly duration + 2 * buffer between two meetings fits
    busy.append((berlin(2026, 3, 2, 11), berlin(2026, 3, 2, 12)))
    found = slot(busy, not_before=MONDAY_8, duration=30 * MIN)
    assert found == (berlin(2026, 3, 2, 10, 15), berlin(2026, 3, 2, 10, 45))
    found = slot(busy, not_before=MONDAY_8, duration=31 * MIN)
    assert found is not None and found[0] == berlin(2026, 3, 2, 12, 15)


def test_busy_intervals_may_be_unsorted_overlapping_and_in_any_zone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    busy = [
        (berlin(2026, 3, 2, 13), berlin(2026, 3, 2, 17)),
        (datetime(2026, 3, 2, 17, 0, tzinfo=tokyo), datetime(2026, 3, 2, 19, 30, tzinfo=tokyo)),
        (datetime(2026, 3, 2, 9, 30, tzinfo=UTC), datetime(2026, 3, 2, 12, 5, tzinfo=UTC)),
        (berlin(2026, 3, 2, 10), berlin(2026, 3, 2, 11)),
        (berlin(2026, 3, 2, 12), berlin(2026, 3, 2, 11)),  # reversed: ignored
        (berlin(2026, 3, 2, 16), berlin(2026, 3, 2, 16)),  # empty: ignored
    ]
    # busy 09:00-11:30 (Tokyo) and 10:30-13:05 and 13:00-17:00 Berlin: Monday is full
    assert start(busy, not_before=MONDAY_8) == berlin(2026, 3, 3, 9)


def test_weekends_and_quiet_dates_are_skipped() -> None:
    friday_evening = berlin(2026, 3, 6, 16, 45)
    assert start(not_before=friday_evening) == berlin(2026, 3, 9, 9)
    quiet = frozenset({date(2026, 3, 9), date(2026, 3, 10)})
    assert start(not_before=friday_evening, quiet_dates=quiet) == berlin(2026, 3, 11, 9)
    weekend_worker = WorkingTime("Europe/Berlin", clock(9), clock(17), frozenset({5, 6}))
    assert start(not_before=MONDAY_8, owner=weekend_worker) == berlin(2026, 3, 7, 9)


def test_the_slot_ends_by_the_horizon() -> None:
    end = berlin(2026, 3, 2, 9, 30)
    found = find_slot([], not_before=MONDAY_8, horizon_end=end, duration=30 * MIN, owner=OWNER)
    assert found == (berlin(2026, 3, 2, 9), end)
    assert (
        find_slot([], not_before=MONDAY_8, horizon_end=end - MIN, duration=30 * MIN, owner=OWNER)
        is None
    )


def test_no_slot_when_the_horizon_is_full_or_the_hold_longer_than_a_day() -> None:
    busy = [(MONDAY_8, MONDAY_8 + timedelta(days=14))]
    assert slot(busy, not_before=MONDAY_8) is None
    assert slot(not_before=MONDAY_8, duration=8 * HOUR + MIN) is None
    assert slot(not_before=MONDAY_8, duration=8 * HOUR) == (
        berlin(2026, 3, 2, 9),
        berlin(2026, 3, 2, 17),
    )


def test_prefers_the_contacts_working_hours() -> None:
    # Before 2026-03-08 New York is UTC-5: 09:00 there is 15:00 in Berlin.
    contact = WorkingTime("America/New_York", clock(9), clock(17))
    assert start(not_before=MONDAY_8, contact=contact) == berlin(2026, 3, 2, 15)
    busy = [(berlin(2026, 3, 2, 14), berlin(2026, 3, 2, 16, 30))]
    # 16:45 would end at 17:15: after the owner's day; Tuesday 15:00 it is
    assert start(busy, not_before=MONDAY_8, contact=contact) == berlin(2026, 3, 3, 15)


def test_falls_back_to_owner_hours_when_no_shared_hours_exist() -> None:
    tokyo_worker = WorkingTime("Asia/Tokyo", clock(18), clock(20))  # 10:00-12:00 Berlin
    assert start(not_before=MONDAY_8, contact=tokyo_worker) == berlin(2026, 3, 2, 10)
    night_owl = WorkingTime("America/Los_Angeles", clock(22), clock(23))  # 07:00-08:00 Berlin
    assert start(not_before=MONDAY_8, contact=night_owl) == berlin(2026, 3, 2, 9)
    unknown = WorkingTime("Mars/Olympus_Mons", clock(9), clock(10))
    assert start(not_before=MONDAY_8, contact=unknown) == berlin(2026, 3, 2, 9)


def test_contact_hours_follow_their_own_dst_change() -> None:
    # New York moves to UTC-4 on 2026-03-08, Berlin only on 2026-03-29.
    contact = WorkingTime("America/New_York", clock(9), clock(17))
    assert start(not_before=berlin(2026, 3, 9, 8), contact=contact) == berlin(2026, 3, 9, 14)
    assert start(not_before=berlin(2026, 3, 30, 8), contact=contact) == berlin(2026, 3, 30, 15)


def test_owner_hours_follow_dst() -> None:
    friday = slot(not_before=berlin(2026, 3, 27, 8))
    monday = slot(not_before=berlin(2026, 3, 28, 8))
    assert friday is not None and monday is not None
    assert friday[0] == datetime(2026, 3, 27, 8, tzinfo=UTC)  # 09:00 CET
    assert monday[0] == datetime(2026, 3, 30, 7, tzinfo=UTC)  # 09:00 CEST
    autumn = slot(not_before=berlin(2026, 10, 24, 8))  # Saturday; clocks go back on Sunday
    assert autumn is not None and autumn[0] == datetime(2026, 10, 26, 8, tzinfo=UTC)


def test_a_night_shift_is_an_hour_longer_when_the_clocks_go_back() -> None:
    nights = WorkingTime("Europe/Berlin", clock(22), clock(6), frozenset(range(7)))
    long_hold = 8 * HOUR + 30 * MIN
    found = slot(not_before=berlin(2026, 10, 20, 12), owner=nights, duration=long_hold)
    # 22:00 Saturday 24 October to 06:00 Sunday is nine hours long
    start = berlin(2026, 10, 24, 22).astimezone(UTC)  # in UTC: aware arithmetic is wall time
    assert found == (start, start + long_hold)
    found = slot(not_before=berlin(2026, 10, 20, 12), owner=nights, duration=8 * HOUR)
    assert found == (berlin(2026, 10, 20, 22), berlin(2026, 10, 21, 6))


def test_the_grid_is_counted_in_the_owners_zone() -> None:
    kolkata = WorkingTime("Asia/Kolkata", clock(9), clock(17))  # UTC+05:30
    found = find_slot(
        [(datetime(2026, 3, 2, 3, 30, tzinfo=UTC), datetime(2026, 3, 2, 4, 10, tzinfo=UTC))],
        not_before=datetime(2026, 3, 2, 3, 10, tzinfo=UTC),
        horizon_end=datetime(2026, 3, 9, tzinfo=UTC),
        duration=30 * MIN,
        owner=kolkata,
        buffer=timedelta(0),
        step=HOUR,
    )
    # busy until 09:40 IST; the next full hour on the Kolkata wall clock is 10:00 IST
    assert found is not None and found[0] == datetime(2026, 3, 2, 4, 30, tzinfo=UTC)


def test_bad_arguments_are_refused() -> None:
    naive = datetime(2026, 3, 2, 9)
    with pytest.raises(ValueError, match="timezone-aware"):
        slot(not_before=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        slot([(naive, naive + HOUR)], not_before=MONDAY_8)
    with pytest.raises(ValueError, match="duration"):
        slot(not_before=MONDAY_8, duration=timedelta(0))
    with pytest.raises(ValueError, match="step"):
        slot(not_before=MONDAY_8, step=timedelta(0))
    with pytest.raises(ValueError, match="unknown time zone"):
        slot(not_before=MONDAY_8, owner=WorkingTime("Nowhere/Land", clock(9), clock(17)))


def test_thirty_days_with_two_thousand_busy_intervals() -> None:
    """The case bench/slots.py times; here only the answer is checked (no clock: a shared
    machine under load makes any time limit flaky)."""
    rng = random.Random(7)
    origin = datetime(2026, 3, 1, tzinfo=UTC)
    busy = []
    for _ in range(2000):
        begin = origin + timedelta(minutes=rng.randrange(0, 30 * 24 * 60, 5))
        busy.append((begin, begin + timedelta(minutes=rng.choice([15, 30, 45, 60, 90]))))
    contact = WorkingTime("America/New_York", clock(9), clock(17))
    found = find_slot(
        busy,
        not_before=origin,
        horizon_end=origin + timedelta(days=30),
        duration=HOUR,
        owner=OWNER,
        contact=contact,
    )
    assert found is None or not any(
        b - 15 * MIN < found[1] and found[0] < e + 15 * MIN for b, e in busy
    )


# --- against a brute-force search --------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
# days around 2026's DST changes in Europe, North America and Lord Howe Island
BASES = [
    datetime(2026, m, d, tzinfo=UTC)
    for m, d in [(3, 6), (3, 27), (4, 3), (10, 2), (10, 23), (10, 30)]
]


def _inside(
    moment: datetime, end: datetime, work: WorkingTime | None, quiet: frozenset[date]
) -> bool:
    assert work is not None
    zone = ZoneInfo(work.timezone)
    local_start, local_end = moment.astimezone(zone), end.astimezone(zone)
    return (
        local_start.weekday() in work.days
        and local_start.date() not in quiet
        and local_end.date() == local_start.date()
        and work.start <= local_start.time()
        and local_end.time() <= work.end
    )


@dataclass(frozen=True)
class Problem:
    busy: list[tuple[datetime, datetime]]
    not_before: datetime
    horizon_end: datetime
    duration: timedelta
    owner: WorkingTime
    contact: WorkingTime | None
    buffer: timedelta
    quiet: frozenset[date]
    step: timedelta


def brute_force(p: Problem) -> tuple[datetime, datetime] | None:
    """Try every 5 minutes (a multiple of every zone's offset) and check everything."""
    zone = ZoneInfo(p.owner.timezone)
    step_minutes = p.step // MIN

    def first(with_contact: bool) -> tuple[datetime, datetime] | None:
        t = p.not_before.replace(minute=p.not_before.minute - p.not_before.minute % 5, second=0)
        while t + p.duration <= p.horizon_end:
            local = t.astimezone(zone)
            on_grid = (local.hour * 60 + local.minute) % step_minutes == 0
            end = t + p.duration
            if (
                t >= p.not_before
                and on_grid
                and _inside(t, end, p.owner, p.quiet)
                and (not with_contact or _inside(t, end, p.contact, frozenset()))
                and not any(b - p.buffer < end and t < e + p.buffer for b, e in p.busy)
            ):
                return t, end
            t += 5 * MIN
        return None

    return (first(True) if p.contact else None) or first(False)


def working_times(draw: st.DrawFn) -> WorkingTime:
    start = draw(st.integers(6 * 4, 14 * 4)) * 15
    end = draw(st.integers(start // 15 + 2, 22 * 4)) * 15
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    return WorkingTime(
        draw(st.sampled_from(ZONES)),
        clock(start // 60, start % 60),
        clock(end // 60, end % 60),
        days,
    )


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    not_before = draw(st.sampled_from(BASES)) + timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
    busy = []
    for _ in range(draw(st.integers(0, 25))):
        begin = not_before + timedelta(minutes=draw(st.integers(-120, 6 * 24 * 60)))
        busy.append((begin, begin + timedelta(minutes=draw(st.integers(1, 600)))))
    quiet = frozenset(
        (not_before + timedelta(days=d)).date()
        for d in draw(st.sets(st.integers(0, 6), max_size=2))
    )
    return Problem(
        busy=busy,
        not_before=not_before,
        horizon_end=not_before + timedelta(days=draw(st.integers(1, 6))),
        duration=timedelta(minutes=draw(st.sampled_from([15, 30, 45, 60, 90, 150]))),
        owner=working_times(draw),
        contact=working_times(draw) if draw(st.booleans()) else None,
        buffer=timedelta(minutes=draw(st.sampled_from([0, 10, 15]))),
        quiet=quiet,
        step=timedelta(minutes=draw(st.sampled_from([15, 30]))),
    )


@given(problems())
def test_agrees_with_a_brute_force_search(p: Problem) -> None:
    found = find_slot(
        p.busy,
        not_before=p.not_before,
        horizon_end=p.horizon_end,
        duration=p.duration,
        owner=p.owner,
        contact=p.contact,
        buffer=p.buffer,
        quiet_dates=p.quiet,
        step=p.step,
    )
    assert found == brute_force(p)
