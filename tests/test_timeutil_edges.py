"""Edge cases of the time helpers and the triggers, each with the realistic case that
needs it: the boundaries that a flipped comparison or an off-by-one would move."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules.model import (
    ContactDate,
    ContactSnap,
    ExistingAction,
    OwnerInfo,
    RuleSpec,
    SentMail,
    Snapshot,
    WorkingTime,
)
from rules.plan import plan
from rules.timeutil import (
    add_business_days,
    business_days_between,
    clamp_to_working,
    local_date,
    next_working_start,
    overlap_window,
    wall,
    working_window,
)
from rules.triggers import next_occurrence, occurrence_in
from tests.plan_world import NoOffset, host_zone

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN_WORK = WorkingTime("Europe/Berlin", time(9), time(17, 30))
OWNER = OwnerInfo(
    "Alex Morgan",
    "alex@example.com",
    frozenset({"alex@example.com"}),
    frozenset({"example.com"}),
    BERLIN_WORK,
)
PRIYA = ContactSnap(id=1, name="Priya Raman", email="priya@acme.test", two_way=True)
CADENCE = RuleSpec("keep-in-touch", "cadence", "draft")
NO_REPLY = RuleSpec("no-reply", "no_reply", "draft", business_days=3)
DATES = RuleSpec("dates", "date", "draft", after_days=3)


def berlin(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


# -- business_days_between -----------------------------------------------------------------

MON, TUE, FRI = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 27)


@pytest.mark.parametrize(
    ("first", "last", "quiet", "expected"),
    [
        (MON, TUE, frozenset(), 1),  # the next day is one business day
        (MON, MON, frozenset(), 0),
        (FRI, date(2026, 11, 30), frozenset(), 1),  # over the weekend: Monday only
        (MON, FRI, frozenset(), 4),
        (MON, FRI, frozenset({FRI}), 3),  # a quiet Friday at the end of the span
        (MON, FRI, frozenset({MON}), 4),  # the first day is not counted anyway
        (MON, FRI, frozenset({date(2026, 11, 28)}), 4),  # a quiet Saturday changes nothing
        (MON, date(2026, 12, 8), frozenset(), 11),  # two weeks and a day
    ],
)
def test_business_days_between(
    first: date, last: date, quiet: frozenset[date], expected: int
) -> None:
    assert business_days_between(first, last, BERLIN_WORK, quiet) == expected


# -- wall and working_window at the daylight-saving changes ---------------------------------


def test_an_ambiguous_wall_time_is_its_first_occurrence() -> None:
    # 02:30 on 25 Oct 2026 happens twice in Berlin: first on summer time (00:30 UTC).
    first = wall(date(2026, 10, 25), time(2, 30), BERLIN)
    # (an ambiguous local time never equals an instant in another zone: compare in UTC)
    assert first.astimezone(ZoneInfo("UTC")) == datetime(
        2026, 10, 25, 0, 30, tzinfo=ZoneInfo("UTC")
    )
    assert first.utcoffset() == timedelta(hours=2)


def test_hours_inside_the_spring_gap_are_no_working_window() -> None:
    # A 02:00-03:00 night shift: on 29 Mar 2026 02:00 does not exist (it is 03:00), so
    # that night has no working time at all; the night before it has its hour.
    night = WorkingTime("Europe/Berlin", time(2), time(3), frozenset(range(7)))
    assert working_window(date(2026, 3, 29), night) is None
    assert working_window(date(2026, 3, 28), night) == (berlin(3, 28, 2), berlin(3, 28, 3))


# -- overlap_window ------------------------------------------------------------------------


def test_the_overlap_on_the_contacts_earlier_local_date() -> None:
    # A Tokyo owner (09:00-17:00) and a Los Angeles contact (09:00-17:00, PST, UTC-8):
    # Tokyo's Tuesday 09:00-10:00 is still Monday 16:00-17:00 in Los Angeles.
    tokyo = WorkingTime("Asia/Tokyo", time(9), time(17))
    los_angeles = WorkingTime("America/Los_Angeles", time(9), time(17))
    window = overlap_window(date(2026, 12, 1), tokyo, los_angeles)
    assert window == (
        datetime(2026, 12, 1, 9, tzinfo=TOKYO),
        datetime(2026, 12, 1, 10, tzinfo=TOKYO),
    )
    assert window is not None and window[0].tzinfo == window[1].tzinfo == TOKYO  # a's zone


# -- dates -----------------------------------------------------------------------------------


def test_a_birthday_just_after_new_year_is_planned_in_december() -> None:
    c = ContactSnap(
        id=1, name="Priya Raman", email="priya@acme.test", dates=(ContactDate("birthday", 1, 2),)
    )
    p = plan(Snapshot(OWNER, {1: c}), berlin(12, 30, 10), [DATES])
    assert [a.key for a in p.actions] == ["dates:1:birthday:2027-01-02"]
    assert next_occurrence(ContactDate("birthday", 1, 2), date(2026, 12, 30)) == date(2027, 1, 2)
    assert next_occurrence(ContactDate("birthday", 12, 30), date(2026, 12, 30)) == date(
        2026, 12, 30
    )


@pytest.mark.parametrize(
    ("year", "day"),
    [(2024, 29), (2026, 28), (2096, 29), (2100, 28), (2000, 29), (1900, 28)],
)
def test_feb_29_follows_the_gregorian_leap_year_rule(year: int, day: int) -> None:
    # 2100 is divisible by 4 but not a leap year; 2000 was one (divisible by 400).
    assert occurrence_in(ContactDate("birthday", 2, 29), year) == date(year, 2, day)


def test_a_date_that_cannot_exist_has_no_occurrence() -> None:
    assert occurrence_in(ContactDate("custom", 4, 31, label="Typo"), 2026) is None
    assert next_occurrence(ContactDate("custom", 4, 31), date(2026, 1, 1)) is None


# -- cadence at the minute it runs out --------------------------------------------------------


@pytest.mark.parametrize(
    ("last", "due"),
    [
        (berlin(11, 10, 8, 0), True),  # ran out at 08:00 today: planned at 10:00
        (berlin(11, 10, 10, 0), True),  # runs out this very minute
        (berlin(11, 10, 10, 1), False),  # a minute from now
        (berlin(11, 9, 23, 0), True),  # ran out yesterday evening
    ],
)
def test_a_cadence_that_ran_out_earlier_today_is_planned(last: datetime, due: bool) -> None:
    c = ContactSnap(
        id=1, name="Priya Raman", email="p@acme.test", cadence_days=14, last_interaction_at=last
    )
    p = plan(Snapshot(OWNER, {1: c}), berlin(11, 24, 10, 0), [CADENCE])
    expected = [f"keep-in-touch:1:{(last + timedelta(days=14)).date().isoformat()}"]
    assert [a.key for a in p.actions] == (expected if due else [])


# -- withdrawals -------------------------------------------------------------------------------


def test_withdrawals_after_an_action_whose_rule_left_the_config_are_not_lost() -> None:
    now = berlin(11, 24, 10)
    mail = SentMail(
        1,
        "mid:offer@x",
        "offer@x",
        (),
        "Offer",
        None,
        None,
        "work",
        berlin(11, 10, 9),
        answered_at=berlin(11, 20, 9),
    )
    actions = (
        # first in the outbox: a rule removed from the config, and a forgotten contact
        ExistingAction("old-rule:1:x", "old-rule", "draft", 1, "planned", now, now),
        ExistingAction("no-reply:9:mid:a@x", "no-reply", "draft", 9, "planned", now, now),
        ExistingAction("no-reply:1:mid:offer@x", "no-reply", "draft", 1, "created", now, now),
    )
    s = Snapshot(OWNER, {1: PRIYA}, sent=(mail,), actions=actions)
    p = plan(s, now, [NO_REPLY])
    assert [(w.key, w.reason) for w in p.withdrawals] == [
        ("no-reply:1:mid:offer@x", "Priya Raman replied on 20 Nov")
    ]


# -- clamp_to_working and the errors ----------------------------------------------------------


def test_clamp_in_tokyo_at_0830_when_utc_is_still_the_day_before() -> None:
    # 08:30 on Tuesday in Tokyo is 23:30 on Monday in UTC: the Tokyo date decides.
    early = WorkingTime("Asia/Tokyo", time(8), time(17))
    tuesday = datetime(2026, 12, 1, 8, 30, tzinfo=TOKYO)
    assert clamp_to_working(tuesday, early) == tuesday


def test_clamp_after_hours_on_friday_skips_a_quiet_monday() -> None:
    friday_evening = berlin(11, 20, 18)
    quiet = frozenset({date(2026, 11, 23)})
    assert clamp_to_working(friday_evening, BERLIN_WORK, quiet) == berlin(11, 24, 9)


NAIVE = datetime(2026, 11, 24, 10, 0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: local_date(NAIVE, "UTC"),
            "local_date(dt) must be timezone-aware, got 2026-11-24T10:00:00",
        ),
        (
            lambda: add_business_days(NAIVE, 1, BERLIN_WORK),
            "add_business_days(start) must be timezone-aware, got 2026-11-24T10:00:00",
        ),
        (
            lambda: add_business_days(berlin(11, 24), -2, BERLIN_WORK),
            "add_business_days: n must be >= 0, got -2",
        ),
        (
            lambda: next_working_start(NAIVE, BERLIN_WORK),
            "next_working_start(after) must be timezone-aware, got 2026-11-24T10:00:00",
        ),
        (
            lambda: clamp_to_working(NAIVE, BERLIN_WORK),
            "clamp_to_working(dt) must be timezone-aware, got 2026-11-24T10:00:00",
        ),
        (
            lambda: add_business_days(berlin(11, 24), 1, replace(BERLIN_WORK, days=frozenset())),
            "working time in Europe/Berlin has no working days",
        ),
        (
            lambda: plan(Snapshot(OWNER, {}), NAIVE, [CADENCE]),
            "plan(now) must be timezone-aware, got 2026-11-24T10:00:00",
        ),
        (
            lambda: plan(Snapshot(OWNER, {}), berlin(11, 24), [CADENCE, CADENCE]),
            "rule names must be unique: ['keep-in-touch', 'keep-in-touch']",
        ),
        (
            lambda: plan(
                Snapshot(replace(OWNER, work=replace(BERLIN_WORK, days=frozenset())), {}),
                berlin(11, 24),
                [CADENCE],
            ),
            "the owner has no working days: nothing could ever be due",
        ),
    ],
)
def test_each_error_says_what_is_wrong(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value) == message


# -- what mutation testing found unpinned ----------------------------------------------------


def test_a_time_read_off_the_second_occurrence_still_means_the_first() -> None:
    # 02:30 CET on 25 Oct 2026 (01:30 UTC) is the repeated hour: its .time() has fold=1.
    # A wall time built from it is the first 02:30 all the same, as `wall` documents.
    second = datetime(2026, 10, 25, 1, 30, tzinfo=ZoneInfo("UTC")).astimezone(BERLIN)
    assert second.fold == 1
    first = wall(date(2026, 10, 25), second.time(), BERLIN)
    assert first.utcoffset() == timedelta(hours=2)
    assert first.astimezone(ZoneInfo("UTC")) == datetime(
        2026, 10, 25, 0, 30, tzinfo=ZoneInfo("UTC")
    )


def test_the_next_start_is_counted_on_the_owners_date_not_the_hosts() -> None:
    # Monday 06:00 in Honolulu is already Tuesday 01:00 in Tokyo: the owner's Monday
    # 09:00 is still ahead.
    honolulu = ZoneInfo("Pacific/Honolulu")
    work = WorkingTime("Pacific/Honolulu", time(9), time(17))
    monday_early = datetime(2026, 11, 23, 6, 0, tzinfo=honolulu)
    with host_zone("Asia/Tokyo"):
        assert next_working_start(monday_early, work) == datetime(2026, 11, 23, 9, tzinfo=honolulu)


def test_a_datetime_whose_zone_has_no_offset_counts_as_naive() -> None:
    blind = datetime(2026, 11, 24, 10, 0, tzinfo=NoOffset())
    with pytest.raises(ValueError, match="must be timezone-aware"):
        local_date(blind, "UTC")
    with pytest.raises(ValueError, match="must be timezone-aware"):
        next_working_start(blind, BERLIN_WORK)


def test_plan_refuses_a_now_whose_zone_has_no_offset() -> None:
    blind = datetime(2026, 11, 24, 10, 0, tzinfo=NoOffset())
    with pytest.raises(ValueError, match="must be timezone-aware"):
        plan(Snapshot(OWNER, {1: PRIYA}), blind, [CADENCE])
