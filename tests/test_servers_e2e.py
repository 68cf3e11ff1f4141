"""`syncd run --once` end to end with an IMAP account on a real Dovecot and a CalDAV calendar
on a real Radicale: history shows the interactions, drafts land in Dovecot's Drafts folder,
holds in Radicale, and a second run creates nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.dovecot import Dovecot, append_messages, claim_user
from tests.radicale import Radicale
from tests.util import run_cli

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _mail(
    sender: str, to: str, subject: str, when: datetime, mid: str, reply_to: str = ""
) -> bytes:
    head = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {format_datetime(when)}\r\n"
        f"Message-ID: <{mid}>\r\n"
    )
    if reply_to:
        head += f"In-Reply-To: <{reply_to}>\r\nReferences: <{reply_to}>\r\n"
    return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n").encode()


@pytest.mark.integration
def test_run_once_with_imap_and_caldav(
    dovecot: Dovecot, radicale: Radicale, tmp_path: Path
) -> None:
    user = claim_user(dovecot)
    me = "alex@example.com"
    priya = "Priya Raman <priya@acme.example>"
    sophie = "Sophie Laurent <sophie@studio.example>"
    old = NOW - timedelta(days=250)
    append_messages(
        dovecot,
        user,
        "Sent",
        [
            _mail(me, priya, "Contract", NOW - timedelta(days=9), "c1@example.com"),
            _mail(me, sophie, "Brand workshop", old, "s1@example.com"),
        ],
    )
    append_messages(
        dovecot,
        user,
        "INBOX",
        [
            _mail(
                sophie,
                me,
                "Re: Brand workshop",
                old + timedelta(days=1),
                "s2@studio.example",
                "s1@example.com",
            ),
            _mail(
                "News <news@letters.example>",
                me,
                "Weekly",
                NOW - timedelta(days=2),
                "n1@letters.example",
            ),
        ],
    )
    import caldav

    name = f"work-{uuid.uuid4().hex[:6]}"
    client = caldav.DAVClient(radicale.url, username="alex", password="secret")
    cal = client.principal().make_calendar(name=name)
    start = NOW - timedelta(days=3)
    cal.save_event(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        "UID:kickoff@acme.example\r\nDTSTAMP:20261101T000000Z\r\n"
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}\r\n"
        "SUMMARY:Kick-off\r\nORGANIZER:mailto:alex@example.com\r\n"
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:priya@acme.example\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    secret = tmp_path / "pass"
    secret.write_text(dovecot.users[user])
    secret.chmod(0o600)
    dav_secret = tmp_path / "dav-pass"
    dav_secret.write_text("secret")
    dav_secret.chmod(0o600)
    cfg = tmp_path / "syncd.toml"
    cfg.write_text(
        f'[owner]\nname = "Alex Morgan"\naddresses = ["{me}"]\ntimezone = "Europe/Berlin"\n'
        f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
        '[[rules]]\nname = "no-reply"\nkind = "no_reply"\n'
        '[[rules]]\nname = "reconnect"\nkind = "dormant"\nafter = "180d"\n'
        f'[[accounts]]\nname = "mail"\nkind = "imap"\nhost = "127.0.0.1"\nport = {dovecot.port}\n'
        f'security = "none"\nusername = "{user}"\npassword_file = "{secret}"\n'
        f'calendar = {{ kind = "caldav", url = "{radicale.url}", username = "alex",'
        f' password_file = "{dav_secret}", calendar = "{name}" }}\n',
        encoding="utf-8",
    )
    env = {"SYNCD_NOW": NOW.isoformat(), "SYNCD_STATE_DIR": str(tmp_path / "state")}
    first = run_cli("--config", str(cfg), "run", "--once", "--json", env=env)
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["actions"]["created"] == 2, doc["actions"]

    hist = json.loads(
        run_cli("--config", str(cfg), "history", "priya@acme.example", "--json", env=env).stdout
    )
    assert {h["kind"] for h in hist} == {"email", "meeting"}

    import imapclient  # type: ignore[import-untyped]

    imap = imapclient.IMAPClient(dovecot.host, port=dovecot.port, ssl=False)
    imap.login(user, dovecot.users[user])
    drafts = imap.find_special_folder(b"\\Drafts")
    imap.select_folder(drafts, readonly=True)
    assert len(imap.search(["HEADER", "X-Syncd-Key", "no-reply:"])) == 1
    imap.logout()
    holds = [e for e in cal.events() if "X-SYNC-KEY:reconnect:" in e.data.replace("\r\n ", "")]
    assert len(holds) == 1 and "STATUS:TENTATIVE" in holds[0].data

    again = json.loads(run_cli("--config", str(cfg), "run", "--once", "--json", env=env).stdout)
    assert again["actions"]["created"] == 0 and again["sync"]["new_interactions"] == 0
    assert len([e for e in cal.events() if "X-SYNC-KEY" in e.data]) == 1
