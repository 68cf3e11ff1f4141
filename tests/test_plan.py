"""The rules engine: time helpers, every rule kind, every constraint, withdrawals, and
properties over random snapshots. The clock is always injected (`now`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.model import (
    OPEN_STATES,
    ActionState,
    ContactDate,
    ContactSnap,
    ExistingAction,
    Limits,
    MeetingSnap,
    OwnerInfo,
    Plan,
    PlannedAction,
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
    is_working_day,
    local_date,
    next_working_start,
    overlap_window,
    wall,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
AUCKLAND = ZoneInfo("Pacific/Auckland")

OWNER_WORK = WorkingTime("Europe/Berlin", time(9), time(17, 30))
NY_WORK = WorkingTime("America/New_York", time(9), time(17))
TOKYO_WORK = WorkingTime("Asia/Tokyo", time(9), time(17))


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def owner(quiet: frozenset[date] = frozenset(), work: WorkingTime = OWNER_WORK) -> OwnerInfo:
    return OwnerInfo(
        name="Alex Morgan",
        address="alex@example.com",
        addresses=frozenset({"alex@example.com"}),
        domains=frozenset({"example.com"}),
        work=work,
        quiet_dates=quiet,
    )


def priya(**changes: object) -> ContactSnap:
    base = ContactSnap(id=1, name="Priya Raman", email="priya@acme.test", two_way=True)
    return replace(base, **changes)  # type: ignore[arg-type]


def snap(*contacts: ContactSnap, **kw: object) -> Snapshot:
    kw.setdefault("owner", owner())
    kw.setdefault("default_account", "work")
    return Snapshot(contacts={c.id: c for c in contacts}, **kw)  # type: ignore[arg-type]


def sent(contact_id: int = 1, at: datetime | None = None, **kw: object) -> SentMail:
    base = SentMail(
        contact_id=contact_id,
        message_key="mid:proposal@example.com",
        message_id="proposal@example.com",
        references=("start@acme.test",),
        subject="Proposal for Q1",
        thread_key="start@acme.test",
        thread_id="gmail-thread-7",
        account="work-gmail",
        sent_at=at or berlin(2026, 11, 17, 15, 0),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def meeting(contact_id: int = 1, end: datetime | None = None, **kw: object) -> MeetingSnap:
    end = end or berlin(2026, 11, 20, 16, 0)
    base = MeetingSnap(
        contact_id=contact_id,
        meeting_key="ical:kickoff@acme.test|",
        subject="Project kickoff",
        start=end - timedelta(hours=1),
        end=end,
        account="work-gmail",
        external=True,
        emailed_after=False,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def existing(
    key: str, rule: str, state: str = "planned", due: datetime | None = None, **kw: object
) -> ExistingAction:
    at = due or berlin(2026, 11, 20, 9, 0)
    base = ExistingAction(
        key=key,
        rule=rule,
        kind="draft",
        contact_id=1,
        state=state,  # type: ignore[arg-type]
        due_at=at,
        created_at=at,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


CADENCE = RuleSpec("keep-in-touch", "cadence", "draft")
NO_REPLY = RuleSpec("no-reply", "no_reply", "draft", business_days=3)
AFTER_MEETING = RuleSpec("thanks", "after_meeting", "draft")
DORMANT = RuleSpec("wake-up", "dormant", "hold", after_days=90, duration_minutes=25)
DATES = RuleSpec("dates", "date", "draft", after_days=3)
ALL_RULES = (CADENCE, NO_REPLY, AFTER_MEETING, DORMANT, DATES)


def only(p: Plan) -> PlannedAction:
    assert len(p.actions) == 1, [a.key for a in p.actions]
    return p.actions[0]


def keys(p: Plan) -> list[str]:
    return [a.key for a in p.actions]


# -- timeutil ----------------------------------------------------------------------------


def test_local_date_is_the_date_in_that_zone() -> None:
    instant = datetime(2026, 12, 9, 23, 30, tzinfo=UTC)
    assert local_date(instant, "Europe/Berlin") == date(2026, 12, 10)
    assert local_date(instant, NEW_YORK) == date(2026, 12, 9)
    with pytest.raises(ValueError):
        local_date(datetime(2026, 12, 9, 23, 30), "UTC")


def test_working_days_skip_weekends_and_quiet_dates() -> None:
    quiet = frozenset({date(2026, 11, 23)})
    assert is_working_day(date(2026, 11, 20), OWNER_WORK, quiet)  # Friday
    assert not is_working_day(date(2026, 11, 21), OWNER_WORK, quiet)  # Saturday
    assert not is_working_day(date(2026, 11, 23), OWNER_WORK, quiet)  # quiet Monday
    assert is_working_day(date(2026, 11, 23), OWNER_WORK)


def test_add_business_days_over_a_weekend_and_a_quiet_date() -> None:
    friday = berlin(2026, 11, 20, 17, 0)
    assert add_business_days(friday, 3, OWNER_WORK) == berlin(2026, 11, 25, 17, 0)
    quiet = frozenset({date(2026, 11, 23)})
    assert add_business_days(friday, 3, OWNER_WORK, quiet) == berlin(2026, 11, 26, 17, 0)
    saturday = berlin(2026, 11, 21, 10, 0)
    assert add_business_days(saturday, 1, OWNER_WORK) == berlin(2026, 11, 23, 10, 0)
    assert add_business_days(friday, 0, OWNER_WORK) == friday
    with pytest.raises(ValueError):
        add_business_days(friday, -1, OWNER_WORK)


@pytest.mark.parametrize(
    ("start", "expected_utc"),
    [
        # Spring forward (29 Mar): 10:00 CET is 09:00 UTC, 10:00 CEST is 08:00 UTC.
        (berlin(2026, 3, 27, 10, 0), datetime(2026, 3, 30, 8, 0, tzinfo=UTC)),
        # Fall back (25 Oct): 10:00 CEST is 08:00 UTC, 10:00 CET is 09:00 UTC.
        (berlin(2026, 10, 23, 10, 0), datetime(2026, 10, 26, 9, 0, tzinfo=UTC)),
    ],
)
def test_add_business_days_keeps_the_local_time_across_dst(
    start: datetime, expected_utc: datetime
) -> None:
    result = add_business_days(start.astimezone(UTC), 1, OWNER_WORK)
    assert result == expected_utc
    assert result.astimezone(BERLIN).time() == time(10, 0)


def test_next_working_start() -> None:
    assert next_working_start(berlin(2026, 11, 24, 7, 0), OWNER_WORK) == berlin(2026, 11, 24, 9)
    assert next_working_start(berlin(2026, 11, 24, 9, 0), OWNER_WORK) == berlin(2026, 11, 25, 9)
    assert next_working_start(berlin(2026, 11, 20, 18, 0), OWNER_WORK) == berlin(2026, 11, 23, 9)
    quiet = frozenset({date(2026, 11, 23)})
    assert next_working_start(berlin(2026, 11, 20, 18), OWNER_WORK, quiet) == berlin(
        2026, 11, 24, 9
    )
    # Over the October change: Monday 09:00 is 08:00 UTC (it was 07:00 UTC on Friday).
    monday = next_working_start(berlin(2026, 10, 23, 18, 0), OWNER_WORK)
    assert monday == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)
    assert monday.astimezone(BERLIN).hour == 9


def test_next_working_start_needs_working_days() -> None:
    with pytest.raises(ValueError, match="no working days"):
        next_working_start(berlin(2026, 11, 20), replace(OWNER_WORK, days=frozenset()))


def test_clamp_to_working() -> None:
    inside = berlin(2026, 11, 24, 11, 15)
    assert clamp_to_working(inside, OWNER_WORK) == inside
    assert clamp_to_working(berlin(2026, 11, 24, 9, 0), OWNER_WORK) == berlin(2026, 11, 24, 9)
    assert clamp_to_working(berlin(2026, 11, 24, 17, 30), OWNER_WORK) == berlin(2026, 11, 25, 9)
    assert clamp_to_working(berlin(2026, 11, 21, 11, 0), OWNER_WORK) == berlin(2026, 11, 23, 9)
    quiet = frozenset({date(2026, 11, 24)})
    assert clamp_to_working(inside, OWNER_WORK, quiet) == berlin(2026, 11, 25, 9)


def test_wall_time_in_the_spring_gap_moves_forward() -> None:
    assert wall(date(2026, 3, 29), time(2, 30), BERLIN) == berlin(2026, 3, 29, 3, 30)
    assert wall(date(2026, 3, 29), time(2, 30), BERLIN).utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    ("day", "start_hour"),
    [
        (date(2026, 3, 2), 15),  # both on winter time: 6 hours apart
        (date(2026, 3, 16), 14),  # New York already on summer time (8 Mar), Berlin not yet
        (date(2026, 3, 30), 15),  # both on summer time
        (date(2026, 10, 27), 14),  # Berlin back on winter time (25 Oct), New York not yet
        (date(2026, 11, 3), 15),  # both on winter time again (New York 1 Nov)
    ],
)
def test_overlap_with_new_york_follows_both_dst_dates(day: date, start_hour: int) -> None:
    window = overlap_window(day, OWNER_WORK, NY_WORK)
    assert window == (
        datetime.combine(day, time(start_hour), tzinfo=BERLIN),
        datetime.combine(day, time(17, 30), tzinfo=BERLIN),
    )
    assert window[0].astimezone(NEW_YORK).time() == time(9)


def test_overlap_none_when_hours_do_not_meet_or_they_are_off() -> None:
    assert overlap_window(date(2026, 11, 24), OWNER_WORK, TOKYO_WORK) is None
    weekend_worker = replace(NY_WORK, days=frozenset({5, 6}))
    assert overlap_window(date(2026, 11, 24), OWNER_WORK, weekend_worker) is None
    assert overlap_window(date(2026, 11, 21), OWNER_WORK, NY_WORK) is None  # owner's Saturday


def test_overlap_with_a_contact_whose_day_is_another_date() -> None:
    # Auckland 09:00-17:00 Tuesday is Berlin 21:00-05:00 Monday night: an owner working
    # 18:00-23:00 overlaps with the Auckland Tuesday, not the Monday.
    late = WorkingTime("Europe/Berlin", time(18), time(23))
    auckland = WorkingTime("Pacific/Auckland", time(9), time(17))
    window = overlap_window(date(2026, 11, 23), late, auckland)
    assert window == (berlin(2026, 11, 23, 21, 0), berlin(2026, 11, 23, 23, 0))


def _brute_business_days(first: date, last: date, work: WorkingTime, quiet: frozenset[date]) -> int:
    n, d = 0, first + timedelta(days=1)
    while d <= last:
        n += is_working_day(d, work, quiet)
        d += timedelta(days=1)
    return n


@given(
    first=st.dates(date(2025, 1, 1), date(2028, 12, 31)),
    span=st.integers(-5, 120),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    quiet=st.frozensets(st.dates(date(2025, 1, 1), date(2029, 6, 30)), max_size=20),
)
def test_business_days_between_counts_like_walking_the_days(
    first: date, span: int, days: frozenset[int], quiet: frozenset[date]
) -> None:
    work = replace(OWNER_WORK, days=days)
    last = first + timedelta(days=span)
    assert business_days_between(first, last, work, quiet) == _brute_business_days(
        first, last, work, quiet
    )


@given(
    start=st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),
    n=st.integers(0, 30),
    quiet=st.frozensets(st.dates(date(2025, 1, 1), date(2029, 6, 30)), max_size=20),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]),
)
def test_add_business_days_lands_n_working_days_later(
    start: datetime, n: int, quiet: frozenset[date], zone: str
) -> None:
    work = replace(OWNER_WORK, timezone=zone)
    result = add_business_days(start, n, work, quiet)
    first, last = local_date(start, zone), local_date(result, zone)
    assert business_days_between(first, last, work, quiet) == n
    assert n == 0 or is_working_day(last, work, quiet)
    assert result >= start


# -- cadence -----------------------------------------------------------------------------

NOW = berlin(2026, 11, 24, 10, 0)  # a Tuesday


def test_cadence_is_due_when_the_last_interaction_is_older_than_the_cadence() -> None:
    c = priya(tier="key", cadence_days=14, last_interaction_at=NOW - timedelta(days=45))
    action = only(plan(snap(c), NOW, [CADENCE]))
    assert action.key == "keep-in-touch:1:2026-10-24"
    assert action.reason.startswith("last interaction 45 days ago; cadence for tier key is 14 days")
    assert action.due_at == NOW
    assert action.draft is not None and action.draft.subject == "Catching up"
    assert action.draft.to_address == "priya@acme.test" and action.draft.to_name == "Priya Raman"
    assert action.account == "work"


def test_cadence_not_due_yet() -> None:
    c = priya(cadence_days=14, last_interaction_at=NOW - timedelta(days=13, hours=23))
    assert plan(snap(c), NOW, [CADENCE]).actions == ()


def test_cadence_without_any_interaction_is_due_now() -> None:
    action = only(plan(snap(priya(cadence_days=30)), NOW, [CADENCE]))
    assert action.key == "keep-in-touch:1:new"
    assert action.reason == "no interaction with Priya Raman yet; cadence is 30 days"


def test_cadence_tier_filter_and_contacts_without_cadence() -> None:
    key = priya(id=1, tier="key", cadence_days=14)
    regular = priya(id=2, tier="regular", cadence_days=90, email="r@x.test")
    untiered = priya(id=3, tier=None, cadence_days=7, email="u@x.test")
    none = priya(id=4, cadence_days=None, email="n@x.test")
    rule = replace(CADENCE, tiers=frozenset({"key"}))
    assert keys(plan(snap(key, regular, untiered, none), NOW, [rule])) == ["keep-in-touch:1:new"]
    all_keys = keys(plan(snap(key, regular, untiered, none), NOW, [CADENCE]))
    assert all_keys == ["keep-in-touch:1:new", "keep-in-touch:2:new", "keep-in-touch:3:new"]


def test_cadence_waits_for_a_booked_meeting() -> None:
    c = priya(cadence_days=14, next_meeting_at=NOW + timedelta(days=9))
    assert plan(snap(c), NOW, [CADENCE]).actions == ()


# -- no_reply ----------------------------------------------------------------------------


def test_no_reply_after_business_days_over_a_weekend_and_a_quiet_date() -> None:
    quiet = frozenset({date(2026, 11, 23)})  # Monday
    mail = sent(at=berlin(2026, 11, 19, 15, 0))  # Thursday: Fri, (Mon quiet), Tue, Wed
    s = snap(priya(), sent=(mail,), owner=owner(quiet))
    assert plan(s, berlin(2026, 11, 25, 14, 59), [NO_REPLY]).actions == ()
    action = only(plan(s, berlin(2026, 11, 25, 15, 0), [NO_REPLY]))
    assert action.key == "no-reply:1:mid:proposal@example.com"
    assert action.reason == "no reply from Priya Raman since 19 Nov 2026 (3 business days)"
    # Without the quiet date the third business day was Tuesday.
    s2 = snap(priya(), sent=(mail,))
    assert keys(plan(s2, berlin(2026, 11, 24, 15, 0), [NO_REPLY])) == [action.key]


def test_no_reply_draft_is_a_reply_in_the_thread() -> None:
    action = only(plan(snap(priya(), sent=(sent(),)), NOW, [NO_REPLY]))
    draft = action.draft
    assert draft is not None
    assert draft.subject == "Re: Proposal for Q1"
    assert draft.in_reply_to == "proposal@example.com"
    assert draft.references == ("start@acme.test", "proposal@example.com")
    assert draft.thread_id == "gmail-thread-7"
    assert action.account == "work-gmail"  # the mailbox that holds the thread
    assert draft.context["thread_subject"] == "Proposal for Q1"
    assert action.reason == "no reply from Priya Raman since 17 Nov 2026 (5 business days)"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Proposal", "Re: Proposal"),
        ("RE: Proposal", "RE: Proposal"),
        ("AW: Angebot", "AW: Angebot"),
        ("Aw: Angebot", "Aw: Angebot"),
        ("Proposal", "Re: Proposal"),
        ("Reminder", "Re: Reminder"),
        (None, "Following up"),
    ],
)
def test_no_reply_subject(subject: str | None, expected: str) -> None:
    action = only(plan(snap(priya(), sent=(sent(subject=subject),)), NOW, [NO_REPLY]))
    assert action.draft is not None and action.draft.subject == expected


def test_no_reply_skips_answered_mail_and_colleagues() -> None:
    answered = sent(answered_at=berlin(2026, 11, 19, 8, 0))
    assert plan(snap(priya(), sent=(answered,)), NOW, [NO_REPLY]).actions == ()
    assert plan(snap(priya(internal=True), sent=(sent(),)), NOW, [NO_REPLY]).actions == ()


def test_no_reply_one_action_per_contact_the_oldest_mail() -> None:
    older = sent(message_key="mid:old@x", message_id="old@x", at=berlin(2026, 11, 10, 9))
    newer = sent(message_key="mid:new@x", message_id="new@x", at=berlin(2026, 11, 17, 9))
    assert keys(plan(snap(priya(), sent=(newer, older)), NOW, [NO_REPLY])) == [
        "no-reply:1:mid:old@x"
    ]


def test_no_reply_withdrawn_when_an_answer_arrives() -> None:
    key = "no-reply:1:mid:proposal@example.com"
    open_action = existing(key, "no-reply", "created")
    answered = sent(answered_at=berlin(2026, 11, 19, 8, 0))
    p = plan(snap(priya(), sent=(answered,), actions=(open_action,)), NOW, [NO_REPLY])
    assert p.actions == ()
    assert [(w.key, w.reason) for w in p.withdrawals] == [(key, "Priya Raman replied on 19 Nov")]
    gone = plan(snap(priya(), actions=(open_action,)), NOW, [NO_REPLY])
    assert [w.key for w in gone.withdrawals] == [key]
    still = plan(snap(priya(), sent=(sent(),), actions=(open_action,)), NOW, [NO_REPLY])
    assert still.withdrawals == () and keys(still) == [key]


def test_long_message_keys_are_hashed_under_300_chars() -> None:
    long_key = "mid:" + "x" * 400 + "@example.com"
    action = only(plan(snap(priya(), sent=(sent(message_key=long_key),)), NOW, [NO_REPLY]))
    assert len(action.key) < 300
    assert action.key.startswith("no-reply:1:") and len(action.key.split(":")[2]) == 16
    # and the withdrawal finds it again
    answered = sent(message_key=long_key, answered_at=NOW - timedelta(hours=1))
    open_action = existing(action.key, "no-reply")
    p = plan(snap(priya(), sent=(answered,), actions=(open_action,)), NOW, [NO_REPLY])
    assert [w.key for w in p.withdrawals] == [action.key]


# -- after_meeting -----------------------------------------------------------------------


def test_after_meeting_is_due_the_next_working_morning() -> None:
    s = snap(priya(), meetings=(meeting(end=berlin(2026, 11, 20, 16, 0)),))  # Friday
    action = only(plan(s, berlin(2026, 11, 20, 17, 0), [AFTER_MEETING]))
    assert action.due_at == berlin(2026, 11, 23, 9, 0)
    assert action.key == "thanks:1:ical:kickoff@acme.test|"
    assert action.draft is not None and action.draft.subject == "Thank you — Project kickoff"
    assert action.draft.context["meeting"] == {
        "subject": "Project kickoff",
        "start": "2026-11-20T15:00:00+01:00",
        "end": "2026-11-20T16:00:00+01:00",
    }
    assert (
        action.reason == "met Priya Raman on 20 Nov 2026 (Project kickoff); no email to them since"
    )
    # planned late: due now
    assert only(plan(s, NOW, [AFTER_MEETING])).due_at == NOW


@pytest.mark.parametrize(
    ("end", "expected_utc"),
    [
        (berlin(2026, 3, 27, 16, 0), datetime(2026, 3, 30, 7, 0, tzinfo=UTC)),  # 09:00 CEST
        (berlin(2026, 10, 23, 16, 0), datetime(2026, 10, 26, 8, 0, tzinfo=UTC)),  # 09:00 CET
    ],
)
def test_after_meeting_next_morning_across_dst(end: datetime, expected_utc: datetime) -> None:
    s = snap(priya(), meetings=(meeting(end=end),))
    action = only(plan(s, end + timedelta(minutes=5), [AFTER_MEETING]))
    assert action.due_at == expected_utc
    assert action.due_at.astimezone(BERLIN).time() == time(9, 0)


def test_after_meeting_prefers_the_overlap_with_a_new_york_contact() -> None:
    ny = priya(timezone="America/New_York", work=NY_WORK)
    # Friday 13 Mar: New York is on summer time since 8 Mar, Berlin not until 29 Mar.
    s = snap(ny, meetings=(meeting(end=berlin(2026, 3, 13, 16, 0)),))
    action = only(plan(s, berlin(2026, 3, 13, 17, 0), [AFTER_MEETING]))
    assert action.due_at == berlin(2026, 3, 16, 14, 0)  # 09:00 in New York
    s = snap(ny, meetings=(meeting(end=berlin(2026, 11, 20, 16, 0)),))
    action = only(plan(s, berlin(2026, 11, 20, 17, 0), [AFTER_MEETING]))
    assert action.due_at == berlin(2026, 11, 23, 15, 0)


def test_after_meeting_falls_back_to_the_owners_hours_without_overlap() -> None:
    tokyo = priya(timezone="Asia/Tokyo", work=TOKYO_WORK)
    s = snap(tokyo, meetings=(meeting(end=berlin(2026, 11, 20, 16, 0)),))
    action = only(plan(s, berlin(2026, 11, 20, 17, 0), [AFTER_MEETING]))
    assert action.due_at == berlin(2026, 11, 23, 9, 0)


def test_after_meeting_skips() -> None:
    end = berlin(2026, 11, 20, 16, 0)
    after = berlin(2026, 11, 20, 17, 0)
    upcoming = meeting(end=after + timedelta(hours=2))
    assert plan(snap(priya(), meetings=(upcoming,)), after, [AFTER_MEETING]).actions == ()
    old = meeting(end=after - timedelta(days=14, minutes=1))
    assert plan(snap(priya(), meetings=(old,)), after, [AFTER_MEETING]).actions == ()
    emailed = meeting(end=end, emailed_after=True)
    assert plan(snap(priya(), meetings=(emailed,)), after, [AFTER_MEETING]).actions == ()
    internal = meeting(end=end, external=False)
    colleague = priya(internal=True)
    assert plan(snap(colleague, meetings=(internal,)), after, [AFTER_MEETING]).actions == ()
    everyone = replace(AFTER_MEETING, external_only=False)
    assert len(plan(snap(colleague, meetings=(internal,)), after, [everyone]).actions) == 1


def test_after_meeting_withdrawn_when_the_owner_wrote() -> None:
    end = berlin(2026, 11, 20, 16, 0)
    key = "thanks:1:ical:kickoff@acme.test|"
    c = priya(last_outbound_at=berlin(2026, 11, 23, 11, 0))
    s = snap(
        c, meetings=(meeting(end=end, emailed_after=True),), actions=(existing(key, "thanks"),)
    )
    p = plan(s, NOW, [AFTER_MEETING])
    assert [(w.key, w.reason) for w in p.withdrawals] == [(key, "you wrote to them on 23 Nov")]


# -- dormant -----------------------------------------------------------------------------


def test_dormant_plans_a_reconnect_hold() -> None:
    c = priya(last_interaction_at=NOW - timedelta(days=91))
    action = only(plan(snap(c), NOW, [DORMANT]))
    assert action.kind == "hold" and action.draft is None and action.hold is not None
    assert action.hold.title == "Reconnect with Priya Raman"
    assert action.hold.duration_minutes == 25
    assert action.hold.not_before == NOW
    assert action.key == "wake-up:1:2026-08-25"
    assert action.reason.startswith("last interaction 91 days ago (more than 90 days)")
    nameless = priya(name=None, last_interaction_at=NOW - timedelta(days=91))
    hold = only(plan(snap(nameless), NOW, [DORMANT])).hold
    assert hold is not None and hold.title == "Reconnect with priya@acme.test"


def test_dormant_skips_one_way_and_recent_contacts() -> None:
    one_way = priya(two_way=False, last_interaction_at=NOW - timedelta(days=200))
    recent = priya(last_interaction_at=NOW - timedelta(days=90))
    never = priya(last_interaction_at=None)
    for c in (one_way, recent, never):
        assert plan(snap(c), NOW, [DORMANT]).actions == ()


# -- date --------------------------------------------------------------------------------


def test_birthday_is_planned_days_ahead_at_the_start_of_working_hours() -> None:
    c = priya(dates=(ContactDate("birthday", 12, 10, 1986),))
    rule = DATES
    assert plan(snap(c), berlin(2026, 12, 6, 23, 0), [rule]).actions == ()
    action = only(plan(snap(c), berlin(2026, 12, 7, 0, 30), [rule]))  # Monday
    assert action.due_at == berlin(2026, 12, 7, 9, 0)
    assert action.key == "dates:1:birthday:2026-12-10"
    assert action.draft is not None and action.draft.subject == "Happy birthday!"
    assert action.draft.context["date"] == {
        "kind": "birthday",
        "label": None,
        "date": "2026-12-10",
        "years": 40,
    }
    assert action.reason == "Priya Raman's birthday is on 10 Dec 2026, in 3 days (turning 40)"
    # planned late, the date not passed: due now
    assert only(plan(snap(c), berlin(2026, 12, 9, 11, 0), [rule])).due_at == berlin(2026, 12, 9, 11)
    # the date passed: next year's occurrence, not yet
    assert plan(snap(c), berlin(2026, 12, 11, 9, 0), [rule]).actions == ()


def test_feb_29_falls_on_feb_28_in_other_years() -> None:
    c = priya(dates=(ContactDate("anniversary", 2, 29, 2020),))
    rule = replace(DATES, after_days=0)
    action = only(plan(snap(c), berlin(2027, 2, 26, 10, 0), [replace(rule, after_days=2)]))
    assert action.key == "dates:1:anniversary:2027-02-28"
    assert action.draft is not None and action.draft.subject == "Happy anniversary!"
    leap = only(plan(snap(c), berlin(2028, 2, 29, 10, 0), [rule]))
    assert leap.key == "dates:1:anniversary:2028-02-29"
    assert leap.draft is not None and leap.draft.context["date"]["years"] == 8  # type: ignore[index]


def test_custom_date_key_has_the_label_slug_and_kinds_filter() -> None:
    c = priya(dates=(ContactDate("custom", 5, 4, None, "Company founded!"),))
    now = berlin(2026, 5, 1, 10, 0)
    action = only(plan(snap(c), now, [DATES]))
    assert action.key == "dates:1:custom:company-founded:2026-05-04"
    assert action.draft is not None and action.draft.subject == "Company founded!"
    only_birthdays = replace(DATES, date_kinds=frozenset({"birthday"}))
    assert plan(snap(c), now, [only_birthdays]).actions == ()


def test_date_in_the_contacts_time_zone() -> None:
    # 23:00 Wednesday 9 Dec in Berlin is already Thursday 10 Dec in Auckland.
    rule = replace(DATES, after_days=0)
    now = berlin(2026, 12, 9, 23, 0)
    kiwi = priya(timezone="Pacific/Auckland", dates=(ContactDate("birthday", 12, 10),))
    action = only(plan(snap(kiwi), now, [rule]))
    assert action.due_at == berlin(2026, 12, 10, 9, 0)
    assert action.draft is not None and action.draft.context["date"]["years"] is None  # type: ignore[index]
    local = priya(dates=(ContactDate("birthday", 12, 10),))
    assert plan(snap(local), now, [rule]).actions == ()
    unknown_zone = priya(timezone="Mars/Olympus", dates=(ContactDate("birthday", 12, 10),))
    assert plan(snap(unknown_zone), now, [rule]).actions == ()


# -- constraints -------------------------------------------------------------------------


def due_everywhere(cid: int = 1, **kw: object) -> ContactSnap:
    """A contact every rule kind fires for at NOW (given sent() and meeting())."""
    base = priya(
        id=cid,
        email=f"c{cid}@acme.test",
        cadence_days=14,
        last_interaction_at=NOW - timedelta(days=120),
        dates=(ContactDate("birthday", 11, 25),),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def everything(c: ContactSnap, **kw: object) -> Snapshot:
    return snap(c, sent=(sent(c.id),), meetings=(meeting(c.id),), **kw)


def test_every_rule_fires_for_the_reference_contact() -> None:
    p = plan(everything(due_everywhere()), NOW, ALL_RULES)
    assert sorted(a.rule for a in p.actions) == sorted(r.name for r in ALL_RULES)
    assert [a.rule for a in p.actions] == [r.name for r in ALL_RULES]  # same due: rule order


@pytest.mark.parametrize("flag", ["do_not_contact", "noise"])
def test_do_not_contact_and_noise_get_nothing(flag: str) -> None:
    assert plan(everything(due_everywhere(**{flag: True})), NOW, ALL_RULES).actions == ()


def test_do_not_contact_withdraws_open_actions_of_every_rule() -> None:
    c = due_everywhere(do_not_contact=True)
    open_actions = tuple(
        existing(f"{r.name}:1:x", r.name, state)
        for r, state in zip(
            ALL_RULES, ["planned", "executing", "failed", "created", "planned"], strict=True
        )
    )
    closed = existing("keep-in-touch:1:y", "keep-in-touch", "dismissed")
    p = plan(everything(c, actions=(*open_actions, closed)), NOW, ALL_RULES)
    assert sorted(w.key for w in p.withdrawals) == sorted(a.key for a in open_actions)
    assert {w.reason for w in p.withdrawals} == {"they are now do-not-contact"}


def test_snooze_defers_the_due_time() -> None:
    c = due_everywhere(snoozed_until=berlin(2026, 11, 28, 12, 0))  # a Saturday
    p = plan(everything(c), NOW, ALL_RULES)
    assert len(p.actions) == len(ALL_RULES)
    assert {a.due_at for a in p.actions} == {berlin(2026, 11, 30, 9, 0)}
    assert all("snoozed until 28 Nov" in a.reason for a in p.actions)
    past = due_everywhere(snoozed_until=NOW - timedelta(days=1))
    assert {a.due_at for a in plan(everything(past), NOW, ALL_RULES).actions} == {NOW}


def test_one_open_action_per_contact_and_rule() -> None:
    c = due_everywhere()
    for state in sorted(OPEN_STATES):
        blocker = existing("keep-in-touch:1:2026-01-01", "keep-in-touch", state)
        p = plan(everything(c, actions=(blocker,)), NOW, [CADENCE])
        assert p.actions == (), state
    # another rule's open action does not block, and neither does another contact's
    others = (
        existing("no-reply:1:x", "no-reply"),
        existing("keep-in-touch:2:x", "keep-in-touch", contact_id=2),
    )
    p = plan(everything(c, actions=others), NOW, [CADENCE])
    assert keys(p) == ["keep-in-touch:1:2026-08-10"]
    # the same key is planned again
    same = existing("keep-in-touch:1:2026-08-10", "keep-in-touch", "created")
    assert keys(plan(everything(c, actions=(same,)), NOW, [CADENCE])) == [same.key]


def test_dismissed_or_skipped_keys_are_never_planned_again() -> None:
    c = due_everywhere()
    for state in ("dismissed", "skipped"):
        gone = existing("keep-in-touch:1:2026-08-10", "keep-in-touch", state)
        assert plan(everything(c, actions=(gone,)), NOW, [CADENCE]).actions == ()
    # a later period is a new key
    later = replace(c, last_interaction_at=NOW - timedelta(days=20))
    gone = existing("keep-in-touch:1:2026-08-10", "keep-in-touch", "dismissed")
    assert keys(plan(everything(later, actions=(gone,)), NOW, [CADENCE])) == [
        "keep-in-touch:1:2026-11-18"
    ]


def many(n: int, **kw: object) -> Snapshot:
    contacts = [priya(id=i, email=f"c{i}@x.test", cadence_days=7) for i in range(1, n + 1)]
    return snap(*contacts, **kw)


def test_per_day_cap_moves_to_the_next_working_day_with_room() -> None:
    friday = berlin(2026, 11, 20, 10, 0)
    p = plan(many(5), friday, [CADENCE], Limits(per_day=2, per_week=100, horizon_days=14))
    dues = [(a.contact_id, a.due_at) for a in p.actions]
    assert dues == [
        (1, friday),
        (2, friday),
        (3, berlin(2026, 11, 23, 9, 0)),
        (4, berlin(2026, 11, 23, 9, 0)),
        (5, berlin(2026, 11, 24, 9, 0)),
    ]
    assert "moved to 23 Nov by the daily or weekly limit" in p.actions[2].reason


def test_existing_actions_count_against_the_caps() -> None:
    friday = berlin(2026, 11, 20, 10, 0)
    busy = tuple(
        existing(f"other:{i}:p", "other", state, due=berlin(2026, 11, 20, 11), contact_id=100 + i)
        for i, state in enumerate(["planned", "executing", "created"])
    )
    ignored = (
        existing("other:9:f", "other", "failed", due=berlin(2026, 11, 20, 11), contact_id=9),
        existing("other:8:d", "other", "dismissed", due=berlin(2026, 11, 20, 11), contact_id=8),
    )
    p = plan(many(2, actions=busy + ignored), friday, [CADENCE], Limits(per_day=4, per_week=100))
    assert [a.due_at for a in p.actions] == [friday, berlin(2026, 11, 23, 9, 0)]


def test_per_week_cap_moves_to_the_next_iso_week() -> None:
    thursday = berlin(2026, 11, 19, 10, 0)
    earlier = (
        existing("other:50:a", "other", "created", due=berlin(2026, 11, 16, 10), contact_id=50),
    )
    p = plan(many(4, actions=earlier), thursday, [CADENCE], Limits(per_day=10, per_week=3))
    assert [a.due_at for a in p.actions] == [
        thursday,
        thursday,
        berlin(2026, 11, 23, 9, 0),
        berlin(2026, 11, 23, 9, 0),
    ]


def test_beyond_the_horizon_actions_are_deferred_not_withdrawn() -> None:
    friday = berlin(2026, 11, 20, 10, 0)
    limits = Limits(per_day=1, per_week=100, horizon_days=3)  # Fri, (Sat, Sun), Mon
    prior = existing("keep-in-touch:3:new", "keep-in-touch", contact_id=3)
    p = plan(many(3, actions=(prior,)), friday, [CADENCE], limits)
    # the action planned before keeps its place; newcomers take what is left
    assert [(a.key, a.due_at) for a in p.actions] == [
        ("keep-in-touch:3:new", friday),
        ("keep-in-touch:1:new", berlin(2026, 11, 23, 9, 0)),
    ]
    assert p.deferred == ("keep-in-touch:2:new",)
    assert p.withdrawals == ()


def test_zero_cap_defers_everything() -> None:
    p = plan(many(2), NOW, [CADENCE], Limits(per_day=0))
    assert p.actions == () and set(p.deferred) == {"keep-in-touch:1:new", "keep-in-touch:2:new"}


def test_quiet_dates_and_days_off_move_the_due_time() -> None:
    quiet = frozenset({date(2026, 11, 24), date(2026, 11, 25)})
    action = only(plan(snap(priya(cadence_days=7), owner=owner(quiet)), NOW, [CADENCE]))
    assert action.due_at == berlin(2026, 11, 26, 9, 0)
    evening = berlin(2026, 11, 27, 18, 0)  # Friday after hours
    assert only(plan(snap(priya(cadence_days=7)), evening, [CADENCE])).due_at == berlin(
        2026, 11, 30, 9
    )


def test_withdraw_cadence_and_dormant_when_in_touch_again() -> None:
    created = berlin(2026, 11, 18, 9, 0)
    acts = (
        existing("keep-in-touch:1:2026-11-01", "keep-in-touch", created_at=created),
        existing("wake-up:1:2026-06-01", "wake-up", "created", created_at=created),
    )
    wrote = priya(
        cadence_days=14,
        last_interaction_at=berlin(2026, 11, 20, 12),
        last_outbound_at=berlin(2026, 11, 20, 12),
    )
    p = plan(snap(wrote, actions=acts), NOW, [CADENCE, DORMANT])
    assert [(w.key, w.reason) for w in p.withdrawals] == [
        ("keep-in-touch:1:2026-11-01", "you wrote to them on 20 Nov"),
        ("wake-up:1:2026-06-01", "you wrote to them on 20 Nov"),
    ]
    they_wrote = priya(
        last_interaction_at=berlin(2026, 11, 21, 12), last_inbound_at=berlin(2026, 11, 21, 12)
    )
    p = plan(snap(they_wrote, actions=acts), NOW, [CADENCE, DORMANT])
    assert {w.reason for w in p.withdrawals} == {"Priya Raman wrote on 21 Nov"}
    booked = priya(last_interaction_at=berlin(2026, 11, 1), next_meeting_at=berlin(2026, 12, 3, 15))
    p = plan(snap(booked, actions=acts), NOW, [CADENCE, DORMANT])
    assert {w.reason for w in p.withdrawals} == {"a meeting with them is booked for 3 Dec"}
    quiet = priya(cadence_days=14, last_interaction_at=berlin(2026, 11, 1))
    assert plan(snap(quiet, actions=acts), NOW, [CADENCE, DORMANT]).withdrawals == ()


def test_no_withdrawal_when_the_rule_left_the_config_or_the_action_is_closed() -> None:
    c = priya(do_not_contact=True)
    acts = (
        existing("removed-rule:1:x", "removed-rule"),
        existing("keep-in-touch:1:x", "keep-in-touch", "dismissed"),
        existing("keep-in-touch:1:y", "keep-in-touch", "skipped"),
    )
    assert plan(snap(c, actions=acts), NOW, [CADENCE]).withdrawals == ()


def test_a_withdrawn_action_no_longer_blocks_the_next_one() -> None:
    old = existing("no-reply:1:mid:old@x", "no-reply", "created")
    answered = sent(message_key="mid:old@x", answered_at=NOW - timedelta(days=2))
    waiting = sent(message_key="mid:new@x", message_id="new@x", at=berlin(2026, 11, 16, 9))
    p = plan(snap(priya(), sent=(answered, waiting), actions=(old,)), NOW, [NO_REPLY])
    assert [w.key for w in p.withdrawals] == [old.key]
    assert keys(p) == ["no-reply:1:mid:new@x"]


def test_order_and_naive_now() -> None:
    contacts = [due_everywhere(cid) for cid in (3, 1, 2)]
    s = snap(*contacts, sent=tuple(sent(c.id) for c in contacts))
    p = plan(s, NOW, [NO_REPLY, CADENCE])
    assert [(a.rule, a.contact_id) for a in p.actions] == [
        ("no-reply", 1),
        ("no-reply", 2),
        ("no-reply", 3),
        ("keep-in-touch", 1),
        ("keep-in-touch", 2),
        ("keep-in-touch", 3),
    ]
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(s, datetime(2026, 11, 24, 10), [CADENCE])


def test_context_keys() -> None:
    c = due_everywhere(tier="key", timezone="Europe/Berlin", name="Raman, Priya")
    action = only(plan(everything(c), NOW, [CADENCE]))
    assert action.draft is not None
    ctx = action.draft.context
    assert ctx == {
        "rule": {"name": "keep-in-touch", "kind": "cadence"},
        "reason": action.reason,
        "due_at": "2026-11-24T10:00:00+01:00",
        "contact": {
            "id": 1,
            "name": "Raman, Priya",
            "first_name": "Priya",
            "email": "c1@acme.test",
            "tier": "key",
            "timezone": "Europe/Berlin",
        },
        "owner": {"name": "Alex Morgan", "address": "alex@example.com"},
        "last_interaction": {"at": "2026-07-27T10:00:00+02:00", "subject": None},
        "thread_subject": None,
        "meeting": None,
        "date": None,
    }


# -- properties --------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC", "Pacific/Auckland"]
PROP_RULES = (
    CADENCE,
    replace(NO_REPLY, business_days=2),
    AFTER_MEETING,
    replace(DORMANT, after_days=30),
    replace(DATES, after_days=5, action="hold"),
)
COUNTED = {"planned", "executing", "created"}
RARELY = st.sampled_from([False, False, False, False, True])


# Every strategy below is made once, here: hypothesis validates and labels each strategy
# object on its first draw, and making them inside `snapshots` (several depend on `now`)
# cost three quarters of each example's time, 40 ms, more than planning it. What depends on
# `now` is drawn as an offset from it instead, with the same values.
NOWS = st.one_of(
    st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
    # around the changes in Europe and in the US
    st.sampled_from(
        [
            datetime(2026, 3, 27, 16, tzinfo=UTC),
            datetime(2026, 10, 23, 16, tzinfo=UTC),
            datetime(2026, 3, 6, 20, tzinfo=UTC),
            datetime(2026, 10, 30, 22, tzinfo=UTC),
        ]
    ),
)
BOOL = st.booleans()
START_HOUR, END_HOUR = st.integers(6, 10), st.integers(14, 20)
CONTACTS, MAILS, MEETINGS, ACTIONS = (st.integers(0, n) for n in (12, 8, 6, 15))
CREATED_DAYS_AGO = st.integers(0, 30)
PER_DAY, PER_WEEK, HORIZON_DAYS = st.integers(0, 4), st.integers(0, 12), st.integers(0, 10)
MINUTES_AGO = st.integers(-200 * 24 * 60, 0)  # from now
MAYBE_MINUTES_AGO = st.none() | MINUTES_AGO
WORK_DAYS = st.frozensets(st.integers(0, 6), min_size=1)
QUIET_DAYS = st.frozensets(st.integers(-5, 40), max_size=6)  # from today
ZONE = st.sampled_from(ZONES)
MAYBE_ZONE = st.none() | ZONE
CONTACT_WORK = st.none() | st.builds(WorkingTime, ZONE, st.just(time(9)), st.just(time(17)))
NAME = st.sampled_from([None, "Priya Raman", "Jo"])
TIER = st.sampled_from([None, "key", "regular"])
CADENCE_DAYS = st.none() | st.integers(1, 60)
SNOOZE_MINUTES = st.none() | st.integers(-5 * 24 * 60, 20 * 24 * 60)  # from now
IDS = {n: st.integers(1, n) for n in range(1, 13)}  # contact ids, by the number of contacts
MAYBE_HI = st.none() | st.just("Hi")
RULE_NAMES = st.sampled_from([r.name for r in PROP_RULES] + ["gone-rule"])
KEY_SHAPE = st.sampled_from(["new", "x", "mid"])
DUE_MINUTES = st.integers(-3 * 24 * 60, 10 * 24 * 60)  # from now
STATES = st.sampled_from(["planned", "executing", "created", "failed", "dismissed", "skipped"])
# A contact's date: its day is 0-10 days from today, or any day of a leap year (Feb 29 too).
CONTACT_DATES = st.lists(
    st.tuples(
        st.sampled_from(["birthday", "anniversary", "custom"]),
        st.integers(0, 10) | st.dates(date(2024, 1, 1), date(2024, 12, 31)),
        st.none() | st.integers(1950, 2020),
        st.none() | st.sampled_from(["Founded", "Day one!"]),
    ),
    max_size=2,
)


def contact_dates(
    now: datetime, drawn: list[tuple[str, int | date, int | None, str | None]]
) -> tuple[ContactDate, ...]:
    out = []
    for kind, day, year, label in drawn:
        if isinstance(day, int):
            day = (now + timedelta(days=day)).date()
        out.append(ContactDate(kind, day.month, day.day, year, label))
    return tuple(out)


@st.composite
def snapshots(draw: st.DrawFn) -> tuple[Snapshot, datetime, Limits]:
    now = draw(NOWS)

    def ago(minutes: int | None) -> datetime | None:
        return None if minutes is None else now + timedelta(minutes=minutes)

    work = WorkingTime(
        draw(ZONE),
        time(draw(START_HOUR)),
        time(draw(END_HOUR)),
        draw(WORK_DAYS),
    )
    quiet = frozenset(now.date() + timedelta(days=d) for d in draw(QUIET_DAYS))
    n = draw(CONTACTS)
    contacts = []
    for cid in range(1, n + 1):
        last = ago(draw(MAYBE_MINUTES_AGO))
        contacts.append(
            ContactSnap(
                id=cid,
                name=draw(NAME),
                email=f"c{cid}@x.test",
                tier=draw(TIER),
                cadence_days=draw(CADENCE_DAYS),
                timezone=draw(MAYBE_ZONE),
                work=draw(CONTACT_WORK),
                do_not_contact=draw(RARELY),
                noise=draw(RARELY),
                internal=draw(BOOL),
                snoozed_until=ago(draw(SNOOZE_MINUTES)),
                last_interaction_at=last,
                last_outbound_at=last if draw(BOOL) else None,
                two_way=draw(BOOL),
                next_meeting_at=now + timedelta(days=3) if draw(RARELY) else None,
                dates=contact_dates(now, draw(CONTACT_DATES)),
            )
        )
    ids = IDS[max(n, 1)]
    mails = tuple(
        SentMail(
            draw(ids),
            f"mid:{i}@x",
            f"{i}@x",
            (),
            draw(MAYBE_HI),
            None,
            None,
            "acct",
            now + timedelta(minutes=draw(MINUTES_AGO)),
            ago(draw(MAYBE_MINUTES_AGO)),
        )
        for i in range(draw(MAILS))
    )
    meets = tuple(
        MeetingSnap(
            draw(ids),
            f"ical:{i}",
            "Sync",
            (end := now + timedelta(minutes=draw(MINUTES_AGO))) - timedelta(hours=1),
            end,
            "acct",
            draw(BOOL),
            draw(BOOL),
        )
        for i in range(draw(MEETINGS))
    )
    acts = []
    for i in range(draw(ACTIONS)):
        rule = draw(RULE_NAMES)
        cid = draw(ids)
        key = {
            "new": f"{rule}:{cid}:new",
            "x": f"{rule}:{cid}:x{i}",
            "mid": f"no-reply:{cid}:mid:{i}@x",
        }[draw(KEY_SHAPE)]
        # A key starts with its rule's name: the store never holds one under another rule.
        rule = key.split(":", 1)[0]
        due = now + timedelta(minutes=draw(DUE_MINUTES))
        acts.append(
            ExistingAction(
                key,
                rule,
                "draft",
                cid,
                draw(STATES),
                due,
                now - timedelta(days=draw(CREATED_DAYS_AGO)),
            )
        )
    snapshot = Snapshot(
        owner(quiet, work),
        {c.id: c for c in contacts},
        mails,
        meets,
        tuple({a.key: a for a in acts}.values()),
        "acct",
    )
    limits = Limits(draw(PER_DAY), draw(PER_WEEK), draw(HORIZON_DAYS))
    return snapshot, now, limits


def _merged_dues(s: Snapshot, p: Plan) -> dict[str, datetime]:
    withdrawn = {w.key for w in p.withdrawals}
    dues = {a.key: a.due_at for a in s.actions if a.state in COUNTED and a.key not in withdrawn}
    dues.update({a.key: a.due_at for a in p.actions})
    return dues


@given(snapshots())
def test_caps_are_never_exceeded(case: tuple[Snapshot, datetime, Limits]) -> None:
    s, now, limits = case
    p = plan(s, now, PROP_RULES, limits)
    zone = s.owner.work.timezone
    per_day: dict[date, int] = {}
    per_week: dict[tuple[int, int], int] = {}
    for due in _merged_dues(s, p).values():
        d = local_date(due, zone)
        per_day[d] = per_day.get(d, 0) + 1
        week = d.isocalendar()[:2]
        per_week[week] = per_week.get(week, 0) + 1
    kept = {a.key for a in s.actions if a.state in ("executing", "created")}
    for a in p.actions:
        if a.key in kept:
            continue
        d = local_date(a.due_at, zone)
        assert per_day[d] <= limits.per_day, (a.key, d)
        assert per_week[d.isocalendar()[:2]] <= limits.per_week, (a.key, d)
        # and the due time is in working hours on a working day, not before now or a snooze
        assert a.due_at >= now
        assert is_working_day(d, s.owner.work, s.owner.quiet_dates)
        local = a.due_at.astimezone(ZoneInfo(zone)).time()
        assert s.owner.work.start <= local < s.owner.work.end
        until = s.contacts[a.contact_id].snoozed_until
        assert until is None or a.due_at >= until


@given(snapshots())
def test_do_not_contact_and_noise_never_get_an_action(
    case: tuple[Snapshot, datetime, Limits],
) -> None:
    s, now, limits = case
    for a in plan(s, now, PROP_RULES, limits).actions:
        c = s.contacts[a.contact_id]
        assert not c.do_not_contact and not c.noise


@given(snapshots())
def test_one_open_action_per_rule_and_contact(case: tuple[Snapshot, datetime, Limits]) -> None:
    s, now, limits = case
    p = plan(s, now, PROP_RULES, limits)
    withdrawn = {w.key for w in p.withdrawals}
    closed = {a.key for a in s.actions if a.state in ("dismissed", "skipped")}
    slots = [(a.rule, a.contact_id) for a in p.actions]
    assert len(slots) == len(set(slots))
    for a in p.actions:
        assert a.key not in closed and a.key not in withdrawn
        others = {
            e.key
            for e in s.actions
            if e.state in OPEN_STATES
            and e.key not in withdrawn
            and (e.rule, e.contact_id) == (a.rule, a.contact_id)
        }
        assert not others or a.key in others  # planned again, or nothing else open


@given(snapshots())
def test_planning_is_deterministic(case: tuple[Snapshot, datetime, Limits]) -> None:
    s, now, limits = case
    first, second = plan(s, now, PROP_RULES, limits), plan(s, now, PROP_RULES, limits)
    assert first == second
    order = {r.name: i for i, r in enumerate(PROP_RULES)}
    sort_keys = [(a.due_at, order[a.rule], a.contact_id) for a in first.actions]
    assert sort_keys == sorted(sort_keys)


@given(snapshots())
def test_feeding_the_plan_back_changes_nothing(case: tuple[Snapshot, datetime, Limits]) -> None:
    s, now, limits = case
    p = plan(s, now, PROP_RULES, limits)
    planned = {a.key for a in p.actions}
    gone = {w.key for w in p.withdrawals} | planned
    state: dict[str, ActionState] = {
        a.key: a.state for a in s.actions if a.state in ("executing", "created")
    }
    fed = tuple(
        ExistingAction(
            a.key, a.rule, a.kind, a.contact_id, state.get(a.key, "planned"), a.due_at, now
        )
        for a in p.actions
    )
    again = plan(
        replace(s, actions=tuple(a for a in s.actions if a.key not in gone) + fed),
        now,
        PROP_RULES,
        limits,
    )
    assert again.withdrawals == ()
    assert {a.key for a in again.actions} == planned
    assert set(again.deferred) == set(p.deferred)


def test_a_withdrawn_action_frees_its_place_under_the_caps() -> None:
    friday = berlin(2026, 11, 20, 10, 0)
    answered = sent(answered_at=friday - timedelta(days=1))
    old = existing("no-reply:1:mid:proposal@example.com", "no-reply", "planned", due=friday)
    s = snap(priya(cadence_days=7), sent=(answered,), actions=(old,))
    p = plan(s, friday, [NO_REPLY, CADENCE], Limits(per_day=1))
    assert [w.key for w in p.withdrawals] == [old.key]
    assert [(a.key, a.due_at) for a in p.actions] == [("keep-in-touch:1:new", friday)]


def test_date_planned_on_the_october_change_is_due_monday_0900_local() -> None:
    # Planning day Sunday 25 Oct (the change): Monday 09:00 CET is 08:00 UTC.
    c = priya(dates=(ContactDate("birthday", 10, 28),))
    action = only(plan(snap(c), datetime(2026, 10, 25, 12, tzinfo=UTC), [DATES]))
    assert action.due_at == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)
    assert action.due_at.astimezone(BERLIN).time() == time(9, 0)


def test_a_snooze_does_not_withdraw() -> None:
    c = priya(cadence_days=7, snoozed_until=NOW + timedelta(days=3))
    open_action = existing("keep-in-touch:1:new", "keep-in-touch", created_at=NOW)
    p = plan(snap(c, actions=(open_action,)), NOW, [CADENCE])
    assert p.withdrawals == ()
    assert [(a.key, a.due_at) for a in p.actions] == [(open_action.key, NOW + timedelta(days=3))]
