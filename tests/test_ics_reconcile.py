"""Proof of completeness for a folder of .ics files (issue 12, done-when 3): after a clean
`syncd accounts reconcile` every stream of an account with ``calendar = { kind = "ics" }``
is healthy in `syncd accounts status`; rows deleted from the store behind the daemon's back
are found and repaired, and the store equals what it was (nothing doubled). Through the
CLI, each command in a process of its own; then the three `Reconcilable` methods in
process, recurring series and the per-calendar budget included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import CursorExpired, RawEvent, StreamInfo
from connectors.ical import RecurrenceLimits
from connectors.ics import IcsFolderSource
from syncd.store.db import Store
from tests.test_reconcile import delete_rows, snapshot
from tests.test_reconcile_providers import (
    cli,
    count_sources,
    execute_on,
    healthy_after_a_clean_pass,
    repaired,
    stream_ids,
)
from tests.util import deliver, make_maildir, message, run_cli

# The source reads the folder at the real clock, as the daemon does; the CLI's SYNCD_NOW is
# pinned close to it so that both see the same window.
NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def single(uid: str, start: datetime) -> str:
    end = start + timedelta(hours=1)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T090000Z\r\n"
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{end:%Y%m%dT%H%M%SZ}\r\n"
        f"SUMMARY:Meeting {uid}\r\nORGANIZER:mailto:alex@contoso.example\r\n"
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{uid}@acme.example\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def weekly(uid: str, start: datetime, count: int) -> str:
    return single(uid, start).replace("SUMMARY:", f"RRULE:FREQ=WEEKLY;COUNT={count}\r\nSUMMARY:", 1)


def test_ics_rows_deleted_behind_the_back_are_repaired(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    cal.mkdir()
    for i in range(4):
        (cal / f"m{i}.ics").write_text(single(f"m{i}", NOW - timedelta(days=i + 1)))
    (cal / "standup.ics").write_text(weekly("standup", NOW - timedelta(days=20, hours=2), 5))
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
    db = tmp_path / "s.db"
    cfg = tmp_path / "syncd.toml"
    cfg.write_text(
        '[owner]\nname = "Alex Morgan"\naddresses = ["alex@contoso.example"]\n'
        f'timezone = "Europe/Berlin"\n[store]\nurl = "sqlite:///{db}"\n'
        f'[[accounts]]\nname = "local"\nkind = "maildir"\npath = "{mail}"\n'
        f'calendar = {{ kind = "ics", path = "{cal}" }}\n',
        encoding="utf-8",
    )
    env = {"SYNCD_NOW": NOW.isoformat(), "SYNCD_STATE_DIR": str(tmp_path / "state")}
    cli(cfg, env, "sync")
    names = healthy_after_a_clean_pass(cfg, env, "local")
    assert sorted(names) == ["calendar:cal", "mail:INBOX"]
    table = run_cli("--config", str(cfg), "accounts", "status", env=env)
    assert table.returncode == 0 and "Traceback" not in table.stderr, table.stderr
    assert "calendar:cal" in table.stdout and "healthy" in table.stdout, table.stdout
    assert "unverified" not in table.stdout and "not_reconcilable" not in table.stdout
    store = Store(f"sqlite:///{db}")
    try:
        before, sources = snapshot(store), count_sources(store)
        events = stream_ids(db, "calendar:cal")
        assert len(events) == 9  # four meetings, five instances of the stand-up
        series = [e for e in events if e.startswith("standup.ics#")]
        lost = ["m1.ics#m1#", series[-1]]  # a meeting and the last (recent) instance
        delete_rows(execute_on(db), lost)
        assert count_sources(store) == sources - 2
        found = repaired(cfg, env)
        assert found["calendar:cal"] == ("gap", 2, 2)
        assert found["mail:INBOX"] == ("ok", 0, 0)
        assert snapshot(store) == before and count_sources(store) == sources
        assert {v[2] for v in repaired(cfg, env).values()} == {0}  # nothing more
    finally:
        store.dispose()


# ------------------------------------------------------------------------- in process


def drain(source: IcsFolderSource, cursor: str | None) -> tuple[list[RawEvent], list[str], str]:
    items: list[RawEvent] = []
    removed: list[str] = []
    last = cursor
    for batch in source.poll(StreamInfo("cal", "calendar"), cursor, now=NOW):
        items.extend(e for e in batch.items if isinstance(e, RawEvent))
        removed.extend(batch.removed)
        last = batch.cursor
    assert last is not None
    return items, removed, last


def test_recent_ids_fetch_and_baseline_follow_poll(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    cal.mkdir()
    for i, days in enumerate((-20, -5, -1, 3, 8)):
        (cal / f"e{i}.ics").write_text(single(f"e{i}", NOW + timedelta(days=days)))
    for name in ("a", "b"):
        (cal / f"{name}.ics").write_text(weekly(name, NOW - timedelta(days=20), 4))
    # Two series of 4 and a budget of 6 for the calendar: the series poll reads second
    # loses its last two instances, and they are neither listed nor fetched.
    source = IcsFolderSource(
        cal, limits=RecurrenceLimits(per_event=4, per_calendar=6), clock=lambda: NOW
    )
    stream = StreamInfo("cal", "calendar")
    polled, _, cursor = drain(source, None)
    since = NOW - timedelta(days=14)
    assert len([e for e in polled if e.recurrence_id is not None]) == 6
    ids = source.recent_ids(stream, since, cursor=cursor)
    assert ids == {e.provider_id for e in polled if e.start >= since}
    assert {i for i in ids if i.startswith("e")} == {
        "e1.ics#e1#",
        "e2.ics#e2#",
        "e3.ics#e3#",
        "e4.ics#e4#",
    }
    fetched = [e for b in source.fetch(stream, sorted(ids)) for e in b.items]
    assert sorted(fetched, key=str) == sorted((e for e in polled if e.provider_id in ids), key=str)
    assert [e for b in source.fetch(stream, ["gone.ics#gone#"]) for e in b.items] == []
    with pytest.raises(CursorExpired):
        source.recent_ids(stream, since, cursor="not a cursor")
    # A baseline is a cursor from which a poll reads only what comes after it, and still
    # reports a removal of an event to come that was there before it.
    base = source.baseline(stream, now=NOW)
    assert drain(source, base)[:2] == ([], [])
    (cal / "new.ics").write_text(single("new", NOW + timedelta(days=2)))
    (cal / "e4.ics").unlink()
    items, removed, _ = drain(source, base)
    assert [e.uid for e in items] == ["new"]
    assert removed == ["e4.ics#e4#"]
