"""Ingest end to end through real sources and a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from syncd.config import load_config
from syncd.contacts.views import Tiers, forget, history, list_contacts, merge, resolve_contact
from syncd.store.db import Store
from syncd.store.models import (
    Contact,
    ContactAddress,
    Interaction,
    InteractionSource,
    Participant,
    Stream,
)
from syncd.sync.passes import Syncer, sync_all
from tests.util import deliver, make_maildir, message, write_config

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def _setup(tmp_path: Path, store_url: str, accounts: str, extra: str = "") -> tuple[Syncer, Store]:
    cfg_path = write_config(tmp_path / "syncd.toml", extra + accounts, store_url=store_url)
    config = load_config(cfg_path)
    store = Store(config.store_url)
    store.check_ready()
    owner_id = store.ensure_owner("default", NOW)
    return Syncer(store, config, owner_id), store


def _sync(syncer: Syncer, **kw: object):  # type: ignore[no-untyped-def]
    return sync_all(syncer, now_fn=lambda: NOW, **kw)  # type: ignore[arg-type]


def _counts(store: Store) -> dict[str, int]:
    with store.session() as s:
        return {
            name: s.scalar(select(func.count()).select_from(model)) or 0
            for name, model in (
                ("interactions", Interaction),
                ("sources", InteractionSource),
                ("participants", Participant),
                ("contacts", Contact),
                ("addresses", ContactAddress),
            )
        }


def _thread(mail: Path) -> None:
    """A two-way thread with Priya, a newsletter, and an inbound mail nobody answered."""
    deliver(
        mail / "Sent",
        message(
            sender="Alex Morgan <alex@example.com>",
            to="Priya Raman <priya@acme.example>",
            subject="Proposal",
            date=T0,
            message_id="p1@example.com",
        ),
    )
    deliver(
        mail,
        message(
            sender="Priya Raman <priya@acme.example>",
            to="alex@example.com",
            subject="Re: Proposal",
            date=T0 + timedelta(days=1),
            message_id="p2@acme.example",
            in_reply_to="p1@example.com",
        ),
    )
    deliver(
        mail,
        message(
            sender="News <news@letters.example>",
            to="alex@example.com",
            subject="Weekly",
            date=T0,
            message_id="n1@letters.example",
            extra={
                "List-Id": "<weekly.letters.example>",
                "List-Unsubscribe": "<mailto:u@letters.example>",
                "Precedence": "bulk",
            },
        ),
    )
    deliver(
        mail,
        message(
            sender="Cold Caller <cold@sales.example>",
            to="alex@example.com",
            subject="Quick question",
            date=T0,
            message_id="c1@sales.example",
        ),
    )


def _maildir_account(name: str, path: Path, calendar: Path | None = None) -> str:
    cal = f'\ncalendar = {{ kind = "ics", path = "{calendar}" }}' if calendar else ""
    return f'\n[[accounts]]\nname = "{name}"\nkind = "maildir"\npath = "{path}"{cal}\n'


def test_sync_stores_interactions_contacts_by_policy_and_second_sync_changes_nothing(
    tmp_path: Path, store_url: str
) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    _thread(mail)
    syncer, store = _setup(tmp_path, store_url, _maildir_account("work", mail))
    report = _sync(syncer)
    assert not report.errors
    first = _counts(store)
    assert first["interactions"] == 4
    assert first["contacts"] == 1  # only Priya: the owner wrote to her
    with store.session() as s:
        rows = list_contacts(s, syncer.owner_id, NOW, Tiers({}))
        [priya] = rows
        assert priya["emails"] == ["priya@acme.example"]
        assert priya["name"] == "Priya Raman"
        assert priya["interactions_90d"] == 2
        assert priya["two_way_90d"] == 2
        assert priya["last_interaction_at"] == "2026-10-02T09:00:00Z"
        noise = s.scalar(select(Interaction).where(Interaction.category == "newsletter"))
        assert noise is not None and noise.is_interaction is False
    again = _sync(syncer)
    assert again.total().new_interactions == 0
    assert sum(r.read for r in again.streams) == 0  # unchanged folders are not even opened
    assert _counts(store) == first
    full = _sync(syncer, full=True)
    assert sum(r.read for r in full.streams) == 4
    assert _counts(store) == first
    store.dispose()


def test_contact_created_later_links_earlier_mail(tmp_path: Path, store_url: str) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    deliver(
        mail,
        message(
            sender="Jo <jo@example.org>",
            to="alex@example.com",
            subject="Hi",
            date=T0,
            message_id="j1@example.org",
        ),
    )
    syncer, store = _setup(tmp_path, store_url, _maildir_account("work", mail))
    _sync(syncer)
    assert _counts(store)["contacts"] == 0  # inbound only: no contact under "written"
    deliver(
        mail / "Sent",
        message(
            sender="alex@example.com",
            to="Jo <jo@example.org>",
            subject="Re: Hi",
            date=T0 + timedelta(hours=2),
            message_id="j2@example.com",
            in_reply_to="j1@example.org",
        ),
    )
    _sync(syncer)
    with store.session() as s:
        [jo] = list_contacts(s, syncer.owner_id, NOW, Tiers({}))
        assert jo["interactions_90d"] == 2 and jo["two_way_90d"] == 2
    store.dispose()


@pytest.mark.parametrize(("policy", "contacts"), [("all", 2), ("none", 0), ("written", 1)])
def test_contact_policy(tmp_path: Path, policy: str, contacts: int) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    _thread(mail)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    syncer, store = _setup(
        tmp_path, url, _maildir_account("work", mail), f'[sync]\ncontact_policy = "{policy}"\n'
    )
    _sync(syncer)
    assert _counts(store)["contacts"] == contacts
    store.dispose()


def test_same_message_in_two_accounts_is_one_interaction_with_two_sources(
    tmp_path: Path, store_url: str
) -> None:
    a = make_maildir(tmp_path / "a", "INBOX", "Sent")
    b = make_maildir(tmp_path / "b", "INBOX", "Archive")
    data = message(
        sender="Priya <priya@acme.example>",
        to="alex@example.com, alex.morgan@example.com",
        subject="Both",
        date=T0,
        message_id="Same.ID@Acme.Example",
    )
    deliver(a, data)
    deliver(b / "Archive", data.replace(b"<Same.ID@Acme.Example>", b"< same.id@acme.example >"))
    syncer, store = _setup(
        tmp_path, store_url, _maildir_account("one", a) + _maildir_account("two", b)
    )
    _sync(syncer)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Interaction)) == 1
        assert s.scalar(select(func.count()).select_from(InteractionSource)) == 2
        [item] = history(s, syncer.owner_id, ["priya@acme.example"], NOW)
    assert item["accounts"] == ["one", "two"]
    assert {src["account"] for src in item["sources"]} == {"one", "two"}
    for field in (
        "id",
        "kind",
        "direction",
        "occurred_at",
        "subject",
        "thread",
        "accounts",
        "participants",
        "sources",
    ):
        assert field in item
    assert item["kind"] == "email" and item["direction"] == "in"
    assert "priya@acme.example" in item["participants"]
    store.dispose()


ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20261001T000000Z
DTSTART:{start}
DTEND:{end}
SUMMARY:{summary}
ORGANIZER;CN=Alex:mailto:alex@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:alex@example.com
ATTENDEE;CN=Priya Raman;PARTSTAT={partstat}:mailto:priya@acme.example
ATTENDEE;CUTYPE=ROOM;PARTSTAT=ACCEPTED:mailto:room1@example.com
{extra}END:VEVENT
END:VCALENDAR
"""


