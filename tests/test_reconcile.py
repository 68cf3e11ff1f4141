"""Proof of completeness (issue 7, done-when 4): rows deleted from the store behind the
daemon's back are found by reconciliation, logged as ``reconcile.gap`` and repaired, so the
store equals what it was; a second reconciliation finds nothing, and cursors do not move.

Against a real Maildir and a real Dovecot, in-process (`reconcile_account`) and through
the CLI in a process of its own (`syncd accounts resync`, `accounts reconcile`, `accounts
status`), with the logs captured as JSON lines.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from connectors.base import Batch, Source, StreamInfo
from syncd.config import load_config
from syncd.store.db import Store
from syncd.sync.passes import AccountSources, Syncer, sources_for, sync_all
from syncd.sync.reconcile import (
    StreamCheck,
    reconcile_account,
    records_for,
    resync_account,
    stream_health,
)
from tests.dovecot import Dovecot, account_toml, append_messages, claim_user
from tests.util import deliver, make_maildir, message, run_cli, write_config

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ME = "alex@example.com"
DAY = 86_400

SNAPSHOT = {
    "interactions": "select message_key, kind, category, is_interaction, direction,"
    " occurred_at, ends_at, subject, thread_key, in_reply_to, reasons from interactions",
    "sources": "select i.message_key, s.account_id, s.stream_id, s.provider_id, s.folder,"
    " s.thread_id from interaction_sources s join interactions i on i.id = s.interaction_id",
    "participants": "select i.message_key, p.address, p.name, p.role, p.is_owner,"
    " p.is_counterpart, p.response, p.contact_id, p.kind, p.direction, p.is_interaction,"
    " p.occurred_at, p.ends_at from participants p join interactions i"
    " on i.id = p.interaction_id",
}


LUNCH = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:lunch-1@example.com
DTSTAMP:20261101T090000Z
DTSTART:20261120T120000Z
DTEND:20261120T130000Z
SUMMARY:Lunch
ORGANIZER:mailto:alex@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:priya@acme.example
END:VEVENT
END:VCALENDAR
"""


def mail(i: int, *, when: datetime, out: bool = False) -> bytes:
    other = f"person{i}@corp{i % 3}.example"
    return message(
        sender=ME if out else other,
        to=other if out else ME,
        subject=f"Topic {i}",
        date=when,
        message_id=f"m{i}@corp.example",
    )


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """The store's interactions, sources and participants by content (ids are renumbered)."""
    with store.session() as s:
        return {
            name: sorted(tuple(map(str, row)) for row in s.execute(text(sql)).all())
            for name, sql in SNAPSHOT.items()
        }


def cursors(store: Store) -> dict[str, tuple[str | None, str | None]]:
    with store.session() as s:
        rows = s.execute(text("select name, cursor, cursor_at from streams")).all()
    return {name: (cursor, str(at)) for name, cursor, at in rows}


DELETE_BEHIND_THE_BACK = """
delete from {table} where {column} in (
  select interaction_id from interaction_sources where provider_id in ({ids}))
"""


def delete_rows(execute: Any, provider_ids: list[str]) -> None:
    """What a botched restore or a stray script does: the interactions of these messages
    are gone with their sources and participants; streams and cursors stay as they were."""
    ids = ", ".join(f"'{p}'" for p in provider_ids)
    execute(DELETE_BEHIND_THE_BACK.format(table="participants", column="interaction_id", ids=ids))
    execute(
        "delete from interactions where id in (select interaction_id from interaction_sources"
        f" where provider_id in ({ids}))"
    )
    execute(
        DELETE_BEHIND_THE_BACK.format(table="interaction_sources", column="interaction_id", ids=ids)
    )


def provider_ids(store: Store, like: str) -> list[str]:
    with store.session() as s:
        rows = s.execute(
            text("select provider_id from interaction_sources where provider_id like :p"),
            {"p": like},
        ).all()
    return sorted(r[0] for r in rows)


def stamp_of(provider_id: str) -> int:
    """The delivery time a Maildir provider id (``folder/<seconds>.M...``) starts with."""
    return int(provider_id.split("/")[1].split(".")[0])


def gap_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "reconcile.gap"]


# ------------------------------------------------------------------------- Maildir


