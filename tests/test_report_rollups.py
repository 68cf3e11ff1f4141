"""The report from the monthly rollup equals the report computed the old way.

Hypothesis folds random operations into a real store (SQLite and PostgreSQL) through the
code that does them for users (tests/test_contact_stats.py's world: ingest batches of mail
and meetings, moved and re-attended events, provider deletions, `contacts forget`,
`contacts merge`, an address added to a contact). Then the rollup (`contact_buckets`)
must hold exactly what a rebuild from the participations gives, and `build_report` must
equal the report as it was computed before the rollup existed (tests/report_reference.py:
it staged the participations themselves), at several `now`s (some with meetings still
ahead) and with the contacts spread over tiers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from sqlalchemy import select, update

from syncd.report.document import ReportParams, build_report
from syncd.store import rollups
from syncd.store.models import Contact, ContactBucket
from tests import report_reference
from tests.test_contact_stats import NOW, PEOPLE, World, _in, _met, _out, _world, operations

TIERS = {"key": 14, "regular": 90}
COLUMNS = [getattr(ContactBucket, c) for c in rollups.COLUMNS]


def _stored(world: World) -> list[tuple[Any, ...]]:
    with world.store.session() as s:
        rows = s.execute(select(*COLUMNS).where(ContactBucket.owner_id == world.owner_id)).all()
    return sorted((tuple(r) for r in rows), key=repr)


def _rebuilt(world: World) -> list[tuple[Any, ...]]:
    with world.store.session() as s, s.begin():
        rollups.rebuild_all(s, world.owner_id)
        rows = s.execute(select(*COLUMNS).where(ContactBucket.owner_id == world.owner_id)).all()
        s.rollback()
    return sorted((tuple(r) for r in rows), key=repr)


def _both_reports(world: World) -> list[tuple[Any, Any]]:
    """(from the rollup, the old way) for a few `now`s and periods, contacts in tiers."""
    out = []
    with world.store.session() as s, s.begin():
        ids = s.scalars(select(Contact.id).where(Contact.owner_id == world.owner_id)).all()
        for n, cid in enumerate(sorted(ids)):
            tier = ("key", "regular", "key", None, "other")[n % 5]
            s.execute(update(Contact).where(Contact.id == cid).values(tier=tier))
        for now, since in (
            (NOW, NOW - timedelta(days=200)),
            (NOW - timedelta(days=20), NOW - timedelta(days=120)),
            (NOW + timedelta(days=40), NOW - timedelta(days=45)),
        ):
            p = ReportParams(now=now, since=since, tiers=TIERS, reply_days=3)
            out.append(
                (
                    build_report(s, world.owner_id, p),
                    report_reference.build_report(s, world.owner_id, p),
                )
            )
        s.rollback()
    return out


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
@example(ops=[_out(0, -5), _out(1, -3), {"op": "merge", "pair": [PEOPLE[0], PEOPLE[1]]}])
@example(ops=[_out(0, -5), _met(0, [0, 1], -30), _met(0, [1], 40), _out(1, -1), _in(1, -1)])
# Mail that only adds to a contact's bucket (same month and thread): folded into the
# stored row by syncd/store/derived_append.py, never a second row.
@example(ops=[_out(0, -5), _in(0, -4), _out(0, -3)])
@example(
    ops=[_out(0, -5), _in(0, -1), {"op": "remove", "n": 1}, {"op": "forget", "who": PEOPLE[0]}]
)
def test_the_report_from_the_rollup_equals_the_old_computation(
    prop_store: Any, ops: list[dict[str, Any]]
) -> None:
    store, config = prop_store
    world = _world(store, config)
    for op in ops:
        world.apply(op)
    assert _stored(world) == _rebuilt(world)
    for new, old in _both_reports(world):
        assert new == old


def test_the_property_sees_a_stale_bucket(prop_store: Any) -> None:
    """The comparison can fail: a bucket left behind by a write past the rollup."""
    store, config = prop_store
    world = _world(store, config)
    for op in (_out(0, -5), _in(0, -4)):
        world.apply(op)
    assert all(new == old for new, old in _both_reports(world))
    with store.session() as s, s.begin():
        s.execute(
            update(ContactBucket)
            .where(ContactBucket.owner_id == world.owner_id)
            .values(last_in_at=None)
        )
    assert _stored(world) != _rebuilt(world)
    assert any(new != old for new, old in _both_reports(world))


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
