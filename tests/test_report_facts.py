"""The interaction facts stay equal to a full recomputation, and the report read from them
equals the report computed the old way.

Hypothesis folds random operations into a real store (SQLite and PostgreSQL) through the
code that does them for users (tests/test_contact_stats.py's world: ingest batches of mail
and meetings, moved and re-attended events, provider deletions, `contacts forget`,
`contacts merge`, an address added to a contact), with mail that also names an earlier
message in In-Reply-To, in its own thread or another. Then `interaction_facts` must hold
exactly what `facts.rebuild_all` gives from the interactions, and `build_report` must equal
tests/report_reference.py at several `now`s (some before answers that came later).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from connectors.base import RawMessage
from syncd.report.document import ReportParams, build_report
from syncd.store import facts
from syncd.store.models import Interaction, InteractionFacts
from tests import report_reference
from tests.test_contact_stats import (
    NOW,
    PEOPLE,
    World,
    _in,
    _out,
    _world,
    adding,
    forgetting,
    meeting,
    merging,
    removal,
)
from tests.test_report_rollups import _both_reports

COLUMNS = [getattr(InteractionFacts, c) for c in facts.COLUMNS]

hours = st.integers(min_value=-24 * 200, max_value=0)
reply = st.fixed_dictionaries(
    {
        "op": st.just("mail"),
        "out": st.booleans(),
        "who": st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=2, unique=True),
        "at": hours,
        "thread": st.integers(min_value=0, max_value=4),
        "noise": st.booleans(),
        "reply_to": st.integers(min_value=1, max_value=12),  # an earlier op's message, maybe
    }
)
mail = reply.map(lambda op: {k: v for k, v in op.items() if k != "reply_to"})
operations = st.lists(
    st.one_of(mail, reply, reply, meeting, removal, forgetting, merging, adding),
    min_size=1,
    max_size=16,
)


class ReplyWorld(World):
    """The world of tests/test_contact_stats.py, whose mail may name an earlier message
    (`<m{n}@corp.example>`, the Message-ID of the n-th operation) in In-Reply-To."""

    def _message(self, op: dict[str, Any]) -> RawMessage:
        msg = super()._message(op)
        target = op.get("reply_to")
        if target is None:
            return msg
        headers = tuple(
            (name, f"<m{target}@corp.example>" if name == "In-Reply-To" else value)
            for name, value in msg.headers
        )
        return dataclasses.replace(msg, headers=headers)


def _reply_world(store: Any, config: Any) -> ReplyWorld:
    w = _world(store, config)
    return ReplyWorld(w.store, w.config, w.owner_id, w.account_id, w.mail_stream, w.cal_stream)


def _stored(world: World) -> list[tuple[Any, ...]]:
    with world.store.session() as s:
        rows = s.execute(
            select(*COLUMNS)
            .where(InteractionFacts.owner_id == world.owner_id)
            .order_by(InteractionFacts.interaction_id)
        ).all()
    return [tuple(r) for r in rows]


def _rebuilt(world: World) -> list[tuple[Any, ...]]:
    with world.store.session() as s, s.begin():
        facts.rebuild_all(s, world.owner_id)
        rows = s.execute(
            select(*COLUMNS)
            .where(InteractionFacts.owner_id == world.owner_id)
            .order_by(InteractionFacts.interaction_id)
        ).all()
        s.rollback()
    return [tuple(r) for r in rows]


def _report_reply(out: int, at: int, thread: int, target: int) -> dict[str, Any]:
    return {**_out(0, at), "out": bool(out), "thread": thread, "reply_to": target}


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
# An answer by In-Reply-To from another thread, then the answer removed by the provider.
@example(ops=[_out(0, -50), _report_reply(0, -40, 3, 1), {"op": "remove", "n": 2}])
# The answer stored before the message it answers (another account saw it first).
@example(ops=[_report_reply(0, -40, 3, 2), _out(0, -50)])
# A thread answered, then its first message forgotten with the person.
@example(ops=[_out(1, -50), _in(1, -49), _out(1, -10), {"op": "forget", "who": PEOPLE[1]}])
def test_the_facts_equal_a_recomputation_and_the_report_the_old_one(
    prop_store: Any, ops: list[dict[str, Any]]
) -> None:
    store, config = prop_store
    world = _reply_world(store, config)
    for op in ops:
        world.apply(op)
    assert _stored(world) == _rebuilt(world)
    for new, old in _both_reports(world):
        assert new == old


def test_the_property_sees_a_stale_fact(prop_store: Any) -> None:
    """The comparison can fail: an answer time left behind by a write past the facts."""
    store, config = prop_store
    world = _reply_world(store, config)
    for op in (_out(0, -50), _in(0, -49)):
        world.apply(op)
    assert _stored(world) == _rebuilt(world)
    assert all(new == old for new, old in _both_reports(world))
    with store.session() as s, s.begin():
        s.execute(
            update(InteractionFacts)
            .where(InteractionFacts.owner_id == world.owner_id)
            .values(thread_answer_at=None, other_way_at=None)
        )
    assert _stored(world) != _rebuilt(world)
    assert any(new != old for new, old in _both_reports(world))


def test_a_thread_whose_mail_ends_after_now_is_computed_live(prop_store: Any) -> None:
    """An email that ends after `now` makes its thread's facts untrusted at that `now`
    (`horizon_at`): the report reads that thread from the interactions instead."""
    store, config = prop_store
    world = _reply_world(store, config)
    for op in (_out(0, -50), _in(0, -49), _out(0, -30), _in(1, -20)):
        world.apply(op)
    with store.session() as s, s.begin():
        first_in = s.scalars(
            select(Interaction.id)
            .where(Interaction.owner_id == world.owner_id, Interaction.direction == "in")
            .order_by(Interaction.occurred_at)
        ).first()
        s.execute(
            update(Interaction)
            .where(Interaction.id == first_in)
            .values(ends_at=NOW + timedelta(days=1))
        )
        facts.rebuild_all(s, world.owner_id)
        horizon = s.scalar(
            select(InteractionFacts.horizon_at).where(InteractionFacts.interaction_id == first_in)
        )
        assert horizon is not None
        for now in (NOW - timedelta(days=1), NOW, NOW + timedelta(days=2)):
            p = ReportParams(now=now, since=NOW - timedelta(days=60), tiers={}, reply_days=3)
            assert build_report(s, world.owner_id, p) == report_reference.build_report(
                s, world.owner_id, p
            )
        s.rollback()


@pytest.fixture
def prop_store(store_url: str, tmp_path: Any) -> Any:
    from syncd.config import load_config
    from syncd.store.db import Store
    from tests.util import write_config

    cfg = load_config(write_config(tmp_path / "syncd.toml", "", store_url=store_url))
    store = Store(store_url)
    store.check_ready()
    yield store, cfg
    store.dispose()