def _event(
    folder: Path,
    uid: str,
    start: str,
    end: str,
    *,
    partstat: str = "ACCEPTED",
    extra: str = "",
    summary: str = "Review",
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = ICS.format(
        uid=uid, start=start, end=end, partstat=partstat, extra=extra, summary=summary
    )
    (folder / f"{uid}.ics").write_text(text.replace("\n", "\n"), encoding="utf-8")


def test_meeting_in_two_calendars_is_one_interaction(tmp_path: Path, store_url: str) -> None:
    a, b = make_maildir(tmp_path / "a", "INBOX"), make_maildir(tmp_path / "b", "INBOX")
    for cal in (tmp_path / "cal-a", tmp_path / "cal-b"):
        _event(cal, "m1@example.com", "20261020T090000Z", "20261020T100000Z")
        _event(
            cal,
            "weekly@example.com",
            "20261102T090000Z",
            "20261102T093000Z",
            extra="RRULE:FREQ=WEEKLY;COUNT=6\n",
        )
    # Declined by the other person, and one that has not ended yet: neither counts.
    _event(
        tmp_path / "cal-a",
        "declined@example.com",
        "20261021T090000Z",
        "20261021T100000Z",
        partstat="DECLINED",
    )
    _event(tmp_path / "cal-a", "later@example.com", "20261201T090000Z", "20261201T100000Z")
    syncer, store = _setup(
        tmp_path,
        store_url,
        _maildir_account("one", a, tmp_path / "cal-a")
        + _maildir_account("two", b, tmp_path / "cal-b"),
        '[sync]\ncontact_policy = "all"\n',
    )
    report = _sync(syncer)
    assert not report.errors, report.errors
    with store.session() as s:
        meetings = s.scalars(select(Interaction).where(Interaction.kind == "meeting")).all()
        keys = sorted(m.message_key for m in meetings)
        # m1, 6 weekly instances, the declined one and the upcoming one: one row each.
        assert len(keys) == len(set(keys)) == 9
        real = history(s, syncer.owner_id, ["priya@acme.example"], NOW)
        # m1 plus the weekly instances that ended by NOW (Nov 2, 9, 16, 23).
        assert len(real) == 5
        assert all(i["direction"] == "mutual" and i["kind"] == "meeting" for i in real)
        assert all(i["accounts"] == ["one", "two"] for i in real)
        assert "room1@example.com" not in real[0]["counterparts"]
        # Counted once the clock passes its end.
        later = history(s, syncer.owner_id, ["priya@acme.example"], NOW + timedelta(days=10))
        assert len(later) == 7
    store.dispose()


def test_moved_and_cancelled_event_updates_the_meeting(tmp_path: Path) -> None:
    mail = make_maildir(tmp_path / "m", "INBOX")
    cal = tmp_path / "cal"
    _event(cal, "mv@example.com", "20261020T090000Z", "20261020T100000Z")
    syncer, store = _setup(
        tmp_path, f"sqlite:///{tmp_path / 'db'}", _maildir_account("one", mail, cal)
    )
    _sync(syncer)
    _event(cal, "mv@example.com", "20261022T150000Z", "20261022T160000Z", summary="Moved")
    _sync(syncer)
    with store.session() as s:
        [m] = s.scalars(select(Interaction).where(Interaction.kind == "meeting")).all()
        assert m.subject == "Moved" and m.occurred_at == datetime(2026, 10, 22, 15, tzinfo=UTC)
    _event(
        cal, "mv@example.com", "20261022T150000Z", "20261022T160000Z", extra="STATUS:CANCELLED\n"
    )
    _sync(syncer)
    with store.session() as s:
        assert history(s, syncer.owner_id, ["priya@acme.example"], NOW) == []
    store.dispose()


def test_expired_cursor_resyncs_without_duplicates(tmp_path: Path, store_url: str) -> None:
    mail = make_maildir(tmp_path / "m", "INBOX", "Sent")
    _thread(mail)
    cal = tmp_path / "cal"
    _event(cal, "m1@example.com", "20261020T090000Z", "20261020T100000Z")
    syncer, store = _setup(tmp_path, store_url, _maildir_account("one", mail, cal))
    _sync(syncer)
    before = _counts(store)
    with store.session() as s, s.begin():
        s.execute(update(Stream).where(Stream.kind == "calendar").values(cursor='{"v": 99}'))
    report = _sync(syncer)
    assert [r.resynced for r in report.streams if r.kind == "calendar"] == [True]
    assert _counts(store) == before
    store.dispose()


def test_forget_removes_everything_and_keeps_them_out(tmp_path: Path, store_url: str) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    _thread(mail)
    deliver(
        mail / "Sent",
        message(
            sender="alex@example.com",
            to="priya@acme.example, ben@acme.example",
            subject="Both of you",
            date=T0,
            message_id="both@example.com",
        ),
    )
    syncer, store = _setup(tmp_path, store_url, _maildir_account("work", mail))
    _sync(syncer)
    with store.session() as s, s.begin():
        counts = forget(s, syncer.owner_id, "Priya@ACME.example", NOW)
    assert counts["contacts"] == 1 and counts["interactions"] == 2
    with store.session() as s:
        assert (
            s.scalar(select(func.count()).where(Participant.address == "priya@acme.example")) == 0
        )
        assert history(s, syncer.owner_id, ["priya@acme.example"], NOW, include_noise=True) == []
        # The mail to both stays, for Ben.
        assert len(history(s, syncer.owner_id, ["ben@acme.example"], NOW)) == 1
    _sync(syncer, full=True)
    deliver(
        mail,
        message(
            sender="Priya <priya@acme.example>",
            to="alex@example.com",
            subject="Again",
            date=T0 + timedelta(days=9),
            message_id="p9@acme.example",
        ),
    )
    _sync(syncer)
    with store.session() as s:
        assert (
            s.scalar(select(func.count()).where(Participant.address == "priya@acme.example")) == 0
        )
        assert s.scalar(select(func.count()).select_from(Contact)) == 1  # Ben
    store.dispose()


def test_block_list_and_skip_internal(tmp_path: Path) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    deliver(
        mail,
        message(
            sender="hr@people.corp.example",
            to="alex@example.com",
            subject="Salary",
            date=T0,
            message_id="b1@corp.example",
        ),
    )
    deliver(
        mail,
        message(
            sender="lena@example.com",
            to="alex@example.com",
            subject="Lunch?",
            date=T0,
            message_id="i1@example.com",
        ),
    )
    deliver(
        mail / "Sent",
        message(
            sender="alex@example.com",
            to="jo@example.org",
            subject="Hello",
            date=T0,
            message_id="o1@example.com",
        ),
    )
    syncer, store = _setup(
        tmp_path,
        f"sqlite:///{tmp_path / 'db'}",
        _maildir_account("w", mail),
        '[privacy]\nblock = ["corp.example"]\nskip_internal = true\n',
    )
    report = _sync(syncer)
    assert report.total().skipped_private == 2
    with store.session() as s:
        addresses = set(s.scalars(select(Participant.address)))
    assert addresses == {"alex@example.com", "jo@example.org"}
    store.dispose()


def test_merge_moves_addresses_and_history(tmp_path: Path, store_url: str) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    for i, addr in enumerate(("daniel@northwind.example", "d.kim@northwind.example")):
        deliver(
            mail / "Sent",
            message(
                sender="alex@example.com",
                to=f"Daniel Kim <{addr}>",
                subject="Follow-up",
                date=T0 + timedelta(days=i),
                message_id=f"d{i}@example.com",
            ),
        )
    syncer, store = _setup(tmp_path, store_url, _maildir_account("w", mail))
    _sync(syncer)
    with store.session() as s, s.begin():
        keep = resolve_contact(s, syncer.owner_id, "daniel@northwind.example")
        other = resolve_contact(s, syncer.owner_id, "d.kim@northwind.example")
        merge(s, syncer.owner_id, keep, other, NOW)
    with store.session() as s:
        [row] = list_contacts(s, syncer.owner_id, NOW, Tiers({}))
    assert sorted(row["emails"]) == ["d.kim@northwind.example", "daniel@northwind.example"]
    assert row["interactions_90d"] == 2
    store.dispose()


def test_gmail_variants_are_one_contact(tmp_path: Path) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    for i, addr in enumerate(("John.Doe+work@gmail.com", "johndoe@googlemail.com")):
        deliver(
            mail / "Sent",
            message(
                sender="alex@example.com",
                to=addr,
                subject="x",
                date=T0 + timedelta(days=i),
                message_id=f"g{i}@example.com",
            ),
        )
    syncer, store = _setup(tmp_path, f"sqlite:///{tmp_path / 'db'}", _maildir_account("w", mail))
    _sync(syncer)
    with store.session() as s:
        [row] = list_contacts(s, syncer.owner_id, NOW, Tiers({}))
    assert row["emails"] == ["johndoe@gmail.com"] and row["interactions_90d"] == 2
    store.dispose()
