"""The contact statistics stay equal to a full recomputation, whatever happens to the store.

Hypothesis folds random sequences of operations into a real store (SQLite and PostgreSQL)
through the code that does them for users: ingest batches of mail and meetings (new ones,
moved or re-attended events, provider deletions: the paths reconciliation repairs take
too), `contacts forget`, `contacts merge`, an address added to a contact. After each step,
`contact_stats` must hold exactly what the grouped aggregate over the participations
gives, and what `plan`, `contacts list` and `report` read through it must equal what they
read with no statistics at all (every contact then takes the exact path, the
pre-statistics query).
"""

from __future__ import annotations

import importlib.util
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, text, update

from connectors.base import Attendee, RawEvent, RawMessage
from syncd.config import Config, load_config
from syncd.contacts.views import Tiers, add_address, forget, list_contacts, merge, resolve_contact
from syncd.errors import InputError, NotFound
from syncd.ingest.batch import IngestContext, ingest_batch, load_privacy
from syncd.ingest.classify import ClassifyOptions
from syncd.outbox.snapshot import read_snapshot
from syncd.report.document import build_report
from syncd.report.stage import ReportParams
from syncd.store import stats
from syncd.store.db import Store
from syncd.store.models import Account, ContactStats, Interaction, Participant, Stream
from tests.util import write_config

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PEOPLE = [f"p{i}@corp.example" for i in range(4)]
OWNER = "alex@example.com"
_owners = itertools.count(1)

# --- the operations ----------------------------------------------------------------------------

hours = st.integers(min_value=-24 * 200, max_value=24 * 30)  # around NOW, some ahead of it
mail = st.fixed_dictionaries(
    {
        "op": st.just("mail"),
        "out": st.booleans(),
        "who": st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3, unique=True),
        "at": hours.filter(lambda h: h <= 0),
        "thread": st.integers(min_value=0, max_value=4),
        "noise": st.booleans(),
    }
)
meeting = st.fixed_dictionaries(
    {
        "op": st.just("meeting"),
        "uid": st.integers(min_value=0, max_value=3),  # a known uid moves or re-attends it
        "who": st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3, unique=True),
        "at": hours,
        "cancelled": st.booleans(),
    }
)
removal = st.fixed_dictionaries(
    {"op": st.just("remove"), "n": st.integers(min_value=0, max_value=30)}
)
forgetting = st.fixed_dictionaries({"op": st.just("forget"), "who": st.sampled_from(PEOPLE)})
merging = st.fixed_dictionaries(
    {
        "op": st.just("merge"),
        "pair": st.lists(st.sampled_from(PEOPLE), min_size=2, max_size=2, unique=True),
    }
)
adding = st.fixed_dictionaries(
    {
        "op": st.just("add"),
        "pair": st.lists(st.sampled_from(PEOPLE), min_size=2, max_size=2, unique=True),
    }
)
operations = st.lists(
    st.one_of(mail, mail, meeting, removal, forgetting, merging, adding), min_size=1, max_size=16
)


def _out(who: int, at: int) -> dict[str, Any]:
    return {
        "op": "mail",
        "out": True,
        "who": [PEOPLE[who]],
        "at": at,
        "thread": who,
        "noise": False,
    }


def _in(who: int, at: int) -> dict[str, Any]:
    return {"op": "mail", "out": False, "who": [PEOPLE[who]], "at": at, "thread": 0, "noise": False}


def _met(uid: int, who: list[int], at: int) -> dict[str, Any]:
    people = [PEOPLE[w] for w in who]
    return {"op": "meeting", "uid": uid, "who": people, "at": at, "cancelled": False}


