"""Network measures on a small store whose every figure is worked out by hand, on both engines.

The store (NOW = 2026-03-15 12:00 UTC, the period from 2026-01-01, replies within 7 days):

    contact  tier      cadence  what happened
    Ann      key       14d      Jan 5 out t7, Jan 20 in t7 (15 days: too late to count);
                                Jan 31 23:00 out t1, Feb 1 01:00 in t1 replying to it (a reply
                                across a month boundary); a meeting Mar 5 with Ben; Mar 13 out
                                t10 (pending: sent less than 7 days ago)
    Ben      regular   90d      Feb 10 out t2 (never answered); Feb 12 in t3, the owner answers
                                Feb 14 in t3; the meeting Mar 5
    Cleo     -         -        Mar 1 out t4, Mar 2 in, replying by In-Reply-To from another
                                thread; a meeting Mar 20 (not held yet: never counted)
    Dan      key       14d      only inbound: Feb 20 in t5, Mar 12 in t6 (pending)
    Eve      regular   90d      nothing at all (added 2025-06-01: overdue since Aug 30)
    Finn     -         -        May 1/2 2025 out and in t9: two-way once, dormant since
    Gus      key       14d      Dec 10 out, Dec 11 in, Dec 12 out t11 (before the period):
                                overdue since Dec 26, active in Jan and Feb only
    Hal      key       14d      nothing, do-not-contact: never overdue
    a stranger (no contact)     Feb 3 in t8, never answered; a newsletter Feb 1 (noise)
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from syncd.contacts.views import Tiers, list_contacts, strength_parts
from syncd.report.document import ReportParams, build_report, default_since, month_ends
from syncd.store.db import Store
from syncd.store.models import Contact, ContactAddress, Interaction, Participant
from tests.util import write_config

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
SINCE = datetime(2026, 1, 1, tzinfo=UTC)
TIERS = {"key": 14, "regular": 90}
OWNER = "alex@example.com"
ADDED = datetime(2025, 6, 1, 12, tzinfo=UTC)
PERIOD_MONTHS = 73.5 / (365.25 / 12)  # Jan 1 00:00 to Mar 15 12:00


def d(month: int, day: int, hour: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@dataclass
class World:
    """Writes contacts and interactions the way ingest stores them (participants carry
    copies of their interaction's kind, direction, times and is_interaction)."""

    session: Session
    owner_id: int
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    contacts: dict[str, int] = field(default_factory=dict)

    def contact(
        self,
        name: str,
        tier: str | None = None,
        *,
        created: datetime = ADDED,
        **fields: Any,
    ) -> int:
        c = Contact(
            owner_id=self.owner_id,
            name=name,
            tier=tier,
            created_at=created,
            updated_at=created,
            **fields,
        )
        self.session.add(c)
        self.session.flush()
        self.session.add(
            ContactAddress(owner_id=self.owner_id, contact_id=c.id, address=self.address(name))
        )
        self.contacts[name] = c.id
        return c.id

    @staticmethod
    def address(name: str) -> str:
        return f"{name.lower()}@example.org"

    def email(
        self,
        direction: str,
        at: datetime,
        *people: str,
        thread: str | None = None,
        mid: str | None = None,
        in_reply_to: str | None = None,
        real: bool = True,
    ) -> int:
        n = next(self.ids)
        mid = mid or f"m{n}@example.org"
        return self._add(
            kind="email",
            direction=direction,
            at=at,
            ends=None,
            people=people,
            thread=thread or mid,
            key=f"mid:{mid}",
            in_reply_to=in_reply_to,
            real=real,
        )

    def meeting(self, start: datetime, end: datetime, *people: str) -> int:
        n = next(self.ids)
        return self._add(
            kind="meeting",
            direction="mutual",
            at=start,
            ends=end,
            people=people,
            thread=None,
            key=f"ical:ev{n}|",
            in_reply_to=None,
            real=True,
        )

    def _add(
        self,
        *,
        kind: str,
        direction: str,
        at: datetime,
        ends: datetime | None,
        people: tuple[str, ...],
        thread: str | None,
        key: str,
        in_reply_to: str | None,
        real: bool,
    ) -> int:
        i = Interaction(
            owner_id=self.owner_id,
            kind=kind,
            category="human" if real else "newsletter",
            is_interaction=real,
            direction=direction,
            occurred_at=at,
            ends_at=ends,
            subject=f"about {key}",
            thread_key=thread,
            message_key=key,
            in_reply_to=in_reply_to,
            created_at=at,
        )
        self.session.add(i)
        self.session.flush()
        copy = {
            "kind": kind,
            "direction": direction,
            "is_interaction": real,
            "occurred_at": at,
            "ends_at": ends,
        }
        roles = {"in": ("from", "to"), "out": ("to", "from"), "mutual": ("attendee", "organizer")}
        theirs, mine = roles[direction]
        self.session.add(
            Participant(
                owner_id=self.owner_id,
                interaction_id=i.id,
                address=OWNER,
                role=mine,
                is_owner=True,
                is_counterpart=False,
                **copy,
            )
        )
        for person in people:
            self.session.add(
                Participant(
                    owner_id=self.owner_id,
                    interaction_id=i.id,
                    address=self.address(person),
                    role=theirs,
                    is_counterpart=True,
                    contact_id=self.contacts.get(person),
                    **copy,
                )
            )
        self.session.flush()
        return i.id


def open_store(url: str) -> tuple[Store, int]:
    store = Store(url)
    store.check_ready()
    return store, store.ensure_owner("default", d(1, 1, year=2025))


def build_world(w: World) -> None:
    w.contact("Ann", "key")
    w.contact("Ben", "regular")
    w.contact("Cleo")
    w.contact("Dan", "key")
    w.contact("Eve", "regular")
    w.contact("Finn")
    w.contact("Gus", "key")
    w.contact("Hal", "key", do_not_contact=True)
    # before the period
    w.email("out", d(5, 1, year=2025), "Finn", thread="t9")
    w.email("in", d(5, 2, year=2025), "Finn", thread="t9")
    w.email("out", d(12, 10, year=2025), "Gus", thread="t11")
    w.email("in", d(12, 11, year=2025), "Gus", thread="t11")
    w.email("out", d(12, 12, year=2025), "Gus", thread="t11")
    # January
    w.email("out", d(1, 5, 10), "Ann", thread="t7")
    w.email("in", d(1, 20, 10), "Ann", thread="t7")
    w.email("out", d(1, 31, 23), "Ann", thread="t1", mid="a1@example.com")
    # February
    w.email("in", d(2, 1, 1), "Ann", thread="t1", in_reply_to="a1@example.com")
    w.email("in", d(2, 1, 8), "Newsletter", thread="n1", real=False)
    w.email("in", d(2, 3, 9), "Stranger", thread="t8")
    w.email("out", d(2, 10, 10), "Ben", thread="t2")
    w.email("in", d(2, 12, 9), "Ben", thread="t3")
    w.email("out", d(2, 14, 9), "Ben", thread="t3")
    w.email("in", d(2, 20, 9), "Dan", thread="t5")
    # March
    w.email("out", d(3, 1, 10), "Cleo", thread="t4", mid="c1@example.com")
    w.email("in", d(3, 2, 10), "Cleo", thread="gx", in_reply_to="c1@example.com")
    w.meeting(d(3, 5, 14), d(3, 5, 15), "Ann", "Ben")
    w.email("in", d(3, 12, 9), "Dan", thread="t6")
    w.email("out", d(3, 13, 9), "Ann", thread="t10")
    w.meeting(d(3, 20, 14), d(3, 20, 15), "Cleo")  # upcoming


@pytest.fixture
def world(store_url: str) -> Iterator[tuple[Store, int]]:
    store, owner_id = open_store(store_url)
    with store.session() as s, s.begin():
        build_world(World(s, owner_id))
    yield store, owner_id
    store.dispose()


def report(store: Store, owner_id: int, **kw: Any) -> dict[str, Any]:
    params = ReportParams(now=NOW, since=SINCE, tiers=TIERS, **kw)
    with store.session() as s:
        return build_report(s, owner_id, params)


def response(
    messages: int, answered: int, median: float | None, pending: int = 0
) -> dict[str, Any]:
    return {
        "messages": messages,
        "answered": answered,
        "rate": round(answered / messages, 4) if messages else None,
        "median_response_seconds": median,
        "pending": pending,
    }


HOUR = 3600
DAY = 86400


def test_interactions_by_month_and_direction(world: tuple[Store, int]) -> None:
    doc = report(*world)
    months = {m["month"]: m for m in doc["months"]}
    assert list(months) == ["2026-01", "2026-02", "2026-03"]
    pick = ("in", "out", "mutual", "total", "two_way")
    assert {k: months["2026-01"][k] for k in pick} == dict(zip(pick, (1, 2, 0, 3, 3), strict=True))
    # the noise and the meeting not held yet are left out; the stranger counts
    assert {k: months["2026-02"][k] for k in pick} == dict(zip(pick, (4, 2, 0, 6, 3), strict=True))
    # Cleo's reply from another thread answers her mail but does not make the thread two-way
    assert {k: months["2026-03"][k] for k in pick} == dict(zip(pick, (2, 2, 1, 5, 1), strict=True))
    assert doc["interactions"] == {
        "total": 14,
        "in": 7,
        "out": 6,
        "mutual": 1,
        "per_week": round(14 / 73.5 * 7, 2),
        "per_month": round(14 / PERIOD_MONTHS, 2),
        "two_way": 7,
        "two_way_share": 0.5,
    }


def test_response_rates_both_ways_with_medians(world: tuple[Store, int]) -> None:
    doc = report(*world)
    # sent: Jan 5 (answered after 15 days: no), Jan 31 (2 h), Feb 10 (no), Feb 14 (no),
    # Mar 1 (1 day, by In-Reply-To); Mar 13 pending
    assert doc["response"]["sent"] == response(5, 2, (2 * HOUR + DAY) / 2, pending=1)
    # received: only Ben's Feb 12 was answered (2 days); Dan's Mar 12 is pending
    assert doc["response"]["received"] == response(6, 1, 2 * DAY, pending=1)


def test_a_reply_across_a_month_boundary_counts_in_the_month_of_the_message(
    world: tuple[Store, int],
) -> None:
    months = {m["month"]: m for m in report(*world)["months"]}
    assert months["2026-01"]["sent_response"] == response(2, 1, 2 * HOUR)
    assert months["2026-02"]["sent_response"] == response(2, 0, None)
    assert months["2026-03"]["sent_response"] == response(1, 1, DAY, pending=1)
    assert months["2026-01"]["received_response"] == response(1, 0, None)
    assert months["2026-02"]["received_response"] == response(4, 1, 2 * DAY)
    assert months["2026-03"]["received_response"] == response(1, 0, None, pending=1)
    # the reply itself is February's interaction
    assert months["2026-02"]["in"] == 4


def test_a_longer_reply_window_counts_the_late_answer(world: tuple[Store, int]) -> None:
    doc = report(*world, reply_days=20)
    # Jan 5 is now answered (15 days); Mar 1 and later are pending (less than 20 days ago)
    assert doc["response"]["sent"] == response(4, 2, (2 * HOUR + 15 * DAY) / 2, pending=2)


def test_active_network_month_by_month_and_growth(world: tuple[Store, int]) -> None:
    doc = report(*world)
    active = [(m["month"], m["active_network"], m["active_change"]) for m in doc["months"]]
    # Jan: Ann (t7), Gus (t11 in December); Feb: + Ben (t3); Mar: Gus's December is > 90 days
    # back; Cleo wrote back only from another thread; Dan only wrote
    assert active == [("2026-01", 2, None), ("2026-02", 3, 1), ("2026-03", 2, -1)]
    assert doc["active_network"] == {
        "window_days": 90,
        "current": 2,
        "at_start": 2,
        "growth": 0,
        "growth_pct": 0.0,
    }


def test_active_network_now_is_the_contacts_with_two_way_90d(world: tuple[Store, int]) -> None:
    store, owner_id = world
    with store.session() as s:
        contacts = list_contacts(s, owner_id, NOW, Tiers(TIERS))
    two_way = sorted(c["name"] for c in contacts if c["two_way_90d"])
    assert two_way == ["Ann", "Ben"]
    assert report(store, owner_id)["active_network"]["current"] == len(two_way)


def test_tiers(world: tuple[Store, int]) -> None:
    tiers = {t["tier"]: t for t in report(*world)["tiers"]}
    assert list(tiers) == ["key", "regular", None]
    key, regular, none = tiers["key"], tiers["regular"], tiers[None]
    # key: Ann's 6 (the meeting counts once per tier) and Dan's 2
    assert (key["contacts"], key["contacts_reached"], key["interactions"]) == (4, 2, 8)
    assert (key["two_way"], key["two_way_share"]) == (5, 0.625)
    assert key["per_contact_per_month"] == round(8 / 4 / PERIOD_MONTHS, 3)
    assert key["sent_response"] == response(2, 1, 2 * HOUR, pending=1)
    assert key["received_response"] == response(3, 0, None, pending=1)
    assert (key["overdue"], key["dormant"], key["cadence_days"]) == (1, 0, 14)  # Gus; Hal is DNC
    assert (regular["contacts"], regular["contacts_reached"], regular["interactions"]) == (2, 1, 4)
    assert (regular["two_way"], regular["overdue"]) == (3, 1)  # Eve, never in touch
    assert regular["sent_response"] == response(2, 0, None)
    assert regular["received_response"] == response(1, 1, 2 * DAY)
    assert (none["contacts"], none["interactions"], none["two_way"]) == (2, 2, 0)
    assert none["sent_response"] == response(1, 1, DAY)
    assert none["received_response"] == response(1, 0, None)
    assert (none["overdue"], none["dormant"], none["cadence_days"]) == (0, 1, None)  # Finn


def test_overdue_dormant_and_neglected(world: tuple[Store, int]) -> None:
    doc = report(*world)
    assert (doc["overdue"], doc["dormant"]) == (2, 1)
    # Eve is overdue but was never two-way: not a relationship that lapsed
    assert [
        (n["name"], n["interactions"], n["days_silent"], n["overdue_days"])
        for n in doc["neglected"]
    ] == [("Gus", 3, 93, 79), ("Finn", 2, 317, None)]
    gus = doc["neglected"][0]
    assert gus["email"] == "gus@example.org" and gus["tier"] == "key"
    assert gus["last_interaction_at"] == "2025-12-12T12:00:00Z"


def test_no_interactions_at_all(store_url: str) -> None:
    store, owner_id = open_store(store_url)
    try:
        doc = report(store, owner_id)
    finally:
        store.dispose()
    assert doc["interactions"]["total"] == 0
    assert doc["interactions"]["two_way_share"] is None
    assert doc["response"] == {"sent": response(0, 0, None), "received": response(0, 0, None)}
    assert [m["active_network"] for m in doc["months"]] == [0, 0, 0]
    assert doc["active_network"]["growth_pct"] is None
    assert doc["tiers"] == [] or all(t["contacts"] == 0 for t in doc["tiers"])
    assert (doc["overdue"], doc["dormant"], doc["neglected"]) == (0, 0, [])


def test_only_inbound_mail(store_url: str) -> None:
    store, owner_id = open_store(store_url)
    try:
        with store.session() as s, s.begin():
            w = World(s, owner_id)
            w.contact("Dan", "key")
            w.email("in", d(1, 10), "Dan", thread="x1")
            w.email("in", d(2, 10), "Dan", thread="x1")
        doc = report(store, owner_id)
    finally:
        store.dispose()
    assert doc["interactions"]["total"] == 2 and doc["interactions"]["in"] == 2
    assert doc["interactions"]["two_way"] == 0
    assert doc["response"]["sent"] == response(0, 0, None)
    assert doc["response"]["received"] == response(2, 0, None)
    assert doc["active_network"]["current"] == 0
    # overdue (14 days since Feb 10), never two-way: not dormant, not neglected
    assert (doc["overdue"], doc["dormant"], doc["neglected"]) == (1, 0, [])


@pytest.mark.parametrize(
    ("hours", "median"),
    [([1], 1), ([1, 2, 10], 2), ([1, 2, 10, 40], 6), ([3, 1, 2, 9, 5, 4], 3.5)],
)
def test_median_is_the_middle_or_the_mean_of_the_two_middle(
    store_url: str, hours: list[int], median: float
) -> None:
    store, owner_id = open_store(store_url)
    try:
        with store.session() as s, s.begin():
            w = World(s, owner_id)
            w.contact("Ann", "key")
            for n, h in enumerate(hours):
                sent = d(2, 1 + n)
                w.email("out", sent, "Ann", thread=f"x{n}")
                w.email("in", sent + timedelta(hours=h), "Ann", thread=f"x{n}")
                w.email("in", sent + timedelta(hours=h + 1), "Ann", thread=f"x{n}")  # not first
        doc = report(store, owner_id)
    finally:
        store.dispose()
    assert doc["response"]["sent"] == response(len(hours), len(hours), median * HOUR)


def test_month_ends_and_the_default_period() -> None:
    assert month_ends(d(1, 15), d(3, 15)) == [
        ("2026-01", datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2026-02", datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2026-03", d(3, 15)),
    ]
    assert default_since(d(3, 15)) == datetime(2025, 4, 1, tzinfo=UTC)
    assert default_since(d(12, 31)) == datetime(2026, 1, 1, tzinfo=UTC)


def test_strength_parts_add_up_to_the_score() -> None:
    parts = strength_parts(d(3, 15) - timedelta(days=30), 6, 1, d(3, 15))
    assert parts == {"recency": 0.5, "frequency": 0.5, "reciprocity": 0.25}
    assert round(100 * (0.4 * 0.5 + 0.3 * 0.5 + 0.3 * 0.25)) == 42


# --- the command ---


def _cli_config(tmp_path: Path, store_url: str) -> Path:
    return write_config(
        tmp_path / "syncd.toml",
        '[tiers]\nkey = { cadence = "14d" }\nregular = { cadence = "90d" }\n',
        store_url=store_url,
    )


def test_report_json_and_tables_through_the_cli(
    world: tuple[Store, int], store_url: str, tmp_path: Path
) -> None:
    from syncd.cli.root import cli

    cfg = _cli_config(tmp_path, store_url)
    env = {"SYNCD_NOW": NOW.isoformat()}
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--config", str(cfg), "report", "--since", "2026-01-01", "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc == report(*world)
    text = runner.invoke(cli, ["--config", str(cfg), "report", "--since", "2026-01-01"], env=env)
    assert text.exit_code == 0, text.output
    for needle in ("Interactions", "2026-02", "Gus", "key", "regular", "40%"):
        assert needle in text.stdout, needle
    bad = runner.invoke(cli, ["--config", str(cfg), "report", "--since", "March"], env=env)
    assert bad.exit_code == 2


def test_contacts_show_explains_the_strength_and_list_sorts_by_it(
    world: tuple[Store, int], store_url: str, tmp_path: Path
) -> None:
    from syncd.cli.root import cli

    cfg = _cli_config(tmp_path, store_url)
    env = {"SYNCD_NOW": NOW.isoformat()}
    runner = CliRunner()
    shown = runner.invoke(
        cli, ["--config", str(cfg), "contacts", "show", "ann@example.org", "--json"], env=env
    )
    assert shown.exit_code == 0, shown.output
    ann = json.loads(shown.stdout)
    parts = ann["strength_parts"]
    assert set(parts) == {"recency", "frequency", "reciprocity"}
    score = 100 * (0.4 * parts["recency"] + 0.3 * parts["frequency"] + 0.3 * parts["reciprocity"])
    assert abs(score - ann["strength"]) <= 0.5
    text = runner.invoke(
        cli, ["--config", str(cfg), "contacts", "show", "ann@example.org"], env=env
    )
    assert "recency" in text.stdout and "reciprocity" in text.stdout
    listed = runner.invoke(
        cli, ["--config", str(cfg), "contacts", "list", "--sort", "strength", "--json"], env=env
    )
    scores = [c["strength"] for c in json.loads(listed.stdout)]
    assert scores == sorted(scores, reverse=True) and scores[0] == ann["strength"]


def test_staging_names_each_table_once_it_is_filled(world: tuple[Store, int]) -> None:
    """bench/report.py times the staging table by table through `on_staged`: each name comes
    after its table holds the period's rows."""
    from sqlalchemy import func, select, table

    from syncd.store.report_stage import staged

    store, owner_id = world
    filled: list[tuple[str, int]] = []
    with store.session() as s:

        def seen(name: str) -> None:
            filled.append((name, int(s.scalar(select(func.count()).select_from(table(name))) or 0)))

        with staged(s, owner_id, ReportParams(now=NOW, since=SINCE, tiers=TIERS), seen):
            pass
    names = ["report_items", "report_contacts", "report_buckets", "report_tier_pairs"]
    assert [name for name, _ in filled] == names
    assert all(n > 0 for _, n in filled)
