"""Nothing due is silently dropped: over random multi-contact snapshots, every rule and
contact that a reference oracle finds due is planned or deferred, with the candidate the
documented tie-breaks choose, and every open action whose reason went away is withdrawn.

The oracle below is written from the rules' documentation, not from `rules.triggers`:
it walks the calendar day by day and checks each condition in the plainest way, so a
mutant that stops a loop early (one contact due later today ends the loop and an overdue
contact after it is never planned) or flips a comparison disagrees with it. Then the
tie-breaks and the placing order under the caps, each on a small realistic case.
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.model import (
    ContactDate,
    ContactSnap,
    ExistingAction,
    Limits,
    MeetingSnap,
    OwnerInfo,
    Plan,
    RuleSpec,
    SentMail,
    Snapshot,
    WorkingTime,
)
from rules.plan import plan
from tests.plan_world import BERLIN, OWNER, PRIYA, TUESDAY

RULES = (
    RuleSpec("keep-in-touch", "cadence", "draft"),
    RuleSpec("no-reply", "no_reply", "draft", business_days=2),
    RuleSpec("thanks", "after_meeting", "draft"),
    RuleSpec("wake-up", "dormant", "hold", after_days=30),
    RuleSpec("dates", "date", "draft", after_days=3, date_kinds=frozenset({"birthday", "custom"})),
)
OPEN = {"planned", "executing", "failed", "created"}
# existing actions' states, weighted to those planned again with their due time kept
STATES = (
    "planned",
    "executing",
    "created",
    "executing",
    "created",
    "failed",
    "dismissed",
    "skipped",
)
CLOSED = {"dismissed", "skipped"}
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"]


# -- the reference oracle ----------------------------------------------------------------


def _owner_zone(s: Snapshot) -> ZoneInfo:
    return ZoneInfo(s.owner.work.timezone)


def _instant(d: date, t: time, zone: ZoneInfo) -> datetime:
    """Local wall time `t` on `d` (a time in a DST gap is read with the old offset, which
    names the same instant as moving it forward)."""
    return datetime.combine(d, t, tzinfo=zone)


def _cadence_period(c: ContactSnap, s: Snapshot, now: datetime) -> str | None:
    if c.cadence_days is None or c.cadence_days <= 0 or c.next_meeting_at is not None:
        return None
    if c.last_interaction_at is None:
        return "new"
    zone = _owner_zone(s)
    last = c.last_interaction_at.astimezone(zone)
    became = last.date() + timedelta(days=c.cadence_days)
    if _instant(became, last.time(), zone) > now:
        return None
    return became.isoformat()


def _deadline(mail: SentMail, s: Snapshot, business_days: int) -> datetime:
    """The same local time on the n-th working day after the day it was sent."""
    zone, work = _owner_zone(s), s.owner.work
    sent_local = mail.sent_at.astimezone(zone)
    day, counted = sent_local.date(), 0
    while counted < business_days:
        day += timedelta(days=1)
        if day.weekday() in work.days and day not in s.owner.quiet_dates:
            counted += 1
    return _instant(day, sent_local.time(), zone)


def _occurrence(cd: ContactDate, today: date) -> date | None:
    """The next occurrence on or after `today`; None for a date no year has (31 April)."""
    for year in (today.year, today.year + 1):
        day = cd.day
        if (cd.month, cd.day) == (2, 29) and not calendar.isleap(year):
            day = 28
        if day > calendar.monthrange(year, cd.month)[1]:
            return None
        on = date(year, cd.month, day)
        if on >= today:
            return on
    raise AssertionError("a date recurs every year")


@dataclass(frozen=True)
class Due:
    key: str
    rank: tuple[float, str]  # the documented choice: the lowest wins


def oracle_due(s: Snapshot, now: datetime, rule: RuleSpec, c: ContactSnap) -> list[Due]:
    """Every reason `rule` has to act for `c` at `now`, before any constraint."""
    name, out = rule.name, []
    if rule.kind == "cadence":
        period = _cadence_period(c, s, now)
        if period is not None:
            out.append(Due(f"{name}:{c.id}:{period}", (0.0, "")))
    elif rule.kind == "no_reply":
        for m in s.sent:
            if m.contact_id != c.id or m.answered_at is not None or c.internal:
                continue
            if _deadline(m, s, rule.business_days) <= now:  # the oldest mail is chased
                key = f"{name}:{c.id}:{m.message_key}"
                out.append(Due(key, (m.sent_at.timestamp(), key)))
    elif rule.kind == "after_meeting":
        for m in s.meetings:
            if m.contact_id != c.id or m.emailed_after or c.internal or not m.external:
                continue
            if now - timedelta(days=14) <= m.end <= now:  # the latest meeting wins
                key = f"{name}:{c.id}:{m.meeting_key}"
                out.append(Due(key, (-m.end.timestamp(), key)))
    elif rule.kind == "dormant":
        last = c.last_interaction_at
        quiet_for = timedelta(days=rule.after_days)
        if c.two_way and last is not None and c.next_meeting_at is None and now - last > quiet_for:
            period = last.astimezone(_owner_zone(s)).date().isoformat()
            out.append(Due(f"{name}:{c.id}:{period}", (0.0, "")))
    else:
        zone = ZoneInfo(c.timezone) if c.timezone else _owner_zone(s)
        today = now.astimezone(zone).date()
        for cd in c.dates:
            on = _occurrence(cd, today)
            if cd.kind not in rule.date_kinds or on is None:
                continue
            if on - timedelta(days=rule.after_days) <= today:  # the nearest date wins
                key = f"{name}:{c.id}:{cd.kind}:{on.isoformat()}"
                out.append(Due(key, (float(on.toordinal()), key)))
    return out


def oracle_chosen(s: Snapshot, now: datetime, withdrawn: set[str]) -> dict[tuple[str, int], str]:
    """(rule, contact) -> the key that must be planned or deferred."""
    closed = {a.key for a in s.actions if a.state in CLOSED}
    chosen = {}
    for rule in RULES:
        for c in s.contacts.values():
            if c.do_not_contact or c.noise:
                continue
            still_open = {
                a.key
                for a in s.actions
                if a.rule == rule.name
                and a.contact_id == c.id
                and a.state in OPEN
                and a.key not in withdrawn
            }
            allowed = [
                d
                for d in oracle_due(s, now, rule, c)
                if d.key not in closed
                and d.key not in withdrawn
                and (not still_open or d.key in still_open)
            ]
            if allowed:
                chosen[(rule.name, c.id)] = min(allowed, key=lambda d: d.rank).key
    return chosen


def oracle_withdrawn(s: Snapshot) -> set[str]:
    rules = {r.name: r for r in RULES}
    mails = {f"no-reply:{m.contact_id}:{m.message_key}": m for m in s.sent}
    meetings = {f"thanks:{m.contact_id}:{m.meeting_key}": m for m in s.meetings}
    out = set()
    for a in s.actions:
        rule = rules.get(a.rule)
        c = s.contacts.get(a.contact_id) if a.contact_id is not None else None
        if rule is None or c is None or a.state not in OPEN:
            continue
        if c.do_not_contact:
            out.add(a.key)
        elif rule.kind == "no_reply":
            mail = mails.get(a.key)
            if mail is None or mail.answered_at is not None:
                out.add(a.key)
        elif rule.kind == "after_meeting":
            meeting = meetings.get(a.key)
            if meeting is not None and meeting.emailed_after:
                out.add(a.key)
        elif rule.kind in ("cadence", "dormant"):
            last = c.last_interaction_at
            if (last is not None and last > a.created_at) or c.next_meeting_at is not None:
                out.add(a.key)
    return out


# -- random snapshots, dense around the boundaries ---------------------------------------


@st.composite
def cases(draw: st.DrawFn) -> tuple[Snapshot, datetime, Limits]:
    now = draw(
        st.sampled_from(
            [
                datetime(2026, 11, 24, 9, 0, tzinfo=UTC),  # Tuesday morning in Berlin
                datetime(2026, 11, 27, 16, 30, tzinfo=UTC),  # Friday afternoon
                datetime(2026, 12, 30, 11, 0, tzinfo=UTC),  # between the years
                datetime(2026, 10, 25, 1, 30, tzinfo=UTC),  # the night the clocks go back
            ]
        )
    )
    work = WorkingTime(
        draw(st.sampled_from(ZONES)),
        time(draw(st.integers(7, 10))),
        time(draw(st.integers(15, 19))),
        draw(st.sampled_from([frozenset(range(5)), frozenset({0, 2, 4}), frozenset(range(7))])),
    )
    quiet = frozenset(
        now.date() + timedelta(days=d) for d in draw(st.sets(st.integers(-4, 10), max_size=3))
    )
    owner = OwnerInfo("Alex Morgan", "alex@example.com", frozenset(), frozenset(), work, quiet)
    hours = st.integers(-40, 40).map(lambda h: timedelta(hours=h))
    # Around the moment a cadence runs out: overdue by a day, earlier today, this very
    # minute, later today (not due yet), tomorrow.
    boundary = st.sampled_from([-25 * 60, -90, -1, 0, 1, 60, 150, 25 * 60]).map(
        lambda m: timedelta(minutes=m)
    )
    contacts = []
    for cid in range(1, draw(st.integers(2, 7)) + 1):
        cadence = draw(st.integers(1, 30)) if draw(st.integers(0, 4)) else None
        near_due = now - timedelta(days=cadence or 10) + draw(boundary)
        last = draw(
            st.sampled_from(
                [near_due, near_due, None, now - timedelta(days=45), now - timedelta(days=2)]
            )
        )
        dates = draw(
            st.lists(
                st.builds(
                    lambda kind, ahead: ContactDate(kind, (now + ahead).month, (now + ahead).day),
                    st.sampled_from(["birthday", "anniversary"]),
                    st.integers(-2, 6).map(lambda d: timedelta(days=d)),
                )
                # a typo no year has, kept in the record
                | st.just(ContactDate("birthday", 4, 31)),
                max_size=3,
            )
        )
        contacts.append(
            ContactSnap(
                id=cid,
                name="Priya Raman",
                email=f"c{cid}@acme.test",
                cadence_days=cadence,
                timezone=draw(st.none() | st.sampled_from(ZONES)),
                do_not_contact=draw(st.integers(0, 7)) == 0,
                noise=draw(st.integers(0, 7)) == 0,
                internal=draw(st.integers(0, 3)) == 0,
                snoozed_until=draw(st.none() | hours.map(lambda h: now + 2 * h)),
                last_interaction_at=last,
                two_way=draw(st.booleans()),
                next_meeting_at=now + timedelta(days=2) if draw(st.integers(0, 5)) == 0 else None,
                dates=tuple(dates),
            )
        )
    ids = st.integers(1, len(contacts))
    mails = tuple(
        SentMail(
            draw(ids),
            f"mid:{i}@x",
            f"{i}@x",
            (),
            "Proposal",
            None,
            None,
            "work",
            now - timedelta(hours=draw(st.integers(0, 7 * 24))),
            now - timedelta(hours=1) if draw(st.integers(0, 4)) == 0 else None,
        )
        for i in range(draw(st.integers(0, 6)))
    )
    meetings = []
    for i in range(draw(st.integers(0, 5))):
        end = now - timedelta(hours=draw(st.integers(-24, 16 * 24)))
        emailed = draw(st.integers(0, 4)) == 0
        meetings.append(
            MeetingSnap(
                draw(ids),
                f"ical:{i}",
                "Kickoff",
                end - timedelta(hours=1),
                end,
                "work",
                draw(st.booleans()),
                emailed,
            )
        )
    # Existing actions under keys the triggers produce, so they block, are planned again,
    # keep their due time, or are withdrawn.
    keys = [f"keep-in-touch:{c.id}:new" for c in contacts]
    zone = ZoneInfo(work.timezone)
    keys += [
        f"keep-in-touch:{c.id}:{(c.last_interaction_at.astimezone(zone).date() + timedelta(days=c.cadence_days)).isoformat()}"
        for c in contacts
        if c.last_interaction_at is not None and c.cadence_days is not None
    ]
    keys += [f"no-reply:{m.contact_id}:{m.message_key}" for m in mails]
    keys += [f"thanks:{m.contact_id}:{m.meeting_key}" for m in meetings]
    keys += [f"wake-up:{c.id}:old" for c in contacts] + ["gone-rule:1:x", "no-reply:1:mid:gone"]
    actions = {}
    for _ in range(draw(st.integers(0, 8))):
        key = draw(st.sampled_from(keys))
        rule, cid, _rest = key.split(":", 2)
        actions[key] = ExistingAction(
            key,
            rule,
            "draft",
            int(cid),
            draw(st.sampled_from(STATES)),
            now + timedelta(hours=draw(st.integers(-30, 200))),
            now - timedelta(days=draw(st.integers(0, 50))),
        )
    snapshot = Snapshot(
        owner,
        {c.id: c for c in contacts},
        mails,
        tuple(meetings),
        tuple(actions.values()),
        "work",
    )
    limits = Limits(draw(st.integers(0, 3)), draw(st.integers(0, 8)), draw(st.integers(0, 6)))
    return snapshot, now, limits


def _placed(p: Plan) -> dict[tuple[str, int], str]:
    """(rule, contact) -> key, over the planned and the deferred actions."""
    out = {(a.rule, a.contact_id): a.key for a in p.actions}
    for key in p.deferred:
        rule, cid, _ = key.split(":", 2)
        assert (rule, int(cid)) not in out, f"{key} both planned and deferred"
        out[(rule, int(cid))] = key
    return out


# 100 examples in every profile (ci would run 300): about 3 s of CPU, enough to meet
# every boundary the strategy aims at several times.
@settings(max_examples=100)
@given(cases())
def test_everything_due_is_planned_or_deferred(case: tuple[Snapshot, datetime, Limits]) -> None:
    s, now, limits = case
    p = plan(s, now, RULES, limits)
    withdrawn = {w.key for w in p.withdrawals}
    assert withdrawn == oracle_withdrawn(s)
    expected = oracle_chosen(s, now, withdrawn)
    got = _placed(p)
    assert len(got) == len(p.actions) + len(p.deferred)  # one per rule and contact
    missing = {slot: key for slot, key in expected.items() if slot not in got}
    assert not missing, f"due but neither planned nor deferred: {missing}"
    assert got == expected
    # and what was placed fits the daily cap, counting the actions already there
    zone = _owner_zone(s)
    dues = {
        a.key: a.due_at
        for a in s.actions
        if a.state in ("planned", "executing", "created") and a.key not in withdrawn
    }
    dues.update({a.key: a.due_at for a in p.actions})
    per_day = Counter(due.astimezone(zone).date() for due in dues.values())
    kept = {a.key for a in s.actions if a.state in ("executing", "created")}
    for a in p.actions:
        assert a.key in kept or per_day[a.due_at.astimezone(zone).date()] <= limits.per_day


# -- choosing: tie-breaks that fail when the rank flips ----------------------------------


def _mail(key: str, sent_at: datetime) -> SentMail:
    return SentMail(1, key, key[4:], (), "Proposal", None, None, "work", sent_at)


def test_of_two_unanswered_mails_the_older_is_chased_whatever_their_keys() -> None:
    # The older mail has the larger key: a rank on the key alone would pick the newer.
    older = _mail("mid:zz-first-offer@example.com", datetime(2026, 11, 9, 9, tzinfo=BERLIN))
    newer = _mail("mid:aa-reminder@example.com", datetime(2026, 11, 16, 9, tzinfo=BERLIN))
    for sent in ((older, newer), (newer, older)):
        s = Snapshot(OWNER, {1: PRIYA}, sent=sent)
        p = plan(s, TUESDAY, [RULES[1]])
        assert [a.key for a in p.actions] == ["no-reply:1:mid:zz-first-offer@example.com"]


def test_two_mails_sent_at_the_same_second_the_smaller_key_is_chased() -> None:
    at = datetime(2026, 11, 9, 9, tzinfo=BERLIN)
    s = Snapshot(OWNER, {1: PRIYA}, sent=(_mail("mid:b@x", at), _mail("mid:a@x", at)))
    assert [a.key for a in plan(s, TUESDAY, [RULES[1]]).actions] == ["no-reply:1:mid:a@x"]


def _meeting(key: str, end: datetime) -> MeetingSnap:
    return MeetingSnap(1, key, "Review", end - timedelta(hours=1), end, "work", True, False)


def test_of_two_meetings_the_latest_wins_whatever_their_keys() -> None:
    earlier = _meeting("ical:zz-kickoff", datetime(2026, 11, 18, 15, tzinfo=BERLIN))
    later = _meeting("ical:aa-review", datetime(2026, 11, 23, 15, tzinfo=BERLIN))
    for meetings in ((earlier, later), (later, earlier)):
        s = Snapshot(OWNER, {1: PRIYA}, meetings=meetings)
        p = plan(s, TUESDAY, [RULES[2]])
        assert [a.key for a in p.actions] == ["thanks:1:ical:aa-review"]


def test_of_two_dates_the_nearest_wins() -> None:
    c = replace(
        PRIYA,
        dates=(ContactDate("anniversary", 11, 27), ContactDate("birthday", 11, 25)),
    )
    p = plan(Snapshot(OWNER, {1: c}), TUESDAY, [RULES[4]])
    assert [a.key for a in p.actions] == ["dates:1:birthday:2026-11-25"]


def test_under_a_daily_cap_the_earlier_due_takes_today() -> None:
    # Both are due today, one snoozed until 14:00 and one until 10:00. With room for one
    # a day, the 10:00 contact takes today even though the other has the smaller id.
    monday = datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN)
    afternoon = replace(PRIYA, id=1, cadence_days=7, snoozed_until=monday.replace(hour=14))
    morning = replace(
        PRIYA, id=2, email="jo@acme.test", cadence_days=7, snoozed_until=monday.replace(hour=10)
    )
    s = Snapshot(OWNER, {1: afternoon, 2: morning})
    p = plan(s, monday, [RULES[0]], Limits(per_day=1, per_week=10))
    assert [(a.contact_id, a.due_at) for a in p.actions] == [
        (2, monday.replace(hour=10)),
        (1, datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN)),
    ]
    assert "moved to 24 Nov by the daily or weekly limit" in p.actions[1].reason


def test_under_a_daily_cap_rule_order_then_contact_break_ties() -> None:
    monday = datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)
    c = {cid: replace(PRIYA, id=cid, email=f"c{cid}@acme.test", cadence_days=7) for cid in (2, 1)}
    s = Snapshot(
        OWNER, c, sent=(replace(_mail("mid:p@x", monday - timedelta(days=9)), contact_id=2),)
    )
    p = plan(s, monday, [RULES[1], RULES[0]], Limits(per_day=2, per_week=10))
    # no-reply is the first rule: it goes first; then contact 1 before contact 2
    assert [(a.rule, a.contact_id, a.due_at.date()) for a in p.actions] == [
        ("no-reply", 2, date(2026, 11, 23)),
        ("keep-in-touch", 1, date(2026, 11, 23)),
        ("keep-in-touch", 2, date(2026, 11, 24)),
    ]