def maildir_setup(tmp_path: Path, *, calendar: bool = False) -> tuple[Syncer, Store, Path]:
    root = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    for i in range(8):  # in the window: the last week
        deliver(root, mail(i, when=NOW - timedelta(days=i)), stamp=int(NOW.timestamp()) - i * DAY)
    for i in range(8, 12):  # long before it
        stamp = int(NOW.timestamp()) - (100 + i) * DAY
        deliver(root, mail(i, when=NOW - timedelta(days=100 + i)), stamp=stamp)
    for i in range(12, 15):
        stamp = int(NOW.timestamp()) - (i - 10) * DAY
        deliver(root / "Sent", mail(i, when=NOW - timedelta(days=i - 10), out=True), stamp=stamp)
    cal = ""
    if calendar:
        (tmp_path / "cal").mkdir()
        (tmp_path / "cal" / "lunch.ics").write_text(LUNCH, encoding="utf-8")
        cal = f'calendar = {{ kind = "ics", path = "{tmp_path / "cal"}" }}\n'
    path = write_config(
        tmp_path / "syncd.toml",
        f'[store]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[[accounts]]\nname = "local"\nkind = "maildir"\npath = "{root}"\n{cal}',
    )
    config = load_config(path)
    store = Store(config.store_url)
    store.check_ready()
    return Syncer(store, config, store.ensure_owner("default", NOW)), store, root


def reconcile(syncer: Syncer, now: datetime = NOW) -> list[StreamCheck]:
    account = sources_for(syncer.connectors, syncer.config.settings.accounts[0])
    records = records_for(syncer.config.state_dir)
    return reconcile_account(syncer, account, now=now, window=timedelta(days=14), records=records)


def execute_on(store: Store) -> Any:
    def run(sql: str) -> None:
        with store.session() as s, s.begin():
            s.execute(text(sql))

    return run


