"""Proof of completeness for Graph mail, the Outlook calendar and CalDAV (issue 12,
done-when 3): after a clean `syncd accounts reconcile` every stream is healthy in
`syncd accounts status`; rows deleted from the store behind the daemon's back are found
and repaired, and the store equals what it was (nothing doubled). Through the CLI, each
command in a process of its own, against the fake Microsoft Graph and a real Radicale."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from connectors.base import StreamInfo
from connectors.outlook_calendar import STREAM as CAL_STREAM
from connectors.outlook_calendar import OutlookCalendarSource
from connectors.outlook_mail import OutlookMailSource
from syncd.store.db import Store
from tests.fake_microsoft import FakeMicrosoft
from tests.radicale import Radicale, make_calendar, radicale  # noqa: F401  # the fixture
from tests.test_caldav import Calendar, calendar, drain  # noqa: F401  # the fixture
from tests.test_caldav import vevent as dav_vevent
from tests.test_outlook import _close, make_api
from tests.test_outlook_e2e import ME, NOW, _setup, seed
from tests.test_reconcile import delete_rows, snapshot
from tests.util import deliver, make_maildir, message, run_cli

__all__ = ["_close"]  # the autouse fixture that closes the Graph clients


def cli(cfg: Path, env: dict[str, str], *args: str) -> Any:
    proc = run_cli("--config", str(cfg), *args, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def stream_ids(db: Path, stream: str) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "select s.provider_id from interaction_sources s join streams t"
            " on t.id = s.stream_id where t.name = ? order by s.provider_id",
            (stream,),
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def execute_on(db: Path) -> Any:
    def execute(sql: str) -> None:
        conn = sqlite3.connect(db)
        try:
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()

    return execute


def count_sources(store: Store) -> int:
    with store.session() as s:
        return int(s.execute(text("select count(*) from interaction_sources")).scalar_one())


def healthy_after_a_clean_pass(cfg: Path, env: dict[str, str], account: str) -> list[str]:
    checks = cli(cfg, env, "accounts", "reconcile")
    assert {c["status"] for c in checks if c["account"] == account} == {"ok"}, checks
    status = next(a for a in cli(cfg, env, "accounts", "status") if a["name"] == account)
    assert {s["name"]: s["health"] for s in status["streams"]} == {
        s["name"]: "healthy" for s in status["streams"]
    }, status
    assert status["health"] == "healthy"
    return [s["name"] for s in status["streams"]]


def repaired(cfg: Path, env: dict[str, str]) -> dict[str, tuple[str, int, int]]:
    checks = cli(cfg, env, "accounts", "reconcile")
    return {c["stream"]: (c["status"], c["missing"], c["repaired"]) for c in checks}


# ------------------------------------------------------------------------- Microsoft Graph


def _graph(tmp_path: Path, fake: FakeMicrosoft) -> tuple[Path, dict[str, str], Store, Path]:
    seed(fake)
    cfg, env = _setup(tmp_path, fake)
    cli(cfg, env, "sync")
    db = tmp_path / "s.db"
    names = healthy_after_a_clean_pass(cfg, env, "m365")
    assert sorted(names) == ["calendar:calendar", "mail:inbox", "mail:sentitems"]
    return cfg, env, Store(f"sqlite:///{db}"), db


@pytest.mark.e2e
def test_graph_mail_rows_deleted_behind_the_back_are_repaired(
    tmp_path: Path, fake_microsoft: FakeMicrosoft
) -> None:
    cfg, env, store, db = _graph(tmp_path, fake_microsoft)
    try:
        before, sources = snapshot(store), count_sources(store)
        inbox, sent = stream_ids(db, "mail:inbox"), stream_ids(db, "mail:sentitems")
        lost = [*inbox[3:6], sent[0]]
        delete_rows(execute_on(db), lost)
        assert count_sources(store) == sources - 4
        found = repaired(cfg, env)
        assert found["mail:inbox"] == ("gap", 3, 3)
        assert found["mail:sentitems"] == ("gap", 1, 1)
        assert found["calendar:calendar"] == ("ok", 0, 0)
        assert snapshot(store) == before and count_sources(store) == sources
        assert {v[2] for v in repaired(cfg, env).values()} == {0}  # nothing more
    finally:
        store.dispose()


@pytest.mark.e2e
def test_outlook_calendar_rows_deleted_behind_the_back_are_repaired(
    tmp_path: Path, fake_microsoft: FakeMicrosoft
) -> None:
    cfg, env, store, db = _graph(tmp_path, fake_microsoft)
    try:
        before, sources = snapshot(store), count_sources(store)
        recent = {
            e.id
            for e in fake_microsoft.graph.events.values()
            if NOW - timedelta(days=14) <= e.start <= NOW and "transactionId" not in e.props
        }
        lost = sorted(set(stream_ids(db, "calendar:calendar")) & recent)
        assert len(lost) == 2  # the kick-off and the last weekly instance
        delete_rows(execute_on(db), lost)
        found = repaired(cfg, env)
        assert found["calendar:calendar"] == ("gap", 2, 2)
        assert found["mail:inbox"] == ("ok", 0, 0)
        assert snapshot(store) == before and count_sources(store) == sources
    finally:
        store.dispose()


# ------------------------------------------------------------------------- CalDAV


def _vevent(uid: str, start: Any) -> str:
    end = start + timedelta(hours=1)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T090000Z\r\n"
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{end:%Y%m%dT%H%M%SZ}\r\n"
        f"SUMMARY:Meeting {uid}\r\nORGANIZER:mailto:alex@contoso.example\r\n"
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{uid}@acme.example\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@pytest.mark.integration
def test_caldav_rows_deleted_behind_the_back_are_repaired(
    tmp_path: Path,
    radicale: Radicale,  # noqa: F811  # the fixture
) -> None:
    name = "rec" + uuid.uuid4().hex[:8]
    client, url = make_calendar(radicale, "alex", "secret", name)
    for i in range(5):
        response = client.put(
            f"{url}m{i}.ics",
            _vevent(f"m{i}", NOW - timedelta(days=i + 1)),
            {"Content-Type": "text/calendar; charset=utf-8"},
        )
        assert response.status in (201, 204)
    mail = make_maildir(tmp_path / "mail", "INBOX")
    deliver(
        mail,
        message(
            sender="Zoe <zoe@example.net>",
            to="alex@contoso.example",
            subject="Hi",
            date=NOW - timedelta(days=1),
            message_id="z1@example.net",
        ),
    )
    secret = tmp_path / "dav.pass"
    secret.write_text("secret")
    secret.chmod(0o600)
    db = tmp_path / "s.db"
    cfg = tmp_path / "syncd.toml"
    cfg.write_text(
        '[owner]\nname = "Alex Morgan"\naddresses = ["alex@contoso.example"]\n'
        f'timezone = "Europe/Berlin"\n[store]\nurl = "sqlite:///{db}"\n'
        f'[[accounts]]\nname = "local"\nkind = "maildir"\npath = "{mail}"\n'
        f'calendar = {{ kind = "caldav", url = "{radicale.url}", username = "alex",'
        f' password_file = "{secret}", calendar = "{name}" }}\n',
        encoding="utf-8",
    )
    env = {"SYNCD_NOW": NOW.isoformat(), "SYNCD_STATE_DIR": str(tmp_path / "state")}
    cli(cfg, env, "sync")
    names = healthy_after_a_clean_pass(cfg, env, "local")
    assert sorted(names) == [f"calendar:{name}", "mail:INBOX"]
    store = Store(f"sqlite:///{db}")
    try:
        before, sources = snapshot(store), count_sources(store)
        events = stream_ids(db, f"calendar:{name}")
        assert len(events) == 5
        delete_rows(execute_on(db), events[1:3])
        found = repaired(cfg, env)
        assert found[f"calendar:{name}"] == ("gap", 2, 2)
        assert found["mail:INBOX"] == ("ok", 0, 0)
        assert snapshot(store) == before and count_sources(store) == sources
        assert {v[2] for v in repaired(cfg, env).values()} == {0}
    finally:
        store.dispose()


# ------------------------------------------------------------------------- in process


@pytest.mark.integration
def test_caldav_recent_ids_fetch_and_baseline(calendar: Calendar) -> None:  # noqa: F811
    from tests.test_caldav import NOW as DAV_NOW

    for i, days in enumerate((-20, -5, -1, 3, 8)):
        calendar.put(f"e{i}", dav_vevent(f"e{i}", DAV_NOW + timedelta(days=days)))
    source = calendar.source()
    stream = StreamInfo(name=calendar.name, kind="calendar")
    polled, _, cursor, _ = drain(source, None)
    since = DAV_NOW - timedelta(days=14)
    ids = source.recent_ids(stream, since, cursor=cursor)
    assert ids == {e.provider_id for e in polled if e.start >= since}
    assert len(ids) == 4
    fetched = [e for b in source.fetch(stream, ids) for e in b.items]
    assert sorted(fetched, key=str) == sorted((e for e in polled if e.provider_id in ids), key=str)
    # A baseline is a cursor from which a poll reads only what comes after it, and still
    # reports a removal of an event to come that was there before it.
    base = source.baseline(stream, now=DAV_NOW)
    assert drain(source, base)[:2] == ([], [])
    calendar.put("new", dav_vevent("new", DAV_NOW + timedelta(days=2)))
    calendar.delete("e4")
    items, removed, _, _ = drain(source, base)
    assert [e.uid for e in items] == ["new"]
    assert removed == [f"{calendar.href('e4')}#e4#"]


def test_graph_baselines_read_only_what_comes_after_them(fake_microsoft: FakeMicrosoft) -> None:
    fake = fake_microsoft
    seed(fake)
    api = make_api(fake)
    mail = OutlookMailSource(api)
    cal = OutlookCalendarSource(api)
    inbox = StreamInfo("inbox", "mail", "inbox")
    base = mail.baseline(inbox, now=NOW)
    cal_base = cal.baseline(CAL_STREAM, now=NOW)
    assert [i for b in mail.poll(inbox, base, now=NOW) for i in b.items] == []
    assert [i for b in cal.poll(CAL_STREAM, cal_base, now=NOW) for i in b.items] == []
    mid = fake.graph.add_message(sender="zoe@example.net", received=NOW, subject="New")
    [eid] = fake.graph.add_event("New", NOW + timedelta(days=1), NOW + timedelta(days=1, hours=1))
    assert [i.provider_id for b in mail.poll(inbox, base, now=NOW) for i in b.items] == [mid]
    assert [i.provider_id for b in cal.poll(CAL_STREAM, cal_base, now=NOW) for i in b.items] == [
        eid
    ]
    # recent_ids are the ids poll yields for the window, drafts and syncd's holds left out.
    fake.graph.add_message(sender=ME, received=NOW, draft=True)
    ids = mail.recent_ids(inbox, NOW - timedelta(days=14), cursor=base)
    stored = [i for b in mail.poll(inbox, None, now=NOW) for i in b.items]
    assert ids == {i.provider_id for i in stored if i.internal_date >= NOW - timedelta(days=14)}
    fetched = [i for b in mail.fetch(inbox, sorted(ids)) for i in b.items]
    assert sorted(fetched, key=lambda m: m.provider_id) == sorted(
        (i for i in stored if i.provider_id in ids), key=lambda m: m.provider_id
    )
