"""`SourceContract` run against every source kind: Maildir and .ics folders on real files,
IMAP against a real Dovecot, CalDAV against a real Radicale, Gmail, Google Calendar and
the two Outlook sources against the fake Google and Microsoft through the unmodified
client libraries. Each class says how an item arrives at its provider and how the
provider is made to refuse a cursor it gave."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import Source
from connectors.caldav import CalDavSettings, CalDavSource
from connectors.gcal import GoogleCalendarSource
from connectors.gmail import GmailSource
from connectors.ics import IcsFolderSource
from connectors.imap import ImapSettings, ImapSource
from connectors.maildir import MaildirSource
from connectors.outlook_calendar import OutlookCalendarSource
from connectors.outlook_mail import OutlookMailSource
from tests.contracts import SourceContract
from tests.dovecot import Dovecot, append_messages, claim_user, set_uidvalidity, uidvalidity
from tests.fake_google import FakeGoogle
from tests.fake_microsoft import FakeMicrosoft
from tests.radicale import Radicale, make_calendar
from tests.test_caldav import vevent
from tests.test_gmail import _close_apis, ms
from tests.test_gmail import make_api as google_api
from tests.test_imap import make_message
from tests.test_outlook import _close
from tests.test_outlook import make_api as graph_api
from tests.util import deliver, make_maildir, message

__all__ = ["_close", "_close_apis"]  # the autouse fixtures that close the API clients


class TestMaildirSource(SourceContract):
    stream_name = "INBOX"
    no_refusal = "a Maildir is local files: no server can forget a cursor it gave"
    rereads_recent = (
        "files whose ctime is within WATERMARK_MARGIN_NS of a scan are read again by the "
        "next poll, by design (connectors/maildir.py): ingest upserts them"
    )

    @pytest.fixture
    def source(self, tmp_path: Path) -> Source:
        return MaildirSource(make_maildir(tmp_path / "mail", "INBOX", "Sent"))

    def add(self, source: Source, label: str) -> None:
        assert isinstance(source, MaildirSource)
        when = self.now - timedelta(hours=1)
        data = message(
            sender="Jo <jo@example.org>",
            to="alex@example.com",
            subject=label,
            date=when,
            message_id=f"{label}@example.org",
        )
        deliver(source.root, data, stamp=int(when.timestamp()))


class TestIcsFolderSource(SourceContract):
    stream_name = "cal"
    no_refusal = "an .ics folder is local files: no server can forget a cursor it gave"

    @pytest.fixture
    def source(self, tmp_path: Path) -> Source:
        (tmp_path / "cal").mkdir()
        return IcsFolderSource(tmp_path / "cal", clock=lambda: self.now)

    def add(self, source: Source, label: str) -> None:
        assert isinstance(source, IcsFolderSource)
        text = vevent(label, self.now - timedelta(days=1))
        (source.path / f"{label}.ics").write_text(text, encoding="utf-8")


class TestImapSource(SourceContract):
    """A mailbox of its own on the session's Dovecot; INTERNALDATE is the real clock's."""

    stream_name = "INBOX"
    now = datetime.now(UTC)

    @pytest.fixture
    def source(self, dovecot: Dovecot) -> Iterator[Source]:
        self.server, self.user = dovecot, claim_user(dovecot)
        src = ImapSource(
            ImapSettings(
                host=dovecot.host,
                port=dovecot.port,
                username=self.user,
                password=dovecot.users[self.user],
                security="none",
                timeout=10,
            )
        )
        yield src
        src.close()

    def add(self, source: Source, label: str) -> None:
        data = make_message(label, when=self.now - timedelta(hours=1))
        append_messages(self.server, self.user, "INBOX", [data])

    def refuse(self, source: Source, cursor: str) -> str:
        old = uidvalidity(self.server, self.user, "INBOX")
        set_uidvalidity(self.server, self.user, "INBOX", old + 1)
        return cursor


class TestCalDavSource(SourceContract):
    """A calendar of its own on the session's Radicale."""

    @pytest.fixture
    def source(self, radicale: Radicale) -> Source:
        name = f"contract-{uuid.uuid4().hex[:10]}"
        self.client, self.url = make_calendar(radicale, "alex", "secret", name)
        settings = CalDavSettings(
            url=radicale.url, username="alex", password="secret", calendar=name
        )
        return CalDavSource(settings, clock=lambda: self.now)

    def add(self, source: Source, label: str) -> None:
        text = vevent(label, self.now - timedelta(days=1))
        response = self.client.put(
            f"{self.url}{label}.ics", text, {"Content-Type": "text/calendar; charset=utf-8"}
        )
        assert response.status in (201, 204), response.status

    def refuse(self, source: Source, cursor: str) -> str:
        # Radicale cannot be told to forget a sync token; it refuses one it never gave.
        state = json.loads(cursor)
        state["token"] = "http://radicale.org/ns/sync/" + "0" * 64
        return json.dumps(state)


class TestGmailSource(SourceContract):
    @pytest.fixture
    def source(self, fake_google: FakeGoogle) -> Source:
        self.fake = fake_google
        return GmailSource(google_api(fake_google))

    def add(self, source: Source, label: str) -> None:
        self.fake.gmail.add_message(
            {
                "From": "Jo <jo@acme.example>",
                "To": "alex@example.com",
                "Subject": label,
                "Message-ID": f"<{label}@acme.example>",
            },
            internal_ms=ms(self.now - timedelta(hours=1)),
        )

    def refuse(self, source: Source, cursor: str) -> str:
        self.fake.gmail.expire_history()
        return cursor


class TestGoogleCalendarSource(SourceContract):
    @pytest.fixture
    def source(self, fake_google: FakeGoogle) -> Source:
        self.fake = fake_google
        return GoogleCalendarSource(google_api(fake_google))

    def add(self, source: Source, label: str) -> None:
        start = self.now - timedelta(days=1)
        self.fake.calendar.add_event(label, start, start + timedelta(hours=1))

    def refuse(self, source: Source, cursor: str) -> str:
        self.fake.calendar.expire_sync_tokens()
        return cursor


class TestOutlookMailSource(SourceContract):
    stream_name = "inbox"

    @pytest.fixture
    def source(self, fake_microsoft: FakeMicrosoft) -> Source:
        self.fake = fake_microsoft
        return OutlookMailSource(graph_api(fake_microsoft))

    def add(self, source: Source, label: str) -> None:
        self.fake.graph.add_message(
            folder="inbox",
            sender=("Jo", "jo@acme.example"),
            subject=label,
            received=self.now - timedelta(hours=1),
            message_id=f"<{label}@acme.example>",
        )

    def refuse(self, source: Source, cursor: str) -> str:
        self.fake.graph.expire_delta_tokens()
        return cursor


class TestOutlookCalendarSource(SourceContract):
    @pytest.fixture
    def source(self, fake_microsoft: FakeMicrosoft) -> Source:
        self.fake = fake_microsoft
        return OutlookCalendarSource(graph_api(fake_microsoft))

    def add(self, source: Source, label: str) -> None:
        start = self.now - timedelta(days=1)
        self.fake.graph.add_event(label, start, start + timedelta(hours=1))

    def refuse(self, source: Source, cursor: str) -> str:
        self.fake.graph.expire_delta_tokens()
        return cursor
