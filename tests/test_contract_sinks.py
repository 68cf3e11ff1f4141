"""`DraftSinkContract` and `HoldSinkContract` run against the provider sinks: IMAP drafts
on a real Dovecot and CalDAV holds on a real Radicale (each reached through a `CutProxy`,
which loses the server's answer to a create on the way back), and the Gmail, Google
Calendar, Outlook mail and Outlook calendar sinks against the fake Google and Microsoft,
which can carry out a create and then drop its answer. The local file sinks (Maildir
drafts, .ics holds) run the same contracts in tests/test_sinks.py.

Each class says how the user's hands change what the sink stored: a mail client saving
an edited draft, a calendar moving or renaming a hold, a delete.
"""

from __future__ import annotations

import email
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import imapclient  # type: ignore[import-untyped]
import pytest
import requests

from connectors.base import Created, DraftSink, HoldSink
from connectors.caldav import CalDavSettings, CalDavSource
from connectors.gcal import GoogleCalendarSource
from connectors.gmail import GmailSource
from connectors.imap import ImapSettings, ImapSource
from connectors.outlook_calendar import OutlookCalendarSource
from connectors.outlook_mail import OutlookMailSource
from tests.contracts import DraftSinkContract, HoldSinkContract, hold_spec
from tests.dovecot import CutProxy, Dovecot, claim_user, connect
from tests.fake_google import FakeGoogle
from tests.fake_microsoft import FakeMicrosoft
from tests.radicale import Radicale, make_calendar
from tests.test_gmail import _close_apis
from tests.test_gmail import make_api as google_api
from tests.test_outlook import _close
from tests.test_outlook import make_api as graph_api

__all__ = ["_close", "_close_apis"]  # the autouse fixtures that close the API clients

USER, PASSWORD = "alex", "secret"


def ical_utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rewritten(data: bytes, change: str, value: str) -> bytes:
    """`data` as a mail client saves it after the user changed the body or one header."""
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    if change == "body":
        msg.set_content(value)
    else:
        msg.replace_header(change, value)
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# =========================================================================== drafts


class TestImapDrafts(DraftSinkContract):
    """A mailbox of its own on the session's Dovecot, reached through a proxy that can
    lose the APPEND's answer; a mail client saves an edit as a new message (same
    Message-ID) and expunges the old one, as Thunderbird does."""

    @pytest.fixture
    def sink(self, dovecot: Dovecot) -> Iterator[DraftSink]:
        self.server, self.user = dovecot, claim_user(dovecot)
        self.proxy = CutProxy(dovecot.host, dovecot.port)
        source = ImapSource(
            ImapSettings(
                host=dovecot.host,
                port=self.proxy.port,
                username=self.user,
                password=dovecot.users[self.user],
                security="none",
                timeout=10,
            )
        )
        yield source
        source.close()
        self.proxy.close()

    def _rewrite(self, created: Created, change: str, value: str) -> None:
        folder, _validity, uid = created.ref.rsplit("/", 2)
        client = connect(self.server, self.user)
        try:
            client.select_folder(folder)
            data = client.fetch([int(uid)], ["BODY.PEEK[]"])[int(uid)][b"BODY[]"]
            client.append(folder, rewritten(data, change, value), flags=(imapclient.DRAFT,))
            client.delete_messages([int(uid)])
            client.expunge()
        finally:
            client.logout()

    def edit_body(self, sink: DraftSink, created: Created, text: str) -> None:
        self._rewrite(created, "body", text)

    def edit_to(self, sink: DraftSink, created: Created, address: str) -> None:
        self._rewrite(created, "To", address)

    def delete(self, sink: DraftSink, created: Created) -> None:
        folder, _validity, uid = created.ref.rsplit("/", 2)
        client = connect(self.server, self.user)
        try:
            client.select_folder(folder)
            client.delete_messages([int(uid)])
            client.expunge()
        finally:
            client.logout()

    def count(self, sink: DraftSink) -> int:
        client = connect(self.server, self.user)
        try:
            if not client.folder_exists("Drafts"):
                return 0
            client.select_folder("Drafts", readonly=True)
            return len(client.search(["ALL"]))
        finally:
            client.logout()

    def lose_next_answer(self, sink: DraftSink) -> None:
        self.proxy.cut_at(b"[APPENDUID ")  # Dovecot's tagged OK to the APPEND

    def answer_was_lost(self, sink: DraftSink) -> bool:
        return self.proxy.cuts == 1


