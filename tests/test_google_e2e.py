"""`syncd run --once` end to end with a gmail account and its Google calendar, against the
fake Google: mail and events are stored, a no_reply draft lands in its Gmail thread and a
dormant hold in the calendar, a second run creates nothing, and with a tenth of the
requests failing (5xx, 429, dropped connections, batch parts included, answers lost after
Google made the object: drafts.create and events.insert among them) the outcome is the
same as without faults. The fake is strict: Gmail's per-user quota window (scaled to
60,000 units a minute, the account's quota_per_minute) and 10 concurrent requests."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.google_auth import scopes_for
from tests.fake_google import FakeGoogle
from tests.util import run_cli

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ME = "alex@example.com"


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def seed(fake: FakeGoogle) -> None:
    g = fake.gmail
    sent = g.add_message(
        {
            "From": f"Alex Morgan <{ME}>",
            "To": "Priya Raman <priya@acme.example>",
            "Subject": "Contract",
            "Date": "Mon, 16 Nov 2026 10:00:00 +0000",
            "Message-ID": "<c1@example.com>",
        },
        labels=("SENT",),
        internal_ms=_ms(NOW - timedelta(days=9)),
    )
    assert sent
    old = NOW - timedelta(days=250)
    first = g.add_message(
        {
            "From": ME,
            "To": "Sophie Laurent <sophie@studio.example>",
            "Subject": "Brand workshop",
            "Date": "Sat, 21 Mar 2026 10:00:00 +0000",
            "Message-ID": "<s1@example.com>",
        },
        labels=("SENT",),
        internal_ms=_ms(old),
    )
    g.add_message(
        {
            "From": "Sophie Laurent <sophie@studio.example>",
            "To": ME,
            "Subject": "Re: Brand workshop",
            "Date": "Sun, 22 Mar 2026 10:00:00 +0000",
            "Message-ID": "<s2@studio.example>",
            "In-Reply-To": "<s1@example.com>",
            "References": "<s1@example.com>",
        },
        internal_ms=_ms(old + timedelta(days=1)),
        thread_id=g.messages[first].thread_id,
    )
    for i in range(60):  # enough mail for several batch requests
        g.add_message(
            {
                "From": "News <news@letters.example>" if i % 3 else f"P{i} <p{i}@people.example>",
                "To": ME,
                "Subject": f"Issue {i}",
                "Date": (NOW - timedelta(days=2, hours=i)).strftime("%a, %d %b %Y %H:%M:%S +0000"),
                "Message-ID": f"<n{i}@letters.example>",
                **({"List-Id": "<weekly.letters.example>"} if i % 3 else {}),
            },
            internal_ms=_ms(NOW - timedelta(days=2, hours=i)),
        )
    start = NOW - timedelta(days=3)
    fake.calendar.add_event(
        "Kick-off",
        start,
        start + timedelta(hours=1),
        attendees=[(ME, "accepted"), ("priya@acme.example", "accepted")],
    )
    fake.calendar.add_event(
        "Weekly",
        NOW - timedelta(days=30),
        NOW - timedelta(days=30) + timedelta(minutes=30),
        attendees=[(ME, "accepted"), ("tom@example.org", "accepted")],
        organizer="tom@example.org",
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"],
    )


QUOTA_PER_MINUTE = 60_000
LOST_AFTER_MADE = ("500-after", "429-after", "drop-after")


def strict(fake: FakeGoogle) -> FakeGoogle:
    """Gmail's per-user limits on, scaled: a minute's units per 6 s, 10 requests at once."""
    fake.limit(units=QUOTA_PER_MINUTE // 10, window=6.0, concurrent=10)
    return fake


def _setup(tmp_path: Path, fake: FakeGoogle) -> tuple[Path, dict[str, str]]:
    state = tmp_path / "state"
    creds = state / "credentials" / "work.json"
    creds.parent.mkdir(parents=True)
    creds.write_text(fake.authorized_user(scopes_for(["mail", "drafts", "calendar", "holds"])))
    creds.chmod(0o600)
    cfg = tmp_path / "syncd.toml"
    cfg.write_text(
        f'[owner]\nname = "Alex Morgan"\naddresses = ["{ME}"]\ntimezone = "Europe/Berlin"\n'
        f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
        "[sync]\nretry_first_wait = 0.01\nretry_max_wait = 5\n"
        '[[rules]]\nname = "no-reply"\nkind = "no_reply"\n'
        '[[rules]]\nname = "reconnect"\nkind = "dormant"\nafter = "180d"\n'
        '[[accounts]]\nname = "work"\nkind = "gmail"\ncalendar = { kind = "google" }\n'
        f"quota_per_minute = {QUOTA_PER_MINUTE}\n"
        "[accounts.endpoints]\n"
        f'gmail = "{fake.gmail_endpoint}"\ncalendar = "{fake.calendar_endpoint}"\n'
        f'token_uri = "{fake.token_uri}"\n',
        encoding="utf-8",
    )
    env = {"SYNCD_NOW": NOW.isoformat(), "SYNCD_STATE_DIR": str(state)}
    return cfg, env


def _run(cfg: Path, env: dict[str, str]) -> dict[str, Any]:
    proc = run_cli("--config", str(cfg), "run", "--once", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def _outcome(fake: FakeGoogle, cfg: Path, env: dict[str, str], final: dict[str, Any]) -> Any:
    """What a user sees, without the ids that differ between two fakes."""
    actions = json.loads(
        run_cli("--config", str(cfg), "actions", "list", "--json", env=env, check=True).stdout
    )
    drafts = []
    for msg in fake.gmail.draft_messages():
        parsed = email.message_from_bytes(msg.raw())
        drafts.append(
            (
                parsed["To"],
                parsed["Subject"],
                parsed["In-Reply-To"],
                parsed["X-Syncd-Key"],
                msg.thread_id == fake.gmail.messages[_sent_id(fake)].thread_id,
            )
        )
    holds = [
        (h["summary"], h["status"], h["start"]["dateTime"], h["extendedProperties"]["private"])
        for h in fake.calendar.holds()
    ]
    recent = [{k: v for k, v in i.items() if k not in ("id", "sources")} for i in final["recent"]]
    contacts = [{k: v for k, v in c.items() if k != "id"} for c in final["contacts"]]
    acts = sorted(
        (a["rule"], a["kind"], a["contact"], a["state"], a["key"], a["error"]) for a in actions
    )
    return {
        "interactions": final["interactions"],
        "recent": recent,
        "contacts": contacts,
        "actions": acts,
        "drafts": sorted(drafts),
        "holds": sorted(holds, key=str),
    }


def _sent_id(fake: FakeGoogle) -> str:
    return next(
        m.id for m in fake.gmail.messages.values() if m.header("Message-ID") == "<c1@example.com>"
    )


def test_run_once_against_google_then_nothing_new(tmp_path: Path, fake_google: FakeGoogle) -> None:
    seed(strict(fake_google))
    cfg, env = _setup(tmp_path, fake_google)
    first = _run(cfg, env)
    assert first["sync"]["errors"] == 0
    assert first["actions"]["created"] == 2, first["actions"]
    streams = {s["stream"]: s for s in first["sync"]["streams"]}
    assert streams["mail:all"]["read"] == 63 and streams["calendar:primary"]["read"] == 5
    [draft] = fake_google.gmail.draft_messages()
    parsed = email.message_from_bytes(draft.raw())
    assert parsed["To"] == "Priya Raman <priya@acme.example>"
    assert parsed["In-Reply-To"] == "<c1@example.com>" and parsed["Subject"] == "Re: Contract"
    assert draft.thread_id == fake_google.gmail.messages[_sent_id(fake_google)].thread_id
    raw = fake_google.calls("gmail.users.drafts.create")
    assert len(raw) == 1
    [hold] = fake_google.calendar.holds()
    assert hold["status"] == "tentative" and hold["summary"].startswith("Reconnect")
    assert hold["extendedProperties"]["private"]["syncKey"].startswith("reconnect:")

    hist = json.loads(
        run_cli(
            "--config", str(cfg), "history", "priya@acme.example", "--json", env=env, check=True
        ).stdout
    )
    assert {h["kind"] for h in hist} == {"email", "meeting"}

    fake_google.clear_log()
    again = _run(cfg, env)
    assert again["actions"]["created"] == 0 and again["sync"]["new_interactions"] == 0
    assert len(fake_google.gmail.drafts) == 1 and len(fake_google.calendar.holds()) == 1
    polls = [
        c.method_id
        for c in fake_google.log
        if c.method_id.endswith(("history.list", "events.list"))
    ]
    assert polls.count("gmail.users.history.list") == 1
    # Only the draft made in the first run is read again (its history record, its key).
    [made] = fake_google.gmail.drafts.values()
    assert {c.path.rsplit("/", 1)[1] for c in fake_google.calls("gmail.users.messages.get")} == {
        made
    }


def test_a_tenth_of_requests_failing_changes_nothing(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    seed(fake_google)
    clean_cfg, clean_env = _setup(tmp_path / "clean", fake_google)
    _run(clean_cfg, clean_env)
    clean = _outcome(fake_google, clean_cfg, clean_env, _run(clean_cfg, clean_env))

    faulty = strict(FakeGoogle(seed=1).start())
    try:
        seed(faulty)
        kinds = ("500", "503", "429", "drop-before", *LOST_AFTER_MADE)
        faulty.fail_share(0.1, kinds=kinds, retry_after="0")
        # The answers to the first drafts.create and events.insert are lost after Google
        # made the draft and the event, whatever the random share does.
        faulty.inject("gmail.users.drafts.create", status=500, after=True)
        faulty.inject("calendar.events.insert", status=429, reason="rateLimitExceeded", after=True)
        cfg, env = _setup(tmp_path / "faulty", faulty)
        _run(cfg, env)
        second = _run(cfg, env)
        assert second["actions"]["created"] == 0
        faulty.fail_share(0.0)
        got = _outcome(faulty, cfg, env, second)
        failures = [c for c in faulty.log if c.status in (0, 429, 500, 503)]
        assert len(failures) >= 5, len(failures)
        assert {c.status for c in failures} >= {0, 429}
        creates = [c.status for c in faulty.calls("gmail.users.drafts.create")]
        inserts = [c.status for c in faulty.calls("calendar.events.insert")]
        assert creates[0] == 500 and inserts[0] == 429  # made, the answer lost
        assert len(faulty.gmail.drafts) == 1 and len(faulty.calendar.holds()) == 1
    finally:
        faulty.stop()
    assert got == clean
    assert len(got["drafts"]) == 1 and len(got["holds"]) == 1


# --------------------------------------------------------------------------- accounts auth


def _auth_setup(tmp_path: Path, fake: FakeGoogle) -> tuple[Path, dict[str, str], Path]:
    client_id, secret = fake.oauth.add_client()
    client = tmp_path / "client.json"
    client.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": client_id,
                    "client_secret": secret,
                    "auth_uri": fake.auth_uri,
                    "token_uri": "https://never.example/token",  # the config's endpoint wins
                    "redirect_uris": ["http://localhost"],
                }
            }
        )
    )
    client.chmod(0o600)  # it holds the OAuth client secret: syncd refuses it readable
    cfg, env = _setup(tmp_path, fake)
    token = Path(env["SYNCD_STATE_DIR"]) / "credentials" / "work.json"
    token.unlink()
    cfg.write_text(
        cfg.read_text().replace(
            'kind = "gmail"\n', f'kind = "gmail"\nclient_secrets = "{client}"\n'
        )
    )
    return cfg, env, token


def _consent(url: str) -> str:
    """What the browser does: Google's consent page redirects to the loopback address."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port)
    conn.request("GET", f"{parts.path}?{parts.query}")
    answer = conn.getresponse()
    assert answer.status == 302, answer.read()
    conn.close()
    return str(answer.getheader("Location"))