@dataclass
class World:
    store: Store
    config: Config
    owner_id: int
    account_id: int
    mail_stream: int
    cal_stream: int
    n: int = 0

    def ctx(self, stream_id: int) -> IngestContext:
        with self.store.session() as s:
            privacy = load_privacy(s, self.owner_id, [], False)
        return IngestContext(
            owner_id=self.owner_id,
            account_id=self.account_id,
            stream_id=stream_id,
            identity=self.config.owner.identity(),
            options=ClassifyOptions(),
            contact_policy="written",
            privacy=privacy,
            now=NOW,
        )

    def apply(self, op: dict[str, Any]) -> None:
        self.n += 1
        kind = op["op"]
        mail_ctx, cal_ctx = self.ctx(self.mail_stream), self.ctx(self.cal_stream)
        with self.store.session() as s, s.begin():
            if kind == "mail":
                ingest_batch(s, mail_ctx, [self._message(op)])
            elif kind == "meeting":
                ingest_batch(s, cal_ctx, [self._event(op)])
            elif kind == "remove":
                # A provider deletion (also how a resync or repair drops what is gone).
                ingest_batch(s, mail_ctx, [], removed=[f"m{op['n']}"])
                ingest_batch(s, cal_ctx, [], removed=[f"ev{op['n'] % 4}"])
            elif kind == "forget":
                forget(s, self.owner_id, op["who"], NOW)
            else:
                a, b = op["pair"]
                try:
                    keep = resolve_contact(s, self.owner_id, a)
                    if kind == "merge":
                        merge(s, self.owner_id, keep, resolve_contact(s, self.owner_id, b), NOW)
                    else:
                        add_address(s, self.owner_id, keep, b)
                except (InputError, NotFound):
                    pass  # not contacts (yet), the same contact, or the address is taken

    def _message(self, op: dict[str, Any]) -> RawMessage:
        at = NOW + timedelta(hours=op["at"])
        others = ", ".join(op["who"])
        sender, to = (OWNER, others) if op["out"] else (op["who"][0], OWNER)
        root = f"t{op['thread']}@corp.example"
        headers = [
            ("From", sender),
            ("To", to),
            ("Subject", f"thread {op['thread']}"),
            ("Date", format_datetime(at)),
            ("Message-ID", f"<m{self.n}@corp.example>"),
            ("References", f"<{root}>"),
            ("In-Reply-To", f"<{root}>"),
        ]
        if op["noise"]:
            headers.append(("List-Id", "news <news.corp.example>"))
        return RawMessage(
            provider_id=f"m{self.n}",
            folder="Sent" if op["out"] else "INBOX",
            headers=tuple(headers),
            internal_date=at,
            folder_role="sent" if op["out"] else "inbox",
        )

    def _event(self, op: dict[str, Any]) -> RawEvent:
        start = NOW + timedelta(hours=op["at"])
        return RawEvent(
            provider_id=f"ev{op['uid']}",
            uid=f"uid{op['uid']}@corp.example",
            start=start,
            end=start + timedelta(hours=1),
            summary="sync",
            status="cancelled" if op["cancelled"] else "confirmed",
            organizer=OWNER,
            attendees=(
                Attendee(OWNER, response="accepted", is_organizer=True, is_self=True),
                *(Attendee(a, response="accepted") for a in op["who"]),
            ),
        )


def _world(store: Store, config: Config) -> World:
    with store.session() as s, s.begin():
        owner_id = store.ensure_owner(f"prop{next(_owners)}", NOW)
        account = Account(owner_id=owner_id, name="mail", kind="maildir", created_at=NOW)
        s.add(account)
        s.flush()
        streams = [
            Stream(owner_id=owner_id, account_id=account.id, name=name, kind=kind, items=0)
            for name, kind in (("mail:INBOX", "mail"), ("cal:main", "calendar"))
        ]
        s.add_all(streams)
        s.flush()
        return World(store, config, owner_id, account.id, streams[0].id, streams[1].id)


# --- what is compared ----------------------------------------------------------------------------


def _stored(world: World) -> list[tuple[Any, ...]]:
    with world.store.session() as s:
        rows = s.execute(
            select(*(getattr(ContactStats, c) for c in stats.COLUMNS))
            .where(ContactStats.owner_id == world.owner_id)
            .order_by(ContactStats.contact_id)
        ).all()
    return [tuple(r) for r in rows]


def _recomputed(world: World) -> list[tuple[Any, ...]]:
    """The statistics rebuilt from scratch, rolled back afterwards."""
    with world.store.session() as s, s.begin():
        stats.rebuild_all(s, world.owner_id)
        s.flush()
        rows = s.execute(
            select(*(getattr(ContactStats, c) for c in stats.COLUMNS))
            .where(ContactStats.owner_id == world.owner_id)
            .order_by(ContactStats.contact_id)
        ).all()
        s.rollback()
    return [tuple(r) for r in rows]


def _waiting(sent: Any) -> set[tuple[int, str, datetime]]:
    """The mail of a snapshot that awaits an answer: all the no_reply rule acts on."""
    return {(m.contact_id, m.message_key, m.sent_at) for m in sent if m.answered_at is None}