class TestGmailDrafts(DraftSinkContract):
    """The fake Gmail; an edit is stored as a new message under the same draft, as Gmail
    does. The sink lists drafts once per pass (`streams()` starts one), so the user's
    hands act between passes."""

    @pytest.fixture
    def sink(self, fake_google: FakeGoogle) -> DraftSink:
        self.fake = fake_google
        return GmailSource(google_api(fake_google))

    def _new_pass(self, sink: DraftSink) -> None:
        assert isinstance(sink, GmailSource)
        sink.streams()

    def edit_body(self, sink: DraftSink, created: Created, text: str) -> None:
        self.fake.gmail.edit_draft(created.ref, text)
        self._new_pass(sink)

    def edit_to(self, sink: DraftSink, created: Created, address: str) -> None:
        gmail = self.fake.gmail
        gmail.edit_draft(created.ref, gmail.messages[gmail.drafts[created.ref]].body)
        msg = gmail.messages[gmail.drafts[created.ref]]
        msg.headers = [(k, address if k.lower() == "to" else v) for k, v in msg.headers]
        self._new_pass(sink)

    def delete(self, sink: DraftSink, created: Created) -> None:
        self.fake.gmail.delete_message(self.fake.gmail.drafts.pop(created.ref))
        self._new_pass(sink)

    def count(self, sink: DraftSink) -> int:
        return len(self.fake.gmail.drafts)

    def lose_next_answer(self, sink: DraftSink) -> None:
        self.fake.inject("gmail.users.drafts.create", drop="after")

    def answer_was_lost(self, sink: DraftSink) -> bool:
        return [c.status for c in self.fake.calls("gmail.users.drafts.create")][:1] == [0]


class TestGraphDrafts(DraftSinkContract):
    """The fake Graph; every edit gives the message a new changeKey, as Outlook does."""

    @pytest.fixture
    def sink(self, fake_microsoft: FakeMicrosoft) -> DraftSink:
        self.fake = fake_microsoft
        return OutlookMailSource(graph_api(fake_microsoft))

    def edit_body(self, sink: DraftSink, created: Created, text: str) -> None:
        self.fake.graph.edit_draft(created.ref, text)

    def edit_to(self, sink: DraftSink, created: Created, address: str) -> None:
        msg = self.fake.graph.messages[created.ref]
        name, _, addr = address.partition(" <")
        msg.props["toRecipients"] = [{"emailAddress": {"name": name, "address": addr.rstrip(">")}}]
        self.fake.graph.edit_draft(created.ref, msg.body)

    def delete(self, sink: DraftSink, created: Created) -> None:
        self.fake.graph.delete_message(created.ref)

    def count(self, sink: DraftSink) -> int:
        return len(self.fake.graph.drafts())

    def lose_next_answer(self, sink: DraftSink) -> None:
        self.fake.inject("graph.messages.create", drop="after")

    def answer_was_lost(self, sink: DraftSink) -> bool:
        return [c.status for c in self.fake.calls("graph.messages.create")][:1] == [0]


# =========================================================================== holds


