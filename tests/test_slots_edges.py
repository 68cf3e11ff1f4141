"""Edge cases of the slot finder, each with the realistic case that needs it: busy lists
with empty entries, where the grid is anchored, windows that began the day before, the
autumn night, and a host whose own time zone is not the owner's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import pytest

from rules.model import WorkingTime
from rules.slots import find_slot
from tests.plan_world import NoOffset

BERLIN = ZoneInfo("Europe/Berlin")
OWNER = WorkingTime("Europe/Berlin", clock(9), clock(17))
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
MONDAY = datetime(2026, 3, 2, tzinfo=BERLIN)  # CET, UTC+1


def first(
    busy: list[tuple[datetime, datetime]],
    not_before: datetime,
    owner: WorkingTime = OWNER,
    days: int = 7,
    **kw: object,
) -> tuple[datetime, datetime] | None:
    return find_slot(
        busy,
        not_before=not_before,
        horizon_end=not_before + timedelta(days=days),
        duration=kw.pop("duration", 30 * MIN),  # type: ignore[arg-type]
        owner=owner,
        **kw,  # type: ignore[arg-type]
    )


# -- busy time ---------------------------------------------------------------------------


def test_an_empty_busy_interval_listed_first_does_not_hide_the_rest() -> None:
    # A cancelled meeting some calendars report as 10:00-10:00, before the real ones.
    cancelled = (MONDAY.replace(hour=10), MONDAY.replace(hour=10))
    workshop = (MONDAY.replace(hour=9), MONDAY.replace(hour=12))
    found = first([cancelled, workshop], MONDAY.replace(hour=9))
    assert found is not None and found[0] == MONDAY.replace(hour=12, minute=15)


def test_an_empty_busy_interval_blocks_nothing_not_even_its_buffer() -> None:
    cancelled = (MONDAY.replace(hour=9, minute=15), MONDAY.replace(hour=9, minute=15))
    found = first([cancelled], MONDAY.replace(hour=9))
    assert found is not None and found[0] == MONDAY.replace(hour=9)


# -- the grid ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "now",
    [
        MONDAY.replace(hour=10, second=30),  # the daemon's clock, seconds in
        MONDAY.replace(hour=10, microsecond=1),  # a microsecond past the hour
        MONDAY.replace(hour=10, second=30, microsecond=250_000),
    ],
)
def test_seconds_and_microseconds_of_now_round_up_to_the_next_quarter(now: datetime) -> None:
    found = first([], now)
    assert found is not None and found[0] == MONDAY.replace(hour=10, minute=15)


def test_a_step_that_does_not_divide_an_hour_counts_from_local_midnight() -> None:
    # 40-minute steps from 00:00: ..., 08:40, 09:20, 10:00, ...
    found = first([], MONDAY.replace(hour=9), step=40 * MIN)
    assert found is not None and found[0] == MONDAY.replace(hour=9, minute=20)
    busy = [(MONDAY.replace(hour=9), MONDAY.replace(hour=10, minute=5))]
    found = first(busy, MONDAY.replace(hour=9), step=40 * MIN, buffer=timedelta(0))
    assert found is not None and found[0] == MONDAY.replace(hour=10, minute=40)


def test_the_first_candidate_is_on_the_owners_grid_not_utcs() -> None:
    # Kolkata is UTC+05:30: hourly steps there fall on :30 in UTC.
    kolkata = WorkingTime("Asia/Kolkata", clock(9), clock(17))
    not_before = datetime(2026, 3, 2, 3, 40, tzinfo=UTC)  # 09:10 IST
    found = first([], not_before, kolkata, step=HOUR)
    assert found is not None and found[0] == datetime(2026, 3, 2, 4, 30, tzinfo=UTC)  # 10:00


# -- windows -----------------------------------------------------------------------------


def test_a_night_shift_that_began_the_previous_day() -> None:
    # Monday's night shift runs until Tuesday 06:00; at 02:00 on Tuesday it is still on.
    monday_nights = WorkingTime("Europe/Berlin", clock(22), clock(6), frozenset({0}))
    tuesday_2am = MONDAY.replace(day=3, hour=2)
    assert first([], tuesday_2am, monday_nights) == (tuesday_2am, tuesday_2am + 30 * MIN)


def test_working_hours_from_0900_to_0900_are_a_full_day() -> None:
    # On call for 24 hours from Monday 09:00.
    on_call = WorkingTime("Europe/Berlin", clock(9), clock(9), frozenset({0}))
    evening = MONDAY.replace(hour=20)
    assert first([], evening, on_call) == (evening, evening + 30 * MIN)
    early = MONDAY.replace(day=3, hour=8)  # Tuesday 08:00, the end of Monday's turn
    assert first([], early, on_call) == (early, early + 30 * MIN)


def test_the_autumn_night_second_0200_is_on_the_grid() -> None:
    # 25 October 2026: 03:00 CEST becomes 02:00 CET; 01:05 UTC is the second 02:05.
    nights = WorkingTime("Europe/Berlin", clock(22), clock(6), frozenset(range(7)))
    not_before = datetime(2026, 10, 25, 1, 5, tzinfo=UTC)
    found = first([], not_before, nights, days=1)
    assert found is not None
    assert found[0] == datetime(2026, 10, 25, 1, 15, tzinfo=UTC)  # 02:15 CET, not 03:00
    assert found[0].astimezone(BERLIN).fold == 1


# -- the host's own time zone plays no part ----------------------------------------------


@pytest.fixture
def host_zone() -> Iterator[None]:
    """Run with the process in another zone, as a server set to local time would be."""
    import os

    before = os.environ.get("TZ")
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.usefixtures("host_zone")
@pytest.mark.parametrize("host", ["Asia/Tokyo", "Pacific/Honolulu"])
def test_the_hosts_time_zone_does_not_move_the_slot(host: str) -> None:
    import os

    os.environ["TZ"] = host
    time.tzset()
    new_york = WorkingTime("America/New_York", clock(9), clock(17))
    # Monday 16:00 in New York is already Tuesday in Tokyo: Monday's last hour counts.
    not_before = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
    assert first([], not_before, new_york) == (not_before, not_before + 30 * MIN)
    # A horizon ending Tuesday 10:00 in Tokyo is still Monday in Honolulu.
    tokyo = WorkingTime("Asia/Tokyo", clock(9), clock(17))
    found = find_slot(
        [],
        not_before=datetime(2026, 3, 3, 0, 0, tzinfo=UTC),  # Tuesday 09:00 in Tokyo
        horizon_end=datetime(2026, 3, 3, 1, 0, tzinfo=UTC),  # Tuesday 10:00
        duration=30 * MIN,
        owner=tokyo,
    )
    assert found == (
        datetime(2026, 3, 3, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 3, 0, 30, tzinfo=UTC),
    )


# -- bad arguments: each says which one ---------------------------------------------------


def test_each_bad_argument_is_named() -> None:
    ok = MONDAY.replace(hour=9)
    naive = datetime(2026, 3, 2, 9)
    blind = datetime(2026, 3, 2, 9, tzinfo=NoOffset())
    end = ok + timedelta(days=1)

    def call(**kw: object) -> None:
        args: dict[str, object] = {
            "not_before": ok,
            "horizon_end": end,
            "duration": 30 * MIN,
            "owner": OWNER,
        }
        args.update(kw)
        busy = args.pop("busy", [])
        find_slot(busy, **args)  # type: ignore[arg-type]

    cases: list[tuple[dict[str, object], str]] = [
        ({"not_before": naive}, "not_before must be timezone-aware"),
        ({"not_before": blind}, "not_before must be timezone-aware"),
        ({"horizon_end": naive}, "horizon_end must be timezone-aware"),
        ({"busy": [(naive, ok)]}, "busy start must be timezone-aware"),
        ({"busy": [(ok, naive)]}, "busy end must be timezone-aware"),
        ({"duration": timedelta(0)}, "duration must be positive"),
        ({"step": -MIN}, "step must be positive"),
        ({"buffer": -MIN}, "buffer must not be negative"),
    ]
    for kw, message in cases:
        with pytest.raises(ValueError) as info:
            call(**kw)
        assert str(info.value) == message