def _auth_process(cfg: Path, env: dict[str, str], *args: str) -> Any:
    import os
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "syncd", "--config", str(cfg), "accounts", "auth", "work", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def _printed_url(proc: Any) -> str:
    for line in proc.stderr:
        if line.startswith("http://"):
            return str(line.strip())
    raise AssertionError("no URL printed")


def test_accounts_auth_by_pasting_the_redirect_stores_a_0600_token_with_least_scopes(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    from urllib.parse import parse_qs, urlsplit

    cfg, env, token = _auth_setup(tmp_path, fake_google)
    proc = _auth_process(cfg, env)
    url = _printed_url(proc)
    asked = parse_qs(urlsplit(url).query)
    assert set(asked["scope"][0].split()) == set(
        scopes_for(["mail", "drafts", "calendar", "holds"])
    )
    assert asked["access_type"] == ["offline"] and asked["code_challenge_method"] == ["S256"]
    out, err = proc.communicate(_consent(url) + "\n", timeout=60)
    assert proc.returncode == 0, err
    assert "authorised for mail, drafts, calendar, holds" in out
    assert token.stat().st_mode & 0o777 == 0o600
    stored = json.loads(token.read_text())
    assert stored["refresh_token"] and "access_token" not in stored and "token" not in stored
    assert stored["refresh_token"] not in out + err
    # The stored authorisation works.
    assert _run(cfg, env)["sync"]["errors"] == 0


def test_accounts_auth_through_a_loopback_listener(tmp_path: Path, fake_google: FakeGoogle) -> None:
    import socket
    import urllib.request

    cfg, env, token = _auth_setup(tmp_path, fake_google)
    cfg.write_text(
        cfg.read_text().replace('[[rules]]\nname = "reconnect"', '[[rules]]\nname = "x"')
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _auth_process(cfg, env, "--listen", str(port))
    url = _printed_url(proc)
    redirect = _consent(url)
    assert redirect.startswith(f"http://127.0.0.1:{port}/")
    with urllib.request.urlopen(redirect, timeout=30) as page:  # the browser, through the tunnel
        assert b"authorised" in page.read()
    out, err = proc.communicate(timeout=60)
    assert "authorised for mail, drafts, calendar" in out
    assert proc.returncode == 0, err
    assert token.stat().st_mode & 0o777 == 0o600


def test_accounts_auth_refuses_a_non_gmail_account_and_a_missing_client(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[owner]\nname = "A"\naddresses = ["{ME}"]\n[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
        f'[[accounts]]\nname = "m"\nkind = "maildir"\npath = "{tmp_path}"\n'
        '[[accounts]]\nname = "g"\nkind = "gmail"\n'
    )
    proc = run_cli("--config", str(cfg), "accounts", "auth", "m")
    assert proc.returncode == 1 and "only gmail accounts use OAuth" in proc.stderr
    proc = run_cli("--config", str(cfg), "accounts", "auth", "g")
    assert proc.returncode == 1 and "no OAuth client" in proc.stderr