def _waiting_by_scan(s: Any, world: World, now: datetime) -> set[tuple[int, str, datetime]]:
    """The same from the whole window's sent mail, as the snapshot read it before it used
    the contacts' last mail in and out to bound it: every human mail out in the 45 days,
    the latest per contact and thread, unanswered when nobody replied in its thread and
    the contact wrote nothing afterwards."""
    since = now - timedelta(days=45)
    contacts = read_snapshot(s, world.owner_id, world.config, now, include_actions=False).contacts
    window = [
        Interaction.owner_id == world.owner_id,
        Interaction.is_interaction.is_(True),
        Interaction.occurred_at > since,
        Interaction.occurred_at <= now,
    ]
    rows = s.execute(
        select(Interaction, Participant.contact_id)
        .join(Participant, Participant.interaction_id == Interaction.id)
        .where(
            *window,
            Interaction.kind == "email",
            Interaction.direction == "out",
            Participant.is_counterpart.is_(True),
            Participant.contact_id.is_not(None),
        )
        .order_by(Interaction.occurred_at, Interaction.id)
    ).all()
    replies = s.scalars(select(Interaction).where(*window, Interaction.direction == "in")).all()
    latest: dict[tuple[int, str], Any] = {}
    for mail, cid in rows:
        if cid in contacts:
            latest[(cid, mail.thread_key or mail.message_key)] = (mail, cid)
    out = set()
    for mail, cid in latest.values():
        at = _utc(mail.occurred_at)
        last_in = contacts[cid].last_inbound_at
        if last_in is not None and last_in > at:
            continue
        thread = mail.thread_key
        if thread is not None and any(
            r.thread_key == thread and _utc(r.occurred_at) > at for r in replies
        ):
            continue
        out.add((cid, mail.message_key, at))
    return out


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _reads(world: World, *, without_stats: bool) -> tuple[Any, Any, Any]:
    """What plan, contacts list and report see (plan also at an earlier day, a backtest)."""
    tiers = Tiers({"key": 14})
    with world.store.session() as s, s.begin():
        if without_stats:
            s.execute(delete(ContactStats).where(ContactStats.owner_id == world.owner_id))
        snaps = []
        for at in (NOW, NOW - timedelta(days=20)):
            snap = read_snapshot(s, world.owner_id, world.config, at, include_actions=False)
            assert _waiting(snap.sent) == _waiting_by_scan(s, world, at)
            snaps.append((snap.contacts, _waiting(snap.sent)))
        listed = list_contacts(s, world.owner_id, NOW, tiers)
        params = ReportParams(now=NOW, since=NOW - timedelta(days=200), tiers={"key": 14})
        doc = build_report(s, world.owner_id, params)
        s.rollback()
    return snaps, listed, doc


@pytest.fixture
def prop_store(store_url: str, tmp_path: Path) -> Any:
    cfg = load_config(write_config(tmp_path / "syncd.toml", "", store_url=store_url))
    store = Store(store_url)
    store.check_ready()
    yield store, cfg
    store.dispose()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
@example(ops=[_out(0, -5), _out(1, -3), {"op": "merge", "pair": [PEOPLE[0], PEOPLE[1]]}])
@example(ops=[_out(0, -5), _in(2, -2), {"op": "add", "pair": [PEOPLE[0], PEOPLE[2]]}])
@example(ops=[_out(0, -5), _met(0, [0, 1], -30), _met(0, [1], 40), _out(1, -1), _met(0, [0], 2)])
@example(
    ops=[_out(0, -5), _in(0, -1), {"op": "remove", "n": 1}, {"op": "forget", "who": PEOPLE[0]}]
)
def test_statistics_equal_a_full_recomputation(prop_store: Any, ops: list[dict[str, Any]]) -> None:
    store, config = prop_store
    world = _world(store, config)
    for op in ops:
        world.apply(op)
        assert _stored(world) == _recomputed(world), op
    assert _reads(world, without_stats=False) == _reads(world, without_stats=True)


def test_the_property_sees_a_stale_row(prop_store: Any) -> None:
    """The comparison can fail: a statistics row left behind by a write past ingest."""
    store, config = prop_store
    world = _world(store, config)
    world.apply(
        {"op": "mail", "out": True, "who": [PEOPLE[0]], "at": -5, "thread": 0, "noise": False}
    )
    assert _stored(world) == _recomputed(world) != []
    with store.session() as s, s.begin():
        s.execute(
            update(ContactStats)
            .where(ContactStats.owner_id == world.owner_id)
            .values(last_at=NOW - timedelta(days=400))
        )
    assert _stored(world) != _recomputed(world)
    assert _reads(world, without_stats=False) != _reads(world, without_stats=True)


def test_migration_backfill_equals_the_statistics(prop_store: Any) -> None:
    """0004's plain-SQL backfill gives what `stats.aggregate` gives, on the same store."""
    spec = importlib.util.spec_from_file_location(
        "m0004", Path(stats.__file__).parent / "migrations/versions/0004_contact_stats.py"
    )
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    store, config = prop_store
    world = _world(store, config)
    for n, who in enumerate(PEOPLE[:4]):
        world.apply(
            {"op": "mail", "out": True, "who": [who], "at": -n, "thread": n, "noise": False}
        )
        world.apply(
            {"op": "mail", "out": False, "who": [who], "at": 0, "thread": n, "noise": n == 1}
        )
        world.apply(
            {"op": "meeting", "uid": n, "who": [who], "at": 24 * n - 30, "cancelled": False}
        )
    expected = _recomputed(world)
    assert len(expected) == 4
    with store.session() as s, s.begin():
        s.execute(delete(ContactStats))
        t = "1" if s.get_bind().dialect.name == "sqlite" else "true"
        s.execute(text(migration.BACKFILL.format(t=t)))
    assert _stored(world) == expected
