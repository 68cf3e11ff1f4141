"""The caps count every action already in the outbox, whatever else is planned again.

Planning again an action planned before takes it out of the existing counts (it counts
where it lands this time); no other existing action may drop out with it. The random
snapshots of test_plan rarely put an action planned again before other actions on a full
day, so here every snapshot is a crowded week: contacts all due now, some with their
action already planned, others' drafts already made, in any order.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from rules.model import (
    ActionState,
    ContactSnap,
    ExistingAction,
    Limits,
    RuleSpec,
    Snapshot,
    WorkingTime,
)
from rules.plan import plan
from tests.plan_world import BERLIN, OWNER

CADENCE = RuleSpec("keep-in-touch", "cadence", "draft")
COUNTED: tuple[ActionState, ...] = ("planned", "executing", "created")
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)


def _contact(cid: int) -> ContactSnap:
    # a weekly cadence and no interaction yet: due now, key keep-in-touch:<id>:new
    return ContactSnap(id=cid, name=None, email=f"c{cid}@acme.test", cadence_days=7)


def _action(key: str, cid: int, state: ActionState, due: datetime) -> ExistingAction:
    return ExistingAction(key, key.split(":", 1)[0], "draft", cid, state, due, due)


def test_an_action_planned_again_does_not_hide_the_others_from_the_caps() -> None:
    # Two a day. Contact 1's draft is planned for today already and is planned again; the
    # newsletter rule's draft for contact 9 is made (created) for today. That is two:
    # the newcomer, contact 2, waits for Tuesday, whatever order the outbox lists them in.
    again = _action("keep-in-touch:1:new", 1, "planned", MONDAY)
    made = _action("newsletter:9:2026-11", 9, "created", MONDAY.replace(hour=11))
    s = Snapshot(OWNER, {1: _contact(1), 2: _contact(2)}, actions=(again, made))
    for order in ((again, made), (made, again)):
        p = plan(Snapshot(OWNER, s.contacts, actions=order), MONDAY, [CADENCE], Limits(2, 10))
        assert [(a.contact_id, a.due_at) for a in p.actions] == [
            (1, MONDAY),
            (2, datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN)),
        ]


@st.composite
def crowded(draw: st.DrawFn) -> tuple[Snapshot, Limits]:
    n = draw(st.integers(1, 8))
    contacts = {cid: _contact(cid) for cid in range(1, n + 1)}
    days = st.integers(0, 6).map(lambda d: MONDAY + timedelta(days=d))
    actions = []
    for cid in range(1, n + 1):  # planned before: planned again now
        if draw(st.booleans()):
            actions.append(_action(f"keep-in-touch:{cid}:new", cid, "planned", draw(days)))
    for i in range(draw(st.integers(0, 6))):  # another rule's actions, not planned again
        state = draw(st.sampled_from(COUNTED))
        actions.append(_action(f"newsletter:{100 + i}:2026-11", 100 + i, state, draw(days)))
    order = draw(st.permutations(actions))
    limits = Limits(draw(st.integers(1, 3)), draw(st.integers(1, 10)), draw(st.integers(0, 10)))
    return Snapshot(OWNER, contacts, actions=tuple(order)), limits


@given(crowded())
def test_caps_count_every_other_action_when_some_are_planned_again(
    case: tuple[Snapshot, Limits],
) -> None:
    s, limits = case
    p = plan(s, MONDAY, [CADENCE], limits)
    # an action planned again lands where it is planned now, or is left out (deferred)
    moved = {a.key for a in p.actions} | set(p.deferred)
    dues = [a.due_at for a in s.actions if a.key not in moved] + [a.due_at for a in p.actions]
    days = Counter(d.astimezone(BERLIN).date() for d in dues)
    weeks = Counter(d.isocalendar()[:2] for d in days.elements())
    for a in p.actions:
        day: date = a.due_at.astimezone(BERLIN).date()
        assert days[day] <= limits.per_day, (a.key, day, days)
        assert weeks[day.isocalendar()[:2]] <= limits.per_week, (a.key, day, weeks)
    # and the outbox's order changes nothing
    again = plan(Snapshot(OWNER, s.contacts, actions=s.actions[::-1]), MONDAY, [CADENCE], limits)
    assert again == p


def test_a_moved_action_lands_in_the_overlap_and_keeps_its_snooze_note() -> None:
    # One a day, and today is taken by a draft of a contact the store has forgotten (no
    # contact id: it still counts). Jo in New York, snoozed until 11:00, moves to Tuesday,
    # at 15:00 Berlin, the start of both working days (09:00 in New York).
    gone = ExistingAction(
        "newsletter:0:2026-11", "newsletter", "draft", None, "created", MONDAY, MONDAY
    )
    jo = ContactSnap(
        id=2,
        name="Jo Park",
        email="jo@acme.test",
        cadence_days=7,
        timezone="America/New_York",
        work=WorkingTime("America/New_York", time(9), time(17)),
        snoozed_until=MONDAY.replace(hour=11),
    )
    p = plan(Snapshot(OWNER, {2: jo}, actions=(gone,)), MONDAY, [CADENCE], Limits(1, 10))
    assert [(a.key, a.due_at) for a in p.actions] == [
        ("keep-in-touch:2:new", datetime(2026, 11, 24, 15, 0, tzinfo=BERLIN))
    ]
    assert p.actions[0].reason.endswith(
        "; snoozed until 23 Nov; moved to 24 Nov by the daily or weekly limit"
    )
