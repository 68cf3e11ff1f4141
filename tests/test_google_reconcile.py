"""Proof of completeness for Gmail and Google Calendar (issue 12): `syncd accounts
reconcile` finds rows deleted behind the daemon's back in either stream and repairs them,
and `accounts status` shows each stream healthy after a clean pass. Against the fake
Google, through the CLI in a process of its own."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from connectors.google_auth import scopes_for
from tests.fake_google import FakeGoogle
from tests.test_google_e2e import NOW, seed
from tests.test_reconcile import Cli, delete_rows, snapshot, status_of

pytestmark = pytest.mark.e2e


def _ids(cli: Cli, stream: str) -> list[str]:
    store = cli.store()
    try:
        with store.session() as s:
            rows = s.execute(
                text(
                    "select s.provider_id from interaction_sources s"
                    " join streams t on t.id = s.stream_id where t.name = :n"
                ),
                {"n": stream},
            ).all()
    finally:
        store.dispose()
    return sorted(r[0] for r in rows)


def test_gmail_and_google_calendar_rows_deleted_behind_the_back_are_repaired(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    seed(fake_google)
    token = tmp_path / "state" / "credentials" / "work.json"
    token.parent.mkdir(parents=True)
    token.write_text(fake_google.authorized_user(scopes_for(["mail", "calendar"])))
    token.chmod(0o600)
    cli = Cli(
        tmp_path,
        '[[accounts]]\nname = "work"\nkind = "gmail"\ncalendar = { kind = "google" }\n'
        "quota_per_minute = 600000\n"
        "[accounts.endpoints]\n"
        f'gmail = "{fake_google.gmail_endpoint}"\ncalendar = "{fake_google.calendar_endpoint}"\n'
        f'token_uri = "{fake_google.token_uri}"\n',
    )
    cli.run("sync")
    store = cli.store()
    before = snapshot(store)
    store.dispose()

    _, checks, _ = cli.run("accounts", "reconcile")
    assert {c["stream"]: (c["status"], c["repaired"]) for c in checks} == {
        "mail:all": ("ok", 0),
        "calendar:primary": ("ok", 0),
    }
    assert next(c for c in checks if c["stream"] == "mail:all")["checked"] >= 60
    _, status, _ = cli.run("accounts", "status")
    work = status_of(status, "work")
    assert {s["name"]: s["health"] for s in work["streams"]} == {
        "mail:all": "healthy",
        "calendar:primary": "healthy",
    }
    assert work["health"] == "healthy"

    mail, events = _ids(cli, "mail:all"), _ids(cli, "calendar:primary")
    cutoff = (NOW - timedelta(days=14)).timestamp() * 1000
    recent = {m.id for m in fake_google.gmail.messages.values() if m.internal_ms >= cutoff}
    lost_mail, lost_event = [m for m in mail if m in recent][:3], events[:1]
    delete_rows(cli.execute, lost_mail + lost_event)
    store = cli.store()
    assert snapshot(store) != before
    store.dispose()

    _, checks, logs = cli.run("accounts", "reconcile")
    found = {c["stream"]: (c["status"], c["missing"], c["repaired"]) for c in checks}
    assert found == {"mail:all": ("gap", 3, 3), "calendar:primary": ("gap", 1, 1)}
    gaps = {
        line["stream"]: line["sample"].split() for line in logs if line["event"] == "reconcile.gap"
    }
    assert sorted(gaps["mail:all"]) == lost_mail and gaps["calendar:primary"] == lost_event
    store = cli.store()
    assert snapshot(store) == before
    store.dispose()

    _, checks, _ = cli.run("accounts", "reconcile")
    assert [c["status"] for c in checks] == ["ok", "ok"]

    # `accounts resync` re-baselines both streams; the next sync finds nothing new.
    _, checks, _ = cli.run("accounts", "resync", "work", "--since", "2026-11-01")
    assert {c["stream"]: (c["status"], c["rebaselined"]) for c in checks} == {
        "mail:all": ("ok", True),
        "calendar:primary": ("ok", True),
    }
    _, synced, _ = cli.run("sync")
    assert synced["new_interactions"] == 0, synced
    store = cli.store()
    assert snapshot(store) == before
    store.dispose()
