"""`plan` reads only the contacts its rules can pick (`read_snapshot(rules=...)`, the bounds
in `syncd.outbox.snapshot.pickable`): over random stores, on SQLite and PostgreSQL, the
plan over that narrowed snapshot equals the plan over every contact, at many instants
around the rules' thresholds, and each contact it reads is read as the full snapshot
reads it.

The stores are filled through ingest (tests/test_contact_stats.py's `World`: mail both
ways, noise, meetings past and ahead, deletions, merges), then each contact gets random
settings (tier, own cadence, do-not-contact, snooze, working hours, zone), dates around
the day, and the outbox random actions in every state.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rules.model import ContactSnap, SentMail
from rules.plan import plan
from syncd.config import load_config
from syncd.outbox.planning import limits_of, rule_specs
from syncd.outbox.snapshot import MEETING_AHEAD, MEETING_BACK, read_snapshot
from syncd.store import snapshot as q
from syncd.store.db import Store
from syncd.store.models import Action, Contact, ContactDate, Interaction, Participant
from tests.test_contact_stats import NOW, World, _world
from tests.util import write_config

PEOPLE = [f"p{i}@corp.example" for i in range(7)] + ["colleague@example.com"]
RULES = ("no-reply", "cadence", "thanks", "reconnect", "dates", "gone")
STATES = ("planned", "executing", "created", "failed", "dismissed", "skipped")

hours = st.integers(min_value=-24 * 200, max_value=24 * 30)
mail = st.fixed_dictionaries(
    {
        "op": st.just("mail"),
        "out": st.booleans(),
        "who": st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3, unique=True),
        "at": hours.filter(lambda h: h <= 0),
        "thread": st.integers(min_value=0, max_value=6),
        "noise": st.booleans(),
    }
)
meeting = st.fixed_dictionaries(
    {
        "op": st.just("meeting"),
        "uid": st.integers(min_value=0, max_value=5),
        "who": st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3, unique=True),
        "at": hours,
        "cancelled": st.booleans(),
    }
)
other = st.one_of(
    st.fixed_dictionaries({"op": st.just("remove"), "n": st.integers(min_value=0, max_value=30)}),
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["merge", "add"]),
            "pair": st.lists(st.sampled_from(PEOPLE), min_size=2, max_size=2, unique=True),
        }
    ),
)
operations = st.lists(st.one_of(mail, mail, mail, meeting, meeting, other), max_size=24)

contact_settings = st.fixed_dictionaries(
    {
        "tier": st.sampled_from([None, "", "key", "regular", "unknown"]),
        "cadence_days": st.sampled_from([None, None, 0, -3, 1, 5, 40]),
        "do_not_contact": st.booleans(),
        "snoozed_hours": st.none() | st.integers(min_value=-24 * 5, max_value=24 * 20),
        "timezone": st.sampled_from([None, "Pacific/Kiritimati", "Pacific/Pago_Pago", "Nope/X"]),
        "working_hours": st.sampled_from([None, "08:00-12:00", "bad"]),
        "dates": st.lists(
            st.tuples(
                st.sampled_from(["birthday", "anniversary", "custom"]),
                st.integers(min_value=-3, max_value=25),  # days from NOW
                st.none() | st.integers(min_value=1950, max_value=2030),
            ),
            max_size=2,
        ),
    }
)
action = st.fixed_dictionaries(
    {
        "rule": st.sampled_from(RULES),
        "state": st.sampled_from(STATES),
        "due_hours": st.integers(min_value=-24 * 30, max_value=24 * 10),
        "created_hours": st.integers(min_value=-24 * 200, max_value=0),
        "key": st.integers(min_value=0, max_value=3),
    }
)
rule_settings = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["1d", "3d", "14d", "45d"]),
        "after": st.sampled_from(["1d", "20d", "60d", "180d"]),
        "ahead": st.sampled_from(["0d", "3d", "21d"]),
        "no_reply": st.sampled_from(["1 business days", "3 business days"]),
    }
)
# instants around the world's NOW: each threshold (cadence, dormant, dates, the windows of
# mail and meetings) is crossed by some of them
instants = st.lists(st.integers(min_value=-24 * 40, max_value=24 * 10), min_size=1, max_size=4)

CONFIG = """
[tiers]
key = {{ cadence = "{key}" }}
regular = {{ cadence = "90d" }}

[[rules]]
name = "no-reply"
kind = "no_reply"
after = "{no_reply}"

