"""No secret and no message body ever reaches a log line (issue 7, done-when 5).

One config with every kind of networked account — IMAP on a real Dovecot with a password
file, CalDAV on a real Radicale with a password file, gmail and its calendar against the
fake Google (refresh token, client secret, the access tokens the fake issues), outlook and
its calendar against the fake Microsoft (msal token cache, access and refresh tokens), and
an outlook account with a client secret — runs `syncd -vv --log-format json run --once`
and a short `syncd run`, and every line on stderr is searched for each secret and for the
unique marker strings the mail bodies and the draft template carry.

The check is for leaks at the source: `syncd.logs` scrubs registered secrets from every
line as a second line of defence, so a ``[redacted]`` in the output means something tried
to log a secret, and fails the test too.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from connectors.google_auth import scopes_for as google_scopes
from connectors.outlook_auth import scopes_for as outlook_scopes
from syncd.logs import REDACTED
from tests.dovecot import Dovecot, append_messages, claim_user
from tests.fake_google import FakeGoogle
from tests.fake_microsoft import FakeMicrosoft
from tests.radicale import start_radicale
from tests.util import run_cli

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ME = "alex@example.com"
SYNCD = (sys.executable, "-m", "syncd")
MARK = "BODYMARK" + secrets.token_hex(6)  # in every message body and the draft template


def _mail(sender: str, to: str, subject: str, when: datetime, mid: str, body: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {format_datetime(when)}\r\n"
        f"Message-ID: <{mid}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def _secret_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def _seed_imap(dovecot: Dovecot, user: str) -> None:
    append_messages(
        dovecot,
        user,
        "Sent",
        [
            _mail(
                ME,
                "Priya Raman <priya@acme.example>",
                "Contract",
                NOW - timedelta(days=9),
                "c1@example.com",
                f"imap sent {MARK}-imap-sent",
            )
        ],
    )
    append_messages(
        dovecot,
        user,
        "INBOX",
        [
            _mail(
                "Sophie <sophie@studio.example>",
                ME,
                "Workshop",
                NOW - timedelta(days=2),
                "s1@studio.example",
                f"imap inbox {MARK}-imap-inbox",
            )
        ],
    )


def _seed_google(fake: FakeGoogle) -> None:
    fake.gmail.add_message(
        {
            "From": ME,
            "To": "Tom <tom@example.org>",
            "Subject": "Proposal",
            "Date": format_datetime(NOW - timedelta(days=8)),
            "Message-ID": "<g1@example.com>",
        },
        labels=("SENT",),
        internal_ms=int((NOW - timedelta(days=8)).timestamp() * 1000),
        body=f"gmail sent {MARK}-gmail-sent\r\n",
    )
    fake.gmail.add_message(
        {
            "From": "Nina <nina@example.net>",
            "To": ME,
            "Subject": "Hello",
            "Date": format_datetime(NOW - timedelta(days=1)),
            "Message-ID": "<g2@example.net>",
        },
        internal_ms=int((NOW - timedelta(days=1)).timestamp() * 1000),
        body=f"gmail inbox {MARK}-gmail-inbox\r\n",
    )
    start = NOW - timedelta(days=3)
    fake.calendar.add_event(
        "Kick-off",
        start,
        start + timedelta(hours=1),
        attendees=[(ME, "accepted"), ("nina@example.net", "accepted")],
    )


def _seed_microsoft(fake: FakeMicrosoft) -> None:
    fake.graph.add_message(
        folder="sentitems",
        sender=ME,
        to=[("Omar", "omar@example.com")],
        subject="Quote",
        received=NOW - timedelta(days=7),
        message_id="<m1@example.com>",
        body=f"graph sent {MARK}-graph-sent",
    )
    fake.graph.add_message(
        sender=("Lea", "lea@example.org"),
        subject="Question",
        received=NOW - timedelta(days=1),
        message_id="<m2@example.org>",
        body=f"graph inbox {MARK}-graph-inbox",
    )


@pytest.mark.integration
def test_no_secret_and_no_body_in_any_log_line(
    dovecot: Dovecot, fake_google: FakeGoogle, fake_microsoft: FakeMicrosoft, tmp_path: Path
) -> None:
    # A Radicale of our own, so that its password is long, random and nowhere else.
    dav_password = "dav-" + secrets.token_urlsafe(18)
    dav = start_radicale(tmp_path / "radicale", users={"alex": dav_password})
    try:
        _run_and_search(dovecot, dav.url, dav_password, fake_google, fake_microsoft, tmp_path)
    finally:
        dav.stop()


def _run_and_search(
    dovecot: Dovecot,
    dav_url: str,
    dav_password: str,
    google: FakeGoogle,
    microsoft: FakeMicrosoft,
    tmp_path: Path,
) -> None:
    import caldav

    user = claim_user(dovecot)
    _seed_imap(dovecot, user)
    _seed_google(google)
    _seed_microsoft(microsoft)
    calendar = f"work-{uuid.uuid4().hex[:6]}"
    caldav.DAVClient(dav_url, username="alex", password=dav_password).principal().make_calendar(
        name=calendar
    )

    state = tmp_path / "state"
    creds = state / "credentials"
    creds.mkdir(parents=True)
    google_user = google.authorized_user(google_scopes(["mail", "drafts", "calendar", "holds"]))
    _secret_file(creds / "work.json", google_user)
    ms_cache = microsoft.signed_in_cache(outlook_scopes(["mail", "drafts", "calendar", "holds"]))
    _secret_file(creds / "m365.json", ms_cache)
    app_id, app_secret = microsoft.identity.add_confidential_client(
        secret="app~" + secrets.token_urlsafe(24)
    )
    imap_pass = _secret_file(tmp_path / "imap.pass", dovecot.users[user])
    dav_pass = _secret_file(tmp_path / "dav.pass", dav_password)
    app_pass = _secret_file(tmp_path / "app.secret", app_secret)
    template = tmp_path / "follow_up.txt.j2"
    template.write_text(f"Hi {{{{ contact.first_name }}}}, TEMPLATE{MARK}\n", encoding="utf-8")

    rules = "".join(
        f'[[rules]]\nname = "no-reply-{acc}"\nkind = "no_reply"\naccount = "{acc}"\n'
        f'template = "{template}"\n'
        for acc in ("mail", "work", "m365")
    )
    cfg = tmp_path / "syncd.toml"
    cfg.write_text(
        f'[owner]\nname = "Alex Morgan"\naddresses = ["{ME}", "alex@contoso.example"]\n'
        'timezone = "Europe/Berlin"\n'
        f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
        "[sync]\nretry_first_wait = 0.01\nretry_max_wait = 1\n"
        + rules
        + f'[[accounts]]\nname = "mail"\nkind = "imap"\nhost = "127.0.0.1"\n'
        f'port = {dovecot.port}\nsecurity = "none"\nusername = "{user}"\n'
        f'password_file = "{imap_pass}"\n'
        f'calendar = {{ kind = "caldav", url = "{dav_url}", username = "alex",'
        f' password_file = "{dav_pass}", calendar = "{calendar}" }}\n'
        '[[accounts]]\nname = "work"\nkind = "gmail"\ncalendar = { kind = "google" }\n'
        "[accounts.endpoints]\n"
        f'gmail = "{google.gmail_endpoint}"\ncalendar = "{google.calendar_endpoint}"\n'
        f'token_uri = "{google.token_uri}"\n'
        f'[[accounts]]\nname = "m365"\nkind = "outlook"\n'
        f'client_id = "{next(iter(microsoft.identity.public))}"\n'
        'tenant = "organizations"\ncalendar = { kind = "outlook" }\n'
        "[accounts.endpoints]\n"
        f'authority = "{microsoft.authority}"\ngraph = "{microsoft.graph_endpoint}"\n'
        f'ca_file = "{microsoft.ca_file}"\n'
        f'[[accounts]]\nname = "app"\nkind = "outlook"\nclient_id = "{app_id}"\n'
        f'tenant = "contoso.example"\nauth = "client_credentials"\n'
        f'client_secret_file = "{app_pass}"\nuser = "alex@contoso.example"\n'
        "[accounts.endpoints]\n"
        f'authority = "{microsoft.authority}"\ngraph = "{microsoft.graph_endpoint}"\n'
        f'ca_file = "{microsoft.ca_file}"\n',
        encoding="utf-8",
    )
    env = {"SYNCD_NOW": NOW.isoformat(), "SYNCD_STATE_DIR": str(state)}
    base = ("--config", str(cfg))
    logged: list[str] = []
    printed: list[str] = []

    once = run_cli(*base, "-vv", "--log-format", "json", "run", "--once", "--json", env=env)
    assert once.returncode == 0, once.stderr
    doc = json.loads(once.stdout)
    assert doc["sync"]["errors"] == 0, doc["sync"]
    assert doc["actions"]["created"] >= 3, doc["actions"]
    logged.append(once.stderr)
    printed.append(once.stdout)
    for args in (
        ("accounts", "status", "--json"),
        ("actions", "list", "--json"),
        ("contacts", "list", "--json"),
        ("history", "priya@acme.example", "--json"),
        ("report", "--json"),
    ):
        proc = run_cli(*base, "-vv", "--log-format", "json", *args, env=env)
        assert proc.returncode == 0, (args, proc.stderr)
        logged.append(proc.stderr)
        printed.append(proc.stdout)
    logged.append(_short_daemon_run(cfg, env))

    # What the run wrote to the providers really carried the marked bodies.
    drafts = [m.body for m in google.gmail.draft_messages()]
    assert any(f"TEMPLATE{MARK}" in body for body in drafts), drafts

    lines = [line for line in "\n".join(logged).splitlines() if line]
    (tmp_path / "all.log").write_text("\n".join(lines), encoding="utf-8")  # to read on failure
    assert len(lines) > 50, "expected a verbose log"
    assert any("sync.batch" in line or "sync.stream" in line for line in lines)
    not_json = [line for line in lines if not line.startswith("{")]
    assert not not_json, f"not a JSON log line: {not_json[:5]}"
    issued = [
        *google.oauth.access,
        *google.oauth.refresh,
        *microsoft.identity.access,
        *microsoft.identity.refresh,
    ]
    assert len(issued) >= 4
    secret_values = {
        "imap password": dovecot.users[user],
        "caldav password": dav_password,
        "google client secret": json.loads(google_user)["client_secret"],
        "outlook client secret": app_secret,
        **{f"token {t[:8]}…": t for t in issued},
    }
    for name, value in secret_values.items():
        hits = [line for line in lines if value in line]
        assert not hits, f"{name} in the log: {hits[0][:300]}"
    body_hits = [line for line in lines if MARK in line]
    assert not body_hits, f"body text in the log: {body_hits[0][:300]}"
    scrubbed = [line for line in lines if REDACTED in line]
    assert not scrubbed, f"a secret reached a logger (scrubbed): {scrubbed[0][:300]}"
    for out in printed:
        assert MARK not in out
        for value in secret_values.values():
            assert value not in out


def _short_daemon_run(cfg: Path, env: dict[str, str]) -> str:
    """`syncd run` until its first pass is done, then SIGTERM; its whole stderr."""
    log = cfg.parent / "daemon.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [
                *SYNCD,
                "--config",
                str(cfg),
                "-vv",
                "--log-format",
                "json",
                "run",
                "--interval",
                "1h",
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            text = log.read_text(encoding="utf-8", errors="replace")
            if '"daemon.pass' in text:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"syncd run did not finish a pass: {log.read_text()[-2000:]}")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return log.read_text(encoding="utf-8")
