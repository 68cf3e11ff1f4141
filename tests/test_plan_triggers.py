"""The triggers at their edges, each with the realistic case that needs it: the tier
filter of every kind, keys that are stored (changing one plans the same action twice),
and the boundaries that a flipped comparison would move."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rules.model import (
    ContactDate,
    ExistingAction,
    MeetingSnap,
    RuleSpec,
    SentMail,
    Snapshot,
)
from rules.plan import plan
from rules.triggers import Env
from tests.plan_world import BERLIN, OWNER, PRIYA, TUESDAY, host_zone

DORMANT = RuleSpec("wake-up", "dormant", "hold", after_days=90)
DATES = RuleSpec("dates", "date", "draft", after_days=3)


def _keys(s: Snapshot, rule: RuleSpec, now: datetime = TUESDAY) -> list[str]:
    return [a.key for a in plan(s, now, [rule]).actions]


def test_dormant_only_for_the_tiers_the_rule_names() -> None:
    quiet = TUESDAY - timedelta(days=120)
    key_client = replace(PRIYA, tier="key", last_interaction_at=quiet)
    regular = replace(PRIYA, id=2, email="jo@acme.test", tier="regular", last_interaction_at=quiet)
    untiered = replace(PRIYA, id=3, email="sam@acme.test", last_interaction_at=quiet)
    s = Snapshot(OWNER, {1: key_client, 2: regular, 3: untiered})
    assert _keys(s, replace(DORMANT, tiers=frozenset({"key"}))) == ["wake-up:1:2026-07-27"]
    assert len(_keys(s, DORMANT)) == 3


def test_the_dormant_key_is_the_owners_date_of_the_last_interaction() -> None:
    # The key is stored: on a server set to Tokyo time, where 20:00 in Berlin is already
    # the next morning, it must not change (that would plan the same hold twice).
    last = datetime(2026, 7, 27, 20, 0, tzinfo=BERLIN)
    s = Snapshot(OWNER, {1: replace(PRIYA, last_interaction_at=last)})
    with host_zone("Asia/Tokyo"):
        assert _keys(s, DORMANT) == ["wake-up:1:2026-07-27"]


def test_a_custom_date_without_a_label_has_a_stable_key() -> None:
    # The key is stored with the action: it must stay the same from one run to the next.
    for label in (None, "", "!!!"):
        c = replace(PRIYA, dates=(ContactDate("custom", 11, 26, None, label),))
        assert _keys(Snapshot(OWNER, {1: c}), DATES) == ["dates:1:custom:date:2026-11-26"]


# -- withdrawal reasons ------------------------------------------------------------------


def test_after_meeting_withdrawal_says_when_the_owner_wrote() -> None:
    end = datetime(2026, 11, 20, 16, 0, tzinfo=BERLIN)
    meeting = MeetingSnap(
        1,
        "ical:review@acme.test",
        "Review",
        end - timedelta(hours=1),
        end,
        "work",
        True,
        emailed_after=True,
    )
    key = "thanks:1:ical:review@acme.test"
    action = ExistingAction(key, "thanks", "draft", 1, "planned", TUESDAY, end)
    rule = RuleSpec("thanks", "after_meeting", "draft")
    cases = [
        (end, "you wrote to them on 20 Nov"),  # sent as the meeting ended
        (end + timedelta(days=2), "you wrote to them on 22 Nov"),
        (end - timedelta(days=3), "you wrote to them after the meeting"),  # an older mail
        (None, "you wrote to them after the meeting"),  # the store saw the mail, not the time
    ]
    for wrote, reason in cases:
        c = replace(PRIYA, last_outbound_at=wrote)
        s = Snapshot(OWNER, {1: c}, meetings=(meeting,), actions=(action,))
        assert [(w.key, w.reason) for w in plan(s, TUESDAY, [rule]).withdrawals] == [(key, reason)]


def test_cadence_and_dormant_withdrawals_name_the_touch_after_the_action_was_made() -> None:
    made = datetime(2026, 11, 18, 9, 0, tzinfo=BERLIN)
    cadence = RuleSpec("keep-in-touch", "cadence", "draft")
    keep = ExistingAction(
        "keep-in-touch:1:new",
        "keep-in-touch",
        "draft",
        1,
        "planned",
        made + timedelta(days=8),
        made,
    )
    wake = ExistingAction(
        "wake-up:1:2026-06-01", "wake-up", "hold", 1, "created", made + timedelta(days=7), made
    )

    def reasons(**touch: datetime | None) -> list[tuple[str, str]]:
        c = replace(PRIYA, cadence_days=30, **touch)  # type: ignore[arg-type]
        s = Snapshot(OWNER, {1: c}, actions=(keep, wake))
        return [(w.key, w.reason) for w in plan(s, TUESDAY, [cadence, DORMANT]).withdrawals]

    met = datetime(2026, 11, 20, 15, 0, tzinfo=BERLIN)
    # a meeting since: no mail either way; withdrawals in the order they were due
    assert reasons(last_interaction_at=met, last_outbound_at=made - timedelta(days=1)) == [
        ("wake-up:1:2026-06-01", "you were in touch on 20 Nov"),
        ("keep-in-touch:1:new", "you were in touch on 20 Nov"),
    ]
    # what the owner wrote as the action was made is what it already knew of
    they = datetime(2026, 11, 21, 8, 0, tzinfo=BERLIN)
    assert {
        r for _, r in reasons(last_interaction_at=they, last_outbound_at=made, last_inbound_at=they)
    } == {"Priya Raman wrote on 21 Nov"}
    assert {r for _, r in reasons(last_interaction_at=met, last_inbound_at=made)} == {
        "you were in touch on 20 Nov"
    }
    # and an interaction stamped the instant the action was made withdraws nothing
    assert reasons(last_interaction_at=made, last_outbound_at=made, last_inbound_at=made) == []


def test_a_no_reply_action_whose_mail_left_the_snapshot_is_withdrawn() -> None:
    # The sent mail was deleted, or it is older than the snapshot reads back.
    key = "no-reply:1:mid:offer@example.com"
    action = ExistingAction(key, "no-reply", "draft", 1, "planned", TUESDAY, TUESDAY)
    rule = RuleSpec("no-reply", "no_reply", "draft", business_days=3)
    p = plan(Snapshot(OWNER, {1: PRIYA}, actions=(action,)), TUESDAY, [rule])
    assert [(w.key, w.reason) for w in p.withdrawals] == [
        (key, "the mail is no longer waiting for an answer")
    ]


def test_a_snooze_that_ended_is_not_mentioned() -> None:
    c = replace(PRIYA, cadence_days=7, snoozed_until=TUESDAY - timedelta(days=2))
    (action,) = plan(Snapshot(OWNER, {1: c}), TUESDAY, [RuleSpec("k", "cadence", "draft")]).actions
    assert action.due_at == TUESDAY
    assert "snoozed" not in action.reason


def test_a_contact_zone_that_does_not_exist_is_read_as_the_owners() -> None:
    # 00:30 on Thursday 10 Dec in Berlin is still Wednesday in UTC (and on a server
    # clock set to UTC): the owner's date decides, so the birthday is today.
    now = datetime(2026, 12, 10, 0, 30, tzinfo=BERLIN)
    rule = replace(DATES, after_days=0)
    for name in ("Mars/Olympus", "Not a zone", ""):
        c = replace(PRIYA, timezone=name, dates=(ContactDate("birthday", 12, 10),))
        (action,) = plan(Snapshot(OWNER, {1: c}), now, [rule]).actions
        assert action.key == "dates:1:birthday:2026-12-10"
        assert action.due_at == datetime(2026, 12, 10, 9, 0, tzinfo=BERLIN)


def test_a_key_of_exactly_300_characters_is_hashed() -> None:
    # The store's column holds keys shorter than 300: 299 stays as it is, 300 is hashed.
    rule = RuleSpec("no-reply", "no_reply", "draft", business_days=3)
    sent_at = TUESDAY - timedelta(days=10)
    for length, hashed in ((288, False), (289, True)):
        message_key = "mid:" + "x" * (length - 4)
        mail = SentMail(1, message_key, "x@y", (), "Offer", None, None, "work", sent_at)
        (action,) = plan(Snapshot(OWNER, {1: PRIYA}, sent=(mail,)), TUESDAY, [rule]).actions
        assert len(action.key) == (27 if hashed else 11 + length)


def test_fitting_an_instant_keeps_the_zone_it_came_in() -> None:
    """`Env.fit` is asked once per instant (most candidates are due `now`); an equal instant
    in another zone is another question, since a due time prints in the zone it has."""
    env = Env(Snapshot(owner=OWNER, contacts={}), TUESDAY)
    tokyo = TUESDAY.astimezone(ZoneInfo("Asia/Tokyo"))
    in_berlin, day = env.fit(TUESDAY, None)
    in_tokyo, same_day = env.fit(tokyo, None)
    assert in_berlin == in_tokyo == TUESDAY and day == same_day
    assert in_berlin.tzinfo is BERLIN
    assert in_tokyo.tzinfo is tokyo.tzinfo


# -- the after_meeting window, both ends included ----------------------------------------


def test_a_meeting_that_ended_this_minute_or_exactly_two_weeks_ago_is_thanked() -> None:
    rule = RuleSpec("thanks", "after_meeting", "draft")

    def thanked(end: datetime) -> list[str]:
        m = MeetingSnap(
            1, "ical:kickoff", "Kickoff", end - timedelta(hours=1), end, "work", True, False
        )
        return _keys(Snapshot(OWNER, {1: PRIYA}, meetings=(m,)), rule)

    assert thanked(TUESDAY) == ["thanks:1:ical:kickoff"]  # the daemon runs as it ends
    assert thanked(TUESDAY + timedelta(minutes=1)) == []  # still going
    assert thanked(TUESDAY - timedelta(days=14)) == ["thanks:1:ical:kickoff"]
    assert thanked(TUESDAY - timedelta(days=14, minutes=1)) == []  # too old for a thank-you


def test_a_snooze_that_ends_this_very_minute_is_not_mentioned() -> None:
    c = replace(PRIYA, cadence_days=7, snoozed_until=TUESDAY)
    (action,) = plan(Snapshot(OWNER, {1: c}), TUESDAY, [RuleSpec("k", "cadence", "draft")]).actions
    assert action.due_at == TUESDAY
    assert "snoozed" not in action.reason


# -- due times at the edges of a day, and dates listed in any order -------------------------


def test_a_cadence_due_at_closing_time_moves_to_the_next_morning() -> None:
    closing = TUESDAY.replace(hour=17, minute=30)  # the owner's day ends at 17:30
    c = replace(PRIYA, cadence_days=7)
    (action,) = plan(Snapshot(OWNER, {1: c}), closing, [RuleSpec("k", "cadence", "draft")]).actions
    assert action.due_at == datetime(2026, 11, 25, 9, 0, tzinfo=BERLIN)


def test_a_cadence_of_zero_days_is_no_cadence() -> None:
    c = replace(PRIYA, cadence_days=0, last_interaction_at=TUESDAY - timedelta(days=30))
    assert _keys(Snapshot(OWNER, {1: c}), RuleSpec("k", "cadence", "draft")) == []


def test_a_date_far_ahead_listed_first_does_not_hide_a_near_one() -> None:
    c = replace(PRIYA, dates=(ContactDate("birthday", 3, 14), ContactDate("anniversary", 11, 26)))
    assert _keys(Snapshot(OWNER, {1: c}), DATES) == ["dates:1:anniversary:2026-11-26"]


def test_a_birthday_is_due_as_soon_as_the_contacts_day_begins() -> None:
    # 16:30 on Wednesday 9 Dec in Berlin is already 00:30 on the 10th in Tokyo: Kenji's
    # birthday has begun, so the greeting is due now, in the owner's working hours; on a
    # server set to Honolulu time too.
    kenji = replace(PRIYA, timezone="Asia/Tokyo", dates=(ContactDate("birthday", 12, 10),))
    now = datetime(2026, 12, 9, 16, 30, tzinfo=BERLIN)
    with host_zone("Pacific/Honolulu"):
        (action,) = plan(Snapshot(OWNER, {1: kenji}), now, [replace(DATES, after_days=0)]).actions
    assert (action.key, action.due_at) == ("dates:1:birthday:2026-12-10", now)