[[rules]]
name = "cadence"
kind = "cadence"

[[rules]]
name = "thanks"
kind = "after_meeting"

[[rules]]
name = "reconnect"
kind = "dormant"
after = "{after}"
action = "draft"

[[rules]]
name = "dates"
kind = "date"
ahead = "{ahead}"
"""


@pytest.fixture
def plan_store(store_url: str) -> Any:
    store = Store(store_url)
    store.check_ready()
    yield store
    store.dispose()


def _settle(world: World, people: list[dict[str, Any]], actions: list[dict[str, Any]]) -> None:
    """Each contact's settings and dates, and the outbox's actions."""
    with world.store.session() as s, s.begin():
        ids = s.scalars(
            select(Contact.id).where(Contact.owner_id == world.owner_id).order_by(Contact.id)
        ).all()
        for n, cid in enumerate(ids):
            p = people[n % len(people)]
            snoozed = p["snoozed_hours"]
            s.execute(
                update(Contact)
                .where(Contact.id == cid)
                .values(
                    tier=p["tier"],
                    cadence_days=p["cadence_days"],
                    do_not_contact=p["do_not_contact"],
                    snoozed_until=None if snoozed is None else NOW + timedelta(hours=snoozed),
                    timezone=p["timezone"],
                    working_hours=p["working_hours"],
                )
            )
            seen = set()
            for kind, days, year in p["dates"]:
                on = (NOW + timedelta(days=days)).date()
                if kind in seen:
                    continue  # one date of each kind and label per contact
                seen.add(kind)
                s.add(
                    ContactDate(
                        owner_id=world.owner_id,
                        contact_id=cid,
                        kind=kind,
                        label="Founded" if kind == "custom" else "",
                        year=year,
                        month=on.month,
                        day=on.day,
                    )
                )
        keys = set()
        for n, a in enumerate(actions):
            if not ids:
                break
            cid = ids[n % len(ids)]
            key = f"{a['rule']}:{cid}:{a['key']}"
            if key in keys:
                continue  # keys are unique per owner
            keys.add(key)
            s.add(
                Action(
                    owner_id=world.owner_id,
                    rule=a["rule"],
                    kind="draft",
                    contact_id=cid,
                    key=key,
                    state=a["state"],
                    due_at=NOW + timedelta(hours=a["due_hours"]),
                    created_at=NOW + timedelta(hours=a["created_hours"]),
                    updated_at=NOW,
                )
            )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=operations,
    people=st.lists(contact_settings, min_size=1, max_size=8),
    actions=st.lists(action, max_size=6),
    knobs=rule_settings,
    at=instants,
)
@example(
    # a cadence contact, a dormant one, one awaiting an answer, a meeting, a date
    ops=[
        {
            "op": "mail",
            "out": True,
            "who": [PEOPLE[0]],
            "at": -24 * 100,
            "thread": 0,
            "noise": False,
        },
        {
            "op": "mail",
            "out": False,
            "who": [PEOPLE[0]],
            "at": -24 * 90,
            "thread": 0,
            "noise": False,
        },
        {"op": "mail", "out": True, "who": [PEOPLE[1]], "at": -24 * 5, "thread": 1, "noise": False},
        {"op": "meeting", "uid": 0, "who": [PEOPLE[2]], "at": -30, "cancelled": False},
        {"op": "mail", "out": False, "who": [PEOPLE[3]], "at": -2, "thread": 2, "noise": True},
        {"op": "mail", "out": False, "who": [PEOPLE[4]], "at": -1, "thread": 3, "noise": False},
    ],
    people=[
        {
            "tier": "key",
            "cadence_days": None,
            "do_not_contact": False,
            "snoozed_hours": None,
            "timezone": None,
            "working_hours": None,
            "dates": [("birthday", 2, None)],
        }
    ],
    actions=[],
    knobs={"key": "14d", "after": "60d", "ahead": "3d", "no_reply": "1 business days"},
    at=[0],
)
def test_the_narrowed_snapshot_plans_as_the_full_one(
    plan_store: Store,
    tmp_path: Path,
    ops: list[dict[str, Any]],
    people: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    knobs: dict[str, str],
    at: list[int],
) -> None:
    config = load_config(
        write_config(tmp_path / "syncd.toml", CONFIG.format(**knobs), store_url=plan_store.url)
    )
    world = _world(plan_store, config)
    for op in ops:
        world.apply(op)
    _settle(world, people, actions)
    rules, limits = rule_specs(config), limits_of(config)
    for hour in at:
        now = (NOW + timedelta(hours=hour)).astimezone(UTC)
        with plan_store.session() as s:
            full = read_snapshot(s, world.owner_id, config, now)
            narrow = read_snapshot(s, world.owner_id, config, now, rules=rules)
        assert narrow.contacts.keys() <= full.contacts.keys()
        for cid, contact in narrow.contacts.items():
            assert contact == full.contacts[cid]
        assert plan(narrow, now, rules, limits) == plan(full, now, rules, limits), hour
        with plan_store.session() as s:
            assert _meetings(s, world.owner_id, now) == _every_meeting(s, world.owner_id, now)


def _meetings(s: Session, owner_id: int, now: datetime) -> list[tuple[Any, ...]]:
    """What the snapshot reads of the meetings (read per contact that can have one)."""
    rows = q.meetings(s, owner_id, now, MEETING_BACK, MEETING_AHEAD)
    return sorted((r[0], r[1], r[4], r[5]) for r in rows)


def _every_meeting(s: Session, owner_id: int, now: datetime) -> list[tuple[Any, ...]]:
    """The reference: every counterpart's participation in a real meeting that ends after
    `now - MEETING_BACK` and starts by `now + MEETING_AHEAD`, over all interactions."""
    Meeting, Party = Interaction, Participant
    rows = s.execute(
        select(Meeting.message_key, Meeting.subject, Party.contact_id, Meeting.id)
        .join(Party, Party.interaction_id == Meeting.id)
        .where(
            Meeting.owner_id == owner_id,
            Meeting.kind == "meeting",
            Meeting.is_interaction.is_(True),
            Meeting.ends_at >= now - MEETING_BACK,
            Meeting.occurred_at <= now + MEETING_AHEAD,
            Party.is_counterpart.is_(True),
            Party.contact_id.is_not(None),
        )
    ).all()
    return sorted(tuple(r) for r in rows)


def test_the_narrowed_snapshot_leaves_out_who_no_rule_picks(
    plan_store: Store, tmp_path: Path
) -> None:
    """The comparison above compares something: contacts are left out (one written to
    yesterday is due for nothing; one never answered is), and the plan is the same."""
    config = load_config(
        write_config(
            tmp_path / "syncd.toml",
            CONFIG.format(key="14d", after="60d", ahead="3d", no_reply="1 business days"),
            store_url=plan_store.url,
        )
    )
    world = _world(plan_store, config)
    world.apply(
        {"op": "mail", "out": True, "who": [PEOPLE[0]], "at": -30, "thread": 0, "noise": False}
    )
    world.apply(
        {"op": "mail", "out": False, "who": [PEOPLE[0]], "at": -20, "thread": 0, "noise": False}
    )
    world.apply(
        {"op": "mail", "out": True, "who": [PEOPLE[1]], "at": -24 * 8, "thread": 1, "noise": False}
    )
    rules = rule_specs(config)
    with plan_store.session() as s:
        full = read_snapshot(s, world.owner_id, config, NOW)
        narrow = read_snapshot(s, world.owner_id, config, NOW, rules=rules)
    assert len(full.contacts) == 2
    assert [c.email for c in narrow.contacts.values()] == [PEOPLE[1]]
    result = plan(narrow, NOW, rules, limits_of(config))
    assert [a.rule for a in result.actions] == ["no-reply"]
    assert result == plan(full, NOW, rules, limits_of(config))


def test_the_snapshot_builds_contacts_and_mail_in_their_field_order() -> None:
    """`syncd/outbox/snapshot.py` passes ContactSnap's and SentMail's fields positionally
    (cheaper over 50,000 contacts), in this order: a reordered field must reorder it."""
    assert [f.name for f in fields(ContactSnap)] == [
        "id",
        "name",
        "email",
        "tier",
        "cadence_days",
        "timezone",
        "work",
        "do_not_contact",
        "snoozed_until",
        "internal",
        "noise",
        "last_interaction_at",
        "last_inbound_at",
        "last_outbound_at",
        "two_way",
        "next_meeting_at",
        "dates",
    ]
    assert [f.name for f in fields(SentMail)] == [
        "contact_id",
        "message_key",
        "message_id",
        "references",
        "subject",
        "thread_key",
        "thread_id",
        "account",
        "sent_at",
        "answered_at",
        "address",
    ]