class TestCalDavHolds(HoldSinkContract):
    """A calendar of its own on the session's Radicale, reached through a proxy that can
    lose the PUT's answer; another client edits a hold with a plain GET and PUT."""

    @pytest.fixture
    def sink(self, radicale: Radicale) -> Iterator[HoldSink]:
        name = f"holds-{uuid.uuid4().hex[:10]}"
        _client, self.url = make_calendar(radicale, USER, PASSWORD, name)
        self.server = radicale.url.rstrip("/")
        self.proxy = CutProxy("127.0.0.1", int(self.server.rsplit(":", 1)[1]))
        settings = CalDavSettings(
            url=f"http://127.0.0.1:{self.proxy.port}/",
            username=USER,
            password=PASSWORD,
            calendar=name,
        )
        yield CalDavSource(settings, clock=lambda: datetime(2024, 3, 1, 8, 0, tzinfo=UTC))
        self.proxy.close()

    def _edit(self, created: Created, old: str, new: str) -> None:
        url = self.server + created.ref
        got = requests.get(url, auth=(USER, PASSWORD), timeout=30)
        assert got.status_code == 200, got.status_code
        text = got.content.decode("utf-8").replace("\r\n ", "")
        assert old in text, text
        put = requests.put(
            url,
            data=text.replace(old, new).encode("utf-8"),
            headers={"Content-Type": "text/calendar; charset=utf-8"},
            auth=(USER, PASSWORD),
            timeout=30,
        )
        assert put.status_code in (201, 204), put.status_code

    def move(self, sink: HoldSink, created: Created, start: datetime, end: datetime) -> None:
        spec = hold_spec()
        self._edit(created, f"DTSTART:{ical_utc(spec.start)}", f"DTSTART:{ical_utc(start)}")
        self._edit(created, f"DTEND:{ical_utc(spec.end)}", f"DTEND:{ical_utc(end)}")

    def rename(self, sink: HoldSink, created: Created, summary: str) -> None:
        self._edit(created, "SUMMARY:Call Bob", f"SUMMARY:{summary}")

    def delete(self, sink: HoldSink, created: Created) -> None:
        gone = requests.delete(self.server + created.ref, auth=(USER, PASSWORD), timeout=30)
        assert gone.status_code in (200, 204), gone.status_code

    def count(self, sink: HoldSink) -> int:
        listing = requests.request(
            "PROPFIND", self.url, headers={"Depth": "1"}, auth=(USER, PASSWORD), timeout=30
        )
        assert listing.status_code == 207, listing.status_code
        hrefs = re.findall(r"<(?:\w+:)?href>([^<]+)</(?:\w+:)?href>", listing.text)
        return sum(1 for href in hrefs if href.endswith(".ics"))

    def lose_next_answer(self, sink: HoldSink) -> None:
        self.proxy.cut_at(b" 201 Created")  # the PUT's answer, made and lost

    def answer_was_lost(self, sink: HoldSink) -> bool:
        return self.proxy.cuts == 1


class TestGoogleCalendarHolds(HoldSinkContract):
    """The fake Google Calendar; the user drags or renames the event in the web UI."""

    @pytest.fixture
    def sink(self, fake_google: FakeGoogle) -> HoldSink:
        self.fake = fake_google
        return GoogleCalendarSource(google_api(fake_google))

    def move(self, sink: HoldSink, created: Created, start: datetime, end: datetime) -> None:
        self.fake.calendar.update_event(
            created.ref,
            start={"dateTime": rfc3339(start), "timeZone": "UTC"},
            end={"dateTime": rfc3339(end), "timeZone": "UTC"},
        )

    def rename(self, sink: HoldSink, created: Created, summary: str) -> None:
        self.fake.calendar.update_event(created.ref, summary=summary)

    def delete(self, sink: HoldSink, created: Created) -> None:
        self.fake.calendar.delete(created.ref)

    def count(self, sink: HoldSink) -> int:
        return len(self.fake.calendar.holds())

    def lose_next_answer(self, sink: HoldSink) -> None:
        self.fake.inject("calendar.events.insert", drop="after")

    def answer_was_lost(self, sink: HoldSink) -> bool:
        return [c.status for c in self.fake.calls("calendar.events.insert")][:1] == [0]


class TestOutlookCalendarHolds(HoldSinkContract):
    """The fake Graph; every save gives the event a new changeKey, as Outlook does."""

    @pytest.fixture
    def sink(self, fake_microsoft: FakeMicrosoft) -> HoldSink:
        self.fake = fake_microsoft
        return OutlookCalendarSource(graph_api(fake_microsoft))

    def move(self, sink: HoldSink, created: Created, start: datetime, end: datetime) -> None:
        self.fake.graph.move_event(created.ref, start, end)

    def rename(self, sink: HoldSink, created: Created, summary: str) -> None:
        event = self.fake.graph.events[created.ref]
        event.props["subject"] = summary
        self.fake.graph.move_event(created.ref, event.start, event.end)  # saved in place

    def delete(self, sink: HoldSink, created: Created) -> None:
        self.fake.graph.delete_event(created.ref)

    def count(self, sink: HoldSink) -> int:
        return len(self.fake.graph.holds())

    def lose_next_answer(self, sink: HoldSink) -> None:
        self.fake.inject("graph.events.create", drop="after")

    def answer_was_lost(self, sink: HoldSink) -> bool:
        return [c.status for c in self.fake.calls("graph.events.create")][:1] == [0]