def test_maildir_rows_deleted_behind_the_back_are_found_logged_and_repaired(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    syncer, store, _root = maildir_setup(tmp_path)
    assert sync_all(syncer, now_fn=lambda: NOW).errors == []
    before, moved_from = snapshot(store), cursors(store)
    assert len(before["interactions"]) == 15
    inbox = provider_ids(store, "INBOX/%")
    cut = NOW.timestamp() - 14 * DAY
    recent = [p for p in inbox if stamp_of(p) >= cut]
    old = [p for p in inbox if stamp_of(p) < cut]
    lost = [recent[0], recent[3], provider_ids(store, "Sent/%")[1]]
    delete_rows(execute_on(store), lost)
    assert len(snapshot(store)["interactions"]) == 12

    with caplog.at_level(logging.INFO, logger="syncd.reconcile"):
        checks = {c.stream: c for c in reconcile(syncer)}

    assert checks["mail:INBOX"].status == "gap"
    assert (checks["mail:INBOX"].missing, checks["mail:INBOX"].repaired) == (2, 2)
    assert checks["mail:INBOX"].checked == 8  # the window, not the whole folder
    assert (checks["mail:Sent"].status, checks["mail:Sent"].repaired) == ("gap", 1)
    logged = {r.stream: r for r in gap_records(caplog)}  # type: ignore[attr-defined]
    assert set(logged) == {"mail:INBOX", "mail:Sent"}
    assert logged["mail:INBOX"].count == 2  # type: ignore[attr-defined]
    assert logged["mail:INBOX"].account == "local"  # type: ignore[attr-defined]
    assert sorted(logged["mail:INBOX"].sample.split()) == sorted(lost[:2])  # type: ignore[attr-defined]
    assert snapshot(store) == before
    assert cursors(store) == moved_from, "reconciliation must not touch a cursor"

    # Nothing is missing any more, and nothing older than the window was even looked at.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="syncd.reconcile"):
        again = reconcile(syncer)
    assert [c.status for c in again] == ["ok", "ok"]
    assert sum(c.repaired for c in again) == 0
    assert gap_records(caplog) == []
    assert [r.getMessage() for r in caplog.records].count("reconcile.ok") == 2

    # A row lost outside the window is beyond reconciliation: `sync --full` is for that.
    delete_rows(execute_on(store), old[:1])
    assert sum(c.repaired for c in reconcile(syncer)) == 0
    syncer.connectors.close()


class PollOnly:
    """A source that can list its streams and poll them, and nothing more."""

    def __init__(self, inner: Source) -> None:
        self.inner = inner

    def streams(self) -> list[StreamInfo]:
        return self.inner.streams()

    def poll(
        self, stream: StreamInfo, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Batch]:
        return self.inner.poll(stream, cursor, now=now, full=full)


def test_a_source_that_cannot_list_ids_is_not_reconcilable_and_never_healthy(
    tmp_path: Path,
) -> None:
    # Every source kind syncd ships is reconcilable; a source with only `streams` and `poll`
    # (the .ics folder seen through those two, as a third-party source may be) is not.
    syncer, _store, _root = maildir_setup(tmp_path, calendar=True)
    sync_all(syncer, now_fn=lambda: NOW)
    full = sources_for(syncer.connectors, syncer.config.settings.accounts[0])
    account = AccountSources(
        full.name,
        full.kind,
        [(p, PollOnly(src) if p == "calendar:" else src) for p, src in full.sources],
    )
    records_of = records_for(syncer.config.state_dir)
    found = reconcile_account(
        syncer, account, now=NOW, window=timedelta(days=14), records=records_of
    )
    checks = {c.stream: c.status for c in found}
    assert checks["mail:INBOX"] == "ok"
    assert [s for s, v in checks.items() if s.startswith("calendar:")]
    assert all(v == "not_reconcilable" for s, v in checks.items() if s.startswith("calendar:"))
    records = records_for(syncer.config.state_dir).of_account(syncer.owner_id, "local")
    cal = next(s for s in records if s.startswith("calendar:"))
    health = stream_health(
        last_error=None, cursor=None, record=records[cal], now=NOW, interval=timedelta(hours=6)
    )
    assert health == "unverified"
    syncer.connectors.close()


def test_resync_re_baselines_every_cursor_after_reading_the_window(tmp_path: Path) -> None:
    syncer, store, root = maildir_setup(tmp_path)
    sync_all(syncer, now_fn=lambda: NOW)
    before = snapshot(store)
    delete_rows(execute_on(store), provider_ids(store, "INBOX/%")[-2:])  # the newest two
    with store.session() as s, s.begin():  # the cursor is lost
        s.execute(text("update streams set cursor = null"))
    later = NOW + timedelta(hours=1)
    account = sources_for(syncer.connectors, syncer.config.settings.accounts[0])
    checks = resync_account(syncer, account, now=later, since=NOW - timedelta(days=30))
    assert {c.stream: (c.status, c.repaired, c.rebaselined) for c in checks} == {
        "mail:INBOX": ("gap", 2, True),
        "mail:Sent": ("ok", 0, True),
    }
    assert snapshot(store) == before
    after = cursors(store)
    assert all(c is not None and str(at).startswith("2026-11-25 13:00") for c, at in after.values())
    # The fresh cursor is a working one: an unchanged folder costs nothing, a new message
    # is read by the next poll.
    report = sync_all(syncer, now_fn=lambda: later)
    assert sum(r.read for r in report.streams) == 0
    deliver(root, mail(40, when=later), stamp=int(later.timestamp()))
    report = sync_all(syncer, now_fn=lambda: later)
    assert sum(r.result.new_interactions for r in report.streams) == 1
    syncer.connectors.close()


# ------------------------------------------------------------------------- the CLI


class Cli:
    def __init__(self, tmp_path: Path, accounts: str) -> None:
        self.db = tmp_path / "state" / "syncd.db"
        self.env = {"SYNCD_NOW": NOW.isoformat()}
        self.config = write_config(
            tmp_path / "syncd.toml",
            f'[store]\nstate_dir = "{tmp_path / "state"}"\n{accounts}',
        )

    def run(self, *args: str, now: datetime = NOW) -> tuple[int, Any, list[dict[str, Any]]]:
        """(exit status, the JSON on stdout, the JSON log lines on stderr)."""
        proc = run_cli(
            "--config",
            str(self.config),
            "-v",
            "--log-format",
            "json",
            *args,
            "--json",
            env={"SYNCD_NOW": now.isoformat()},
        )
        logs = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
        assert proc.returncode == 0, proc.stderr
        return proc.returncode, json.loads(proc.stdout), logs

    def execute(self, sql: str) -> None:
        conn = sqlite3.connect(self.db)
        try:
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()

    def store(self) -> Store:
        return Store(f"sqlite:///{self.db}")


def status_of(doc: list[dict[str, Any]], account: str) -> dict[str, Any]:
    return next(a for a in doc if a["name"] == account)


def test_cli_resync_and_status_on_a_maildir(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    for i in range(6):
        deliver(root, mail(i, when=NOW - timedelta(days=i)), stamp=int(NOW.timestamp()) - i * DAY)
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "lunch.ics").write_text(LUNCH, encoding="utf-8")
    cli = Cli(
        tmp_path,
        f'[[accounts]]\nname = "local"\nkind = "maildir"\npath = "{root}"\n'
        f'calendar = {{ kind = "ics", path = "{tmp_path / "cal"}" }}\n',
    )
    cli.run("sync")
    store = cli.store()
    before = snapshot(store)
    _, status, _ = cli.run("accounts", "status")
    local = status_of(status, "local")
    assert local["health"] == "unverified"  # nothing has proved it complete yet
    assert {s["health"] for s in local["streams"]} == {"unverified"}

    _, checks, _ = cli.run("accounts", "reconcile")
    assert {c["stream"]: c["status"] for c in checks} == {
        "mail:INBOX": "ok",
        "mail:Sent": "ok",
        "calendar:cal": "ok",
    }
    _, status, _ = cli.run("accounts", "status")
    streams = {s["name"]: s for s in status_of(status, "local")["streams"]}
    assert streams["mail:INBOX"]["health"] == "healthy"
    assert streams["mail:INBOX"]["reconcile"]["status"] == "ok"
    assert streams["calendar:cal"]["health"] == "healthy"  # the .ics folder is proved too
    assert status_of(status, "local")["health"] == "healthy"

    lost = provider_ids(store, "INBOX/%")[1:4]
    delete_rows(cli.execute, lost)
    assert len(snapshot(store)["interactions"]) == 4  # 3 mails and the lunch are left

    # A reconciliation finds the gap and repairs it, but the cursor has not moved since:
    # the stream is "behind", not healthy, until a clean reconciliation or a resync.
    _, checks, logs = cli.run("accounts", "reconcile")
    inbox = next(c for c in checks if c["stream"] == "mail:INBOX")
    assert (inbox["status"], inbox["missing"], inbox["repaired"]) == ("gap", 3, 3)
    gaps = [line for line in logs if line["event"] == "reconcile.gap"]
    assert len(gaps) == 1, logs
    assert (gaps[0]["account"], gaps[0]["stream"], gaps[0]["count"]) == ("local", "mail:INBOX", 3)
    assert sorted(gaps[0]["sample"].split()) == lost
    assert snapshot(store) == before
    _, status, _ = cli.run("accounts", "status")
    streams = {s["name"]: s for s in status_of(status, "local")["streams"]}
    assert streams["mail:INBOX"]["health"] == "behind"
    assert status_of(status, "local")["health"] == "behind"
    proc = run_cli("--config", str(cli.config), "accounts", "status", env=cli.env)
    assert "behind" in proc.stdout

    # `accounts resync` re-reads 30 days and re-baselines: the cursor moved, so healthy.
    cli.execute(f"delete from interaction_sources where provider_id = '{lost[0]}'")
    later = NOW + timedelta(hours=1)
    _, checks, logs = cli.run("accounts", "resync", "local", "--since", "2026-11-01", now=later)
    inbox = next(c for c in checks if c["stream"] == "mail:INBOX")
    assert (inbox["status"], inbox["repaired"], inbox["rebaselined"]) == ("gap", 1, True)
    assert any(line["event"] == "reconcile.gap" for line in logs)
    assert snapshot(store) == before
    _, status, _ = cli.run("accounts", "status", now=later)
    streams = {s["name"]: s for s in status_of(status, "local")["streams"]}
    assert streams["mail:INBOX"]["health"] == "healthy"
    assert streams["mail:INBOX"]["cursor_at"] == "2026-11-25T13:00:00Z"

    _, checks, _ = cli.run("accounts", "reconcile", now=later)
    assert [c["repaired"] for c in checks] == [0, 0, 0]
    store.dispose()


# ------------------------------------------------------------------------- Dovecot


@pytest.mark.integration
def test_imap_rows_deleted_behind_the_back_are_repaired_on_dovecot(
    dovecot: Dovecot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Dovecot dates appended mail now (INTERNALDATE), so the window is the real clock's.
    now = datetime.now(UTC).replace(microsecond=0)
    user = claim_user(dovecot)
    append_messages(
        dovecot, user, "INBOX", [mail(i, when=now - timedelta(days=i)) for i in range(10)]
    )
    append_messages(dovecot, user, "Sent", [mail(20, when=now, out=True)])
    path = write_config(
        tmp_path / "syncd.toml",
        f'[store]\nstate_dir = "{tmp_path / "state"}"\n'
        + account_toml(dovecot, user, tmp_path, name="imap"),
    )
    config = load_config(path)
    store = Store(config.store_url)
    store.check_ready()
    syncer = Syncer(store, config, store.ensure_owner("default", now))
    try:
        assert sync_all(syncer, now_fn=lambda: now).errors == []
        before, moved_from = snapshot(store), cursors(store)
        inbox = provider_ids(store, "INBOX/%")
        assert len(inbox) == 10
        lost = [inbox[2], inbox[5], inbox[9], provider_ids(store, "Sent/%")[0]]
        delete_rows(execute_on(store), lost)

        with caplog.at_level(logging.INFO, logger="syncd.reconcile"):
            checks = {c.stream: c for c in reconcile(syncer, now)}
        assert (checks["mail:INBOX"].status, checks["mail:INBOX"].repaired) == ("gap", 3)
        assert (checks["mail:Sent"].status, checks["mail:Sent"].repaired) == ("gap", 1)
        logged = {r.stream: r.count for r in gap_records(caplog)}  # type: ignore[attr-defined]
        assert logged == {"mail:INBOX": 3, "mail:Sent": 1}
        assert snapshot(store) == before
        assert cursors(store) == moved_from

        # The kept connection still polls: new mail after a reconciliation is read once.
        assert [c.status for c in reconcile(syncer, now)] == ["ok", "ok"]
        append_messages(dovecot, user, "INBOX", [mail(30, when=now)])
        report = sync_all(syncer, now_fn=lambda: now)
        assert sum(r.result.new_interactions for r in report.streams) == 1

        # Resync re-baselines at UIDNEXT: the next poll reads nothing old.
        delete_rows(execute_on(store), [inbox[0]])
        account = sources_for(syncer.connectors, config.settings.accounts[0])
        checks_list = resync_account(syncer, account, now=now, since=now - timedelta(days=30))
        assert {c.stream: c.repaired for c in checks_list} == {"mail:INBOX": 1, "mail:Sent": 0}
        stored = json.loads(cursors(store)["mail:INBOX"][0] or "{}")
        assert stored["next"] == 12  # 10 + 1 + 1 appended to INBOX, UIDs from 1
        report = sync_all(syncer, now_fn=lambda: now)
        assert sum(r.read for r in report.streams) == 0
    finally:
        syncer.connectors.close()
        store.dispose()


@pytest.mark.integration
def test_cli_resync_on_dovecot(dovecot: Dovecot, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    user = claim_user(dovecot)
    append_messages(
        dovecot, user, "INBOX", [mail(i, when=now - timedelta(days=i)) for i in range(5)]
    )
    cli = Cli(tmp_path, account_toml(dovecot, user, tmp_path, name="imap"))
    cli.run("sync", now=now)
    store = cli.store()
    before = snapshot(store)
    lost = provider_ids(store, "INBOX/%")[-2:]
    delete_rows(cli.execute, lost)
    _, checks, logs = cli.run(
        "accounts",
        "resync",
        "imap",
        "--since",
        (now - timedelta(days=7)).date().isoformat(),
        now=now,
    )
    inbox = next(c for c in checks if c["stream"] == "mail:INBOX")
    assert (inbox["status"], inbox["missing"], inbox["repaired"]) == ("gap", 2, 2)
    events = [line["event"] for line in logs]
    assert "reconcile.gap" in events and "reconcile.rebaselined" in events
    assert snapshot(store) == before
    _, checks, _ = cli.run("accounts", "reconcile", now=now)
    assert [c["status"] for c in checks] == ["ok", "ok"]
    store.dispose()


def test_the_daemon_reconciles_an_account_after_its_pass_when_it_is_due(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from syncd.daemon.loop import Daemon

    syncer, store, _root = maildir_setup(tmp_path)
    clock, now = [0.0], [NOW]
    daemon = Daemon(
        syncer.config, store, syncer.owner_id, now=lambda: now[0], clock=lambda: clock[0]
    )

    def later(hours: float) -> None:
        clock[0] += hours * 3600
        now[0] += timedelta(hours=hours)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="syncd.reconcile"):
            daemon._pass()

    try:
        later(0)  # the first pass syncs, and reconciles: never done before
        before = snapshot(store)
        assert [r.getMessage() for r in caplog.records].count("reconcile.ok") == 2
        delete_rows(execute_on(store), provider_ids(store, "INBOX/%")[-2:])
        later(1)  # synced again, but reconciled an hour ago (reconcile_interval is 6h)
        assert caplog.records == []
        assert len(snapshot(store)["interactions"]) == len(before["interactions"]) - 2
        later(6)
        assert [(r.stream, r.count) for r in gap_records(caplog)] == [("mail:INBOX", 2)]  # type: ignore[attr-defined]
        assert snapshot(store) == before
    finally:
        daemon.connectors.close()
        syncer.connectors.close()
