"""The IMAP source and draft sink against a real Dovecot on 127.0.0.1.

Every test logs in as a user of its own, so folders and UIDs never leak between tests. The
commands the source sends are recorded on imaplib's side (`IMAP4.send`, under imapclient),
per connection, so "no FETCH" or "no EXAMINE" is observed on the wire, not taken from our
own code. Waiting for a push from the server (IDLE) is real waiting: another client appends
from a timer thread while the test waits.
"""

from __future__ import annotations

import imaplib
import itertools
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal

import imapclient  # type: ignore[import-untyped]
import pytest

from connectors.base import (
    AuthFailed,
    Batch,
    CursorExpired,
    DraftSink,
    DraftSpec,
    RawMessage,
    Source,
    SourceInvalid,
    SourceUnavailable,
    StreamInfo,
)
from connectors.imap import ImapSettings, ImapSource, load_cursor
from connectors.imap_watch import Reported, read_untagged
from connectors.maildir_drafts import draft_message_id, render_draft
from syncd.daemon.wake import MIN_GAP, Waiter, pause
from tests.dovecot import Dovecot, append_messages, claim_user, start_dovecot
from tests.dovecot import dovecot_server as dovecot_server  # the session fixture `dovecot`
from tests.util import write_config

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def make_message(
    subject: str,
    *,
    sender: str = "Sam Lee <sam@example.org>",
    to: str = "Alex Morgan <alex@example.com>",
    when: datetime | None = None,
    extra: str = "",
) -> bytes:
    n = next(_ids)
    date = format_datetime(when or NOW - timedelta(hours=n))
    text = (
        f"Return-Path: <{sender.split('<')[-1].rstrip('>')}>\r\n"
        "Received: from mx.example.net by mail.example.com; Mon, 2 Mar 2026 08:00:00 +0000\r\n"
        f"From: {sender}\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {date}\r\n"
        f"Message-ID: <msg{n}.{subject.replace(' ', '-')}@example.org>\r\n"
        f"{extra}"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "X-Not-Fetched: this header is not in the list\r\n"
        "\r\n"
        f"Hello,\r\n\r\nabout {subject}.\r\n"
    )
    return text.encode("utf-8")


@pytest.fixture
def account(dovecot: Dovecot) -> tuple[Dovecot, str]:
    return dovecot, claim_user(dovecot)


def settings(account: tuple[Dovecot, str], **kw: Any) -> ImapSettings:
    server, user = account
    return ImapSettings(
        host=server.host,
        port=server.port,
        username=user,
        password=server.users[user],
        security="none",
        timeout=10,
        **kw,
    )


@pytest.fixture
def source(account: tuple[Dovecot, str]) -> Iterator[ImapSource]:
    src = ImapSource(settings(account, batch_size=2, chunk=3))
    yield src
    src.close()


def other_client(account: tuple[Dovecot, str]) -> Any:
    server, user = account
    client = imapclient.IMAPClient(server.host, port=server.port, ssl=False, timeout=10)
    client.login(user, server.users[user])
    return client


def stream(src: ImapSource, name: str) -> StreamInfo:
    return next(s for s in src.streams() if s.name == name)


def drain(src: ImapSource, info: StreamInfo, cursor: str | None, **kw: Any) -> list[Batch]:
    return list(src.poll(info, cursor, now=NOW, **kw))


def subjects(batches: list[Batch]) -> list[str | None]:
    return [m.get("Subject") for b in batches for m in b.items if isinstance(m, RawMessage)]


class CommandLog:
    """The IMAP commands sent through imaplib while it is open, per connection.

    It wraps `imaplib.IMAP4.send`, which imaplib's commands, imapclient's own raw commands
    (SEARCH, FETCH) and the DONE that ends an IDLE all go through. A line that starts with
    the connection's tag is a command; DONE is recorded as "DONE". Open it only around the
    source's own calls (the test's other clients would be recorded too).
    """

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []  # (id of the imaplib connection, command)
        self.lines: list[str] = []  # the commands as sent, without their tags

    def record(self, imap: imaplib.IMAP4, data: bytes) -> None:
        tag: Any = imap.tagpre  # bytes (typeshed says str)
        if data.startswith(tag):
            words = data.decode("ascii", "replace").split()
            command = words[1:3] if words[1].upper() == "UID" else words[1:2]
            self.sent.append((id(imap), " ".join(command).upper()))
            self.lines.append(" ".join(words[1:]))
        elif data.strip().upper() == b"DONE":
            self.sent.append((id(imap), "DONE"))

    @property
    def names(self) -> list[str]:
        return [name for _conn, name in self.sent]

    def on(self, imap: imaplib.IMAP4) -> list[str]:
        return [name for conn, name in self.sent if conn == id(imap)]

    def connections(self) -> set[int]:
        return {conn for conn, _name in self.sent}

    def fetches(self) -> list[str]:
        return [n for n in self.names if "FETCH" in n]

    def selects(self) -> list[str]:
        return [n for n in self.names if n in ("SELECT", "EXAMINE")]


@contextmanager
def command_log() -> Iterator[CommandLog]:
    log = CommandLog()
    send: Callable[[imaplib.IMAP4, bytes], None] = imaplib.IMAP4.send

    def recording(imap: imaplib.IMAP4, data: bytes) -> None:
        log.record(imap, data)
        send(imap, data)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(imaplib.IMAP4, "send", recording)
        yield log


def kept_imap(src: ImapSource, folder: str) -> Any:
    """The imaplib connection that keeps `folder` selected for `src`."""
    return src._kept[folder].imap


def later(seconds: float, action: Callable[[], object]) -> threading.Timer:
    """Run `action` on another thread after `seconds` (another client, while we wait)."""
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


# ------------------------------------------------------------------------- reading


def test_implements_source_and_draft_sink(source: ImapSource) -> None:
    assert isinstance(source, Source)
    assert isinstance(source, DraftSink)


def test_streams_are_inbox_sent_and_configured_folders(account: tuple[Dovecot, str]) -> None:
    append_messages(*account, "Lists/python", [make_message("list mail")])
    src = ImapSource(settings(account, folders=("Lists/python", "Archive")))
    try:
        assert src.streams() == [
            StreamInfo("INBOX", "mail", "inbox"),
            StreamInfo("Sent", "mail", "sent"),
            StreamInfo("Lists/python", "mail", "other"),
            StreamInfo("Archive", "mail", "archive"),
        ]
        assert src.size_hint(stream(src, "Lists/python")) == 1
    finally:
        src.close()
    # A configured folder that does not exist is still a stream: only its poll fails.
    missing = ImapSource(settings(account, folders=("Nope",)))
    try:
        nope = stream(missing, "Nope")
        with pytest.raises(SourceInvalid, match="Nope"):
            list(missing.poll(nope, None, now=NOW))
        assert [b.done for b in missing.poll(stream(missing, "INBOX"), None, now=NOW)][-1]
    finally:
        missing.close()


def test_backfill_reads_header_fields_of_inbox_and_sent(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    when = datetime(2026, 2, 1, 12, 30, tzinfo=UTC)
    append_messages(
        *account,
        "INBOX",
        [
            make_message("first", when=when, extra="List-Id: <python.lists.example.org>\r\n"),
            make_message("second"),
            make_message("third"),
        ],
    )
    append_messages(
        *account,
        "Sent",
        [make_message("reply", sender="Alex <alex@example.com>", to="sam@example.org")],
        flags=(imapclient.SEEN,),
    )
    inbox = stream(source, "INBOX")
    batches = drain(source, inbox, None)
    assert [len(b.items) for b in batches] == [2, 1]
    assert [b.done for b in batches] == [False, True]
    assert subjects(batches) == ["first", "second", "third"]
    first = batches[0].items[0]
    assert isinstance(first, RawMessage)
    cursor = json.loads(batches[0].cursor or "")
    uidvalidity = cursor["uidvalidity"]
    assert first.provider_id == f"INBOX/{uidvalidity}/1"
    assert first.folder == "INBOX" and first.folder_role == "inbox"
    assert first.get("List-Id") == "<python.lists.example.org>"
    assert first.get("From") == "Sam Lee <sam@example.org>"
    assert first.get("Return-Path") == "<sam@example.org>"
    assert first.get("X-Not-Fetched") is None and first.get("Received") is None
    assert first.internal_date is not None and first.internal_date.utcoffset() == timedelta(0)
    assert first.size is not None and first.size > 200
    assert first.labels == frozenset()
    assert cursor["next"] == 3  # just past the batch: a crash resumes at UID 3
    final = load_cursor(batches[-1].cursor)
    assert final is not None and final.next == 4 and final.modseq is not None

    sent = drain(source, stream(source, "Sent"), None)
    [reply] = [m for b in sent for m in b.items]
    assert isinstance(reply, RawMessage)
    assert reply.folder_role == "sent" and "\\Seen" in reply.labels

    # EXAMINE and BODY.PEEK leave \Seen alone.
    client = other_client(account)
    client.select_folder("INBOX", readonly=True)
    flags = client.fetch(client.search(["ALL"]), ["FLAGS"])
    assert len(flags) == 3 and all(b"\\Seen" not in f[b"FLAGS"] for f in flags.values())
    client.logout()


def test_incremental_poll_fetches_only_new_mail_and_nothing_when_unchanged(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    append_messages(*account, "INBOX", [make_message(f"old {i}") for i in range(3)])
    inbox = stream(source, "INBOX")
    cursor = drain(source, inbox, None)[-1].cursor

    with command_log() as log:
        unchanged = drain(source, inbox, cursor)
    assert len(unchanged) == 1 and unchanged[0].done and unchanged[0].read == 0
    assert list(unchanged[0].items) == []
    # On the folder's kept connection: end the IDLE, NOOP, and IDLE again (not waited for).
    assert log.names == ["DONE", "NOOP", "IDLE"]
    assert load_cursor(unchanged[0].cursor) == load_cursor(cursor)

    append_messages(*account, "INBOX", [make_message("new a"), make_message("new b")])
    with command_log() as log:
        fresh = drain(source, inbox, cursor)
    assert subjects(fresh) == ["new a", "new b"]
    assert sum(b.read for b in fresh) == 2
    assert log.selects() == []  # no EXAMINE: the folder stayed selected
    assert log.names[-3:] == ["UID SEARCH", "UID FETCH", "IDLE"]
    assert log.names[:-3] in (["DONE"], ["DONE", "NOOP"])  # EXISTS came during IDLE, or not
    assert len(log.connections()) == 1
    after = load_cursor(fresh[-1].cursor)
    assert after is not None and after.next == 6

    full = drain(source, inbox, fresh[-1].cursor, full=True)
    assert len(subjects(full)) == 5


def test_a_poll_names_only_the_new_uids_whatever_the_folder_holds(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    """What an incremental poll sends grows with the new mail, not with the folder: the
    SEARCH starts at the cursor and the FETCH names only the new UIDs, on a folder of 40
    as of 4. (The rest of a poll's time on a large Maildir is the server's own look at
    the changed folder: docs/architecture.md, "IMAP connections".)"""
    inbox = stream(source, "INBOX")
    cursor = None
    held = 0
    sent: dict[int, list[str]] = {}
    for size in (4, 40):
        old = [make_message(f"old {size}.{i}") for i in range(size - held)]
        append_messages(*account, "INBOX", old)
        cursor = drain(source, inbox, cursor)[-1].cursor
        after = load_cursor(cursor)
        assert after is not None and after.next == size + 1
        append_messages(*account, "INBOX", [make_message("new x"), make_message("new y")])
        with command_log() as log:
            fresh = drain(source, inbox, cursor)
        assert subjects(fresh) == ["new x", "new y"]
        cursor, held = fresh[-1].cursor, size + 2
        lines = [line for line in log.lines if "SEARCH" in line or "FETCH" in line]
        assert [line.split(" (")[0] for line in lines] == [
            f"UID SEARCH UID {size + 1}:*",
            f"UID FETCH {size + 1}:{size + 2}",
        ]
        sent[size] = [
            line.replace(str(size + 1), "N").replace(str(size + 2), "M") for line in lines
        ]
    assert sent[4] == sent[40]


def test_without_idle_a_kept_folder_is_polled_with_noop(account: tuple[Dovecot, str]) -> None:
    src = ImapSource(settings(account, idle=False))
    try:
        append_messages(*account, "INBOX", [make_message("one")])
        inbox = stream(src, "INBOX")
        cursor = drain(src, inbox, None)[-1].cursor
        with command_log() as log:
            assert subjects(drain(src, inbox, cursor)) == []
        assert log.names == ["NOOP"]
        append_messages(*account, "INBOX", [make_message("two")])
        with command_log() as log:
            assert subjects(drain(src, inbox, cursor)) == ["two"]
        assert log.names == ["NOOP", "UID SEARCH", "UID FETCH"]
        assert src.can_wait() is False
        with pytest.raises(SourceInvalid, match="IDLE"):
            src.wait_for_change(0.1)
    finally:
        src.close()


def test_each_polled_folder_stays_selected_on_a_connection_of_its_own(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    names = ("INBOX", "Sent", "Projects")
    for name in names:
        append_messages(*account, name, [make_message(f"{name} 1")])
    infos = [StreamInfo(n, "mail", "other") for n in names]
    with command_log() as log:
        cursors = {i.name: drain(source, i, None)[-1].cursor for i in infos}
    assert log.names.count("EXAMINE") == 3
    assert set(source._kept) == set(names)
    assert len({id(kept_imap(source, n)) for n in names}) == 3
    assert source._client is None  # no folder list was asked for: no main connection

    for name in names:
        append_messages(*account, name, [make_message(f"{name} 2")])
    with command_log() as log:
        for info in infos:
            batches = drain(source, info, cursors[info.name])
            assert subjects(batches) == [f"{info.name} 2"]
            cursors[info.name] = batches[-1].cursor
        for info in infos:  # and once more, unchanged
            assert subjects(drain(source, info, cursors[info.name])) == []
    assert log.selects() == []
    for name in names:
        commands = log.on(kept_imap(source, name))
        assert commands.count("UID FETCH") == 1 and commands.count("UID SEARCH") == 1


def test_folders_past_the_connection_cap_are_examined_on_every_poll(
    account: tuple[Dovecot, str],
) -> None:
    src = ImapSource(settings(account, max_connections=2))  # the main one and one kept
    try:
        for name in ("INBOX", "Sent", "Projects"):
            append_messages(*account, name, [make_message(f"{name} 1")])
        infos = [StreamInfo(n, "mail", "other") for n in ("INBOX", "Sent", "Projects")]
        cursors = {i.name: drain(src, i, None)[-1].cursor for i in infos}
        assert list(src._kept) == ["INBOX"]
        append_messages(*account, "Projects", [make_message("Projects 2")])
        with command_log() as log:
            got = {i.name: subjects(drain(src, i, cursors[i.name])) for i in infos}
        assert got == {"INBOX": [], "Sent": [], "Projects": ["Projects 2"]}
        main = log.on(src._client._imap)
        assert main.count("EXAMINE") == 2 and "UID FETCH" in main
        assert log.on(kept_imap(src, "INBOX")) == ["DONE", "NOOP", "IDLE"]
    finally:
        src.close()
    single = ImapSource(settings(account, max_connections=1))  # everything on one, as before
    try:
        inbox = stream(single, "INBOX")
        cursor = drain(single, inbox, None)[-1].cursor
        with command_log() as log:
            assert subjects(drain(single, inbox, cursor)) == []
        assert log.names == ["EXAMINE"] and single._kept == {}
        assert single.can_wait() is False
    finally:
        single.close()


def test_flag_changes_create_no_items(account: tuple[Dovecot, str], source: ImapSource) -> None:
    append_messages(*account, "INBOX", [make_message("flag me"), make_message("and me")])
    inbox = stream(source, "INBOX")
    cursor = drain(source, inbox, None)[-1].cursor
    before = load_cursor(cursor)

    client = other_client(account)
    client.select_folder("INBOX")
    client.add_flags([1], [imapclient.SEEN, imapclient.FLAGGED])
    client.remove_flags([2], [imapclient.SEEN])
    client.logout()

    with command_log() as log:
        batches = drain(source, inbox, cursor)
    assert subjects(batches) == []
    assert log.fetches() == [] and log.selects() == []
    after = load_cursor(batches[-1].cursor)
    assert before is not None and after is not None
    assert after.next == before.next
    assert after.modseq is not None and before.modseq is not None
    assert after.modseq > before.modseq  # recorded, not fetched


def test_changed_uidvalidity_expires_the_cursor(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    server, user = account
    append_messages(server, user, "Projects", [make_message("plan")])
    projects = StreamInfo("Projects", "mail", "other")
    cursor = drain(source, projects, None)[-1].cursor
    old = load_cursor(cursor)
    assert old is not None
    kept = source._kept["Projects"]
    server.doveadm(
        "mailbox", "update", "-u", user, "--uid-validity", str(old.uidvalidity + 7), "Projects"
    )
    # Dovecot ends the kept session with a BYE; the source reconnects, EXAMINEs, compares.
    with pytest.raises(CursorExpired, match="UIDVALIDITY"):
        drain(source, projects, cursor)
    assert source._kept["Projects"] is not kept
    # The core then resyncs from nothing.
    resync = drain(source, projects, None)
    assert subjects(resync) == ["plan"]
    new = load_cursor(resync[-1].cursor)
    assert new is not None and new.uidvalidity == old.uidvalidity + 7


def test_a_reported_uidvalidity_or_bye_is_read_from_untagged_responses() -> None:
    """As imaplib stores them: an OK [UIDVALIDITY] for the selected folder, flag updates
    with MODSEQ (CONDSTORE), EXISTS, and a BYE (Dovecot's, recorded)."""
    untagged: dict[str, list[Any]] = {
        "EXISTS": [b"4", b"5"],
        "RECENT": [b"1"],
        "EXPUNGE": [b"2"],
        "FETCH": [b"3 (MODSEQ (12) FLAGS (\\Seen))", (b"4 (UID 9 BODY[] {3}", b"abc"), b")"],
        "OK": [b"[UIDVALIDITY 77] UIDs valid", b"[HIGHESTMODSEQ 9] Highest"],
        "UIDVALIDITY": [b"77"],
        "HIGHESTMODSEQ": [b"9"],
    }
    assert read_untagged(untagged) == Reported(exists=True, uidvalidity=77, modseq=12)
    assert untagged == {}  # read once
    flags_only: dict[str, list[Any]] = {"FETCH": [b"1 (FLAGS (\\Flagged))"]}
    assert read_untagged(flags_only) == Reported()
    bye = {"BYE": [b"IMAP session state is inconsistent, please relogin."]}
    assert read_untagged(bye).bye == "IMAP session state is inconsistent, please relogin."


def test_deleted_or_renamed_kept_folder_is_source_invalid(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    append_messages(*account, "Old", [make_message("gone soon")])
    append_messages(*account, "Clients", [make_message("renamed soon")])
    old = StreamInfo("Old", "mail", "other")
    clients = StreamInfo("Clients", "mail", "other")
    inbox = stream(source, "INBOX")
    inbox_cursor = drain(source, inbox, None)[-1].cursor
    cursor = drain(source, old, None)[-1].cursor
    clients_cursor = drain(source, clients, None)[-1].cursor
    client = other_client(account)
    client.delete_folder("Old")
    client.rename_folder("Clients", "Clients 2025")
    client.logout()
    with pytest.raises(SourceInvalid, match="'Old'"):
        drain(source, old, cursor)
    with pytest.raises(SourceInvalid, match="'Clients'"):
        drain(source, clients, clients_cursor)
    assert "Old" not in source._kept and "Clients" not in source._kept
    # The other folders' connections are still good.
    append_messages(*account, "INBOX", [make_message("still here")])
    assert subjects(drain(source, inbox, inbox_cursor)) == ["still here"]


def test_dropped_connection_mid_poll_resumes_without_loss_or_duplicates(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    append_messages(*account, "INBOX", [make_message(f"m{i}") for i in range(7)])
    inbox = stream(source, "INBOX")
    polling = source.poll(inbox, None, now=NOW)
    first = next(polling)
    assert subjects([first]) == ["m0", "m1"]
    stored = first.cursor
    kept_imap(source, "INBOX").sock.shutdown(socket.SHUT_RDWR)
    with pytest.raises(SourceUnavailable):
        for _batch in polling:
            pass
    assert "INBOX" not in source._kept  # dropped: the next poll reconnects
    rest = drain(source, inbox, stored)
    assert subjects(rest) == ["m2", "m3", "m4", "m5", "m6"]
    assert rest[-1].done


def test_a_connection_closed_between_polls_is_reopened(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    append_messages(*account, "INBOX", [make_message("before")])
    inbox = stream(source, "INBOX")
    cursor = drain(source, inbox, None)[-1].cursor
    first, main = kept_imap(source, "INBOX"), source._client._imap
    for imap in (first, main):
        imap.sock.shutdown(socket.SHUT_RDWR)  # as a server's idle timeout does
    append_messages(*account, "INBOX", [make_message("after")])
    assert stream(source, "INBOX") == inbox  # the main connection is reopened too
    assert subjects(drain(source, inbox, cursor)) == ["after"]
    assert kept_imap(source, "INBOX") is not first and source._client._imap is not main


def test_login_and_connection_failures(account: tuple[Dovecot, str]) -> None:
    server, user = account
    bad = ImapSource(
        ImapSettings(server.host, server.port, user, "wrong", security="none", timeout=5)
    )
    with pytest.raises(AuthFailed):
        bad.streams()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    down = ImapSource(ImapSettings("127.0.0.1", closed_port, user, "x", security="none"))
    with pytest.raises(SourceUnavailable):
        down.streams()
    with pytest.raises(SourceInvalid, match="loopback"):
        ImapSource(ImapSettings("mail.example.com", 143, user, "x", security="none"))
    ImapSource(ImapSettings("mail.example.com", 993, user, "x"))  # TLS is fine anywhere


def test_unreadable_cursor_expires() -> None:
    with pytest.raises(CursorExpired):
        load_cursor("not json")
    with pytest.raises(CursorExpired):
        load_cursor(json.dumps({"v": 2, "uidvalidity": 1, "next": 1}))


# ------------------------------------------------------------------------- drafts


def spec(key: str = "draft-1", body: str = "Happy to meet on Tuesday.") -> DraftSpec:
    return DraftSpec(
        key=key,
        from_name="Alex Morgan",
        from_address="alex@example.com",
        to_name="Sam Lee",
        to_address="sam@example.org",
        subject="Re: lunch\r\nBcc: evil@example.net",
        body=body,
        date=NOW,
        in_reply_to="msg1@example.org",
    )


def drafts_in(account: tuple[Dovecot, str]) -> dict[int, dict[bytes, Any]]:
    client = other_client(account)
    client.select_folder("Drafts", readonly=True)
    found: dict[int, dict[bytes, Any]] = client.fetch(
        client.search(["ALL"]), ["FLAGS", "BODY.PEEK[]"]
    )
    client.logout()
    return found


def test_draft_is_created_exactly_once(account: tuple[Dovecot, str], source: ImapSource) -> None:
    created = source.create_draft(spec())
    again = source.create_draft(spec())
    assert again == created
    assert created.ref.startswith("Drafts/") and created.ref.endswith("/1")
    [stored] = drafts_in(account).values()
    assert set(stored[b"FLAGS"]) >= {b"\\Draft", b"\\Seen"}
    assert f"<{draft_message_id('draft-1')}>".encode() in stored[b"BODY[]"]
    assert b"\nBcc:" not in stored[b"BODY[]"]

    # A crash after APPEND: a new instance finds the draft instead of appending another.
    reborn = ImapSource(settings(account))
    try:
        assert reborn.find_draft("draft-1") == created
        assert reborn.create_draft(spec()) == created
        assert reborn.draft_state("draft-1", created.fingerprint) == "untouched"
        assert reborn.find_draft("other-key") is None
    finally:
        reborn.close()
    assert len(drafts_in(account)) == 1


def test_edited_draft_is_changed_and_kept(account: tuple[Dovecot, str], source: ImapSource) -> None:
    created = source.create_draft(spec())
    # A mail client saves an edit as a new message with the same Message-ID.
    edited = render_draft(spec(body="Tuesday is bad, how about Thursday?"))
    client = other_client(account)
    client.append("Drafts", edited.replace(b"\n", b"\r\n"), flags=(imapclient.DRAFT,))
    client.select_folder("Drafts")
    client.delete_messages([1])
    client.expunge()
    client.logout()

    assert source.draft_state("draft-1", created.fingerprint) == "changed"
    assert source.remove_draft("draft-1", created.fingerprint) is False
    assert len(drafts_in(account)) == 1


def test_untouched_draft_is_removed(account: tuple[Dovecot, str], source: ImapSource) -> None:
    keep = source.create_draft(spec("keep"))
    drop = source.create_draft(spec("drop"))
    assert source.remove_draft("drop", drop.fingerprint) is True
    assert source.draft_state("drop", drop.fingerprint) == "gone"
    assert source.remove_draft("drop", drop.fingerprint) is False
    assert source.draft_state("keep", keep.fingerprint) == "untouched"
    assert len(drafts_in(account)) == 1


def test_drafts_folder_is_created_when_missing(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    # Drafts is auto-subscribed here; a server without one gets "Drafts" created.
    client = other_client(account)
    client.delete_folder("Drafts")
    client.logout()
    created = source.create_draft(spec())
    assert created.ref.startswith("Drafts/")
    assert len(drafts_in(account)) == 1
    # Deleted again while the source knows it: the draft is gone, and made again.
    client = other_client(account)
    client.delete_folder("Drafts")
    client.logout()
    assert source.draft_state("draft-1", created.fingerprint) == "gone"
    assert source.find_draft("draft-1") is None
    again = source.create_draft(spec())
    assert again.fingerprint == created.fingerprint
    assert len(drafts_in(account)) == 1


def test_drafts_leave_the_kept_folders_selected(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    append_messages(*account, "INBOX", [make_message("before")])
    inbox, sent = stream(source, "INBOX"), stream(source, "Sent")
    cursors = {i.name: drain(source, i, None)[-1].cursor for i in (inbox, sent)}
    with command_log() as log:
        created = source.create_draft(spec())
        assert source.draft_state("draft-1", created.fingerprint) == "untouched"
        assert source.remove_draft("draft-1", created.fingerprint) is True
    main = source._client._imap
    assert set(log.on(main)) >= {"SELECT", "EXAMINE", "APPEND"}  # Drafts, on the main one
    assert log.connections() == {id(main)}
    append_messages(*account, "INBOX", [make_message("after")])
    with command_log() as log:
        assert subjects(drain(source, inbox, cursors["INBOX"])) == ["after"]
        assert subjects(drain(source, sent, cursors["Sent"])) == []
    assert log.selects() == []


def test_raw_header_fetch_reads_what_imapclient_reads(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    messages = [make_message(f"same {i}", extra="Precedence: bulk\r\n") for i in range(3)]
    messages.append(make_message("folded", extra="List-Id: a\r\n  long\r\n\tlist <l.example>\r\n"))
    messages.append(b"X-Nothing-Asked: for\r\nSubject: caf\xe9 \xa3\r\n\r\nLatin-1, no From\r\n")
    append_messages(*account, "INBOX", messages, flags=(imapclient.FLAGGED, b"$Work"))
    inbox = stream(source, "INBOX")
    raw = [m for b in drain(source, inbox, None) for m in b.items]
    slow = ImapSource(settings(account, batch_size=2, chunk=3))
    slow.raw_fetch = False
    try:
        parsed = [m for b in drain(slow, inbox, None) for m in b.items]
    finally:
        slow.close()
    assert len(raw) == 5 and raw == parsed
    first = raw[0]
    assert isinstance(first, RawMessage)
    assert first.labels == {"\\Flagged", "$Work"} and first.get("Precedence") == "bulk"


# ------------------------------------------------------------------------- IDLE


def test_an_append_by_another_client_wakes_wait_for_change(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    append_messages(*account, "INBOX", [make_message("old")])
    inbox = stream(source, "INBOX")
    cursor = drain(source, inbox, None)[-1].cursor
    assert source.can_wait() is True

    timer = later(0.3, lambda: append_messages(*account, "INBOX", [make_message("pushed")]))
    started = time.monotonic()
    assert source.wait_for_change(30) is True
    waited = time.monotonic() - started
    timer.join()
    assert waited < 5, f"woken after {waited:.1f} s"
    with command_log() as log:
        fresh = drain(source, inbox, cursor)
    assert subjects(fresh) == ["pushed"]
    # The EXISTS came during the wait: no NOOP, no EXAMINE.
    assert log.names == ["DONE", "UID SEARCH", "UID FETCH", "IDLE"]

    started = time.monotonic()
    assert source.wait_for_change(0.6) is False  # nothing new: the timeout
    assert 0.5 <= time.monotonic() - started < 3


def test_wait_for_change_opens_inbox_itself_and_ignores_flag_changes(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    append_messages(*account, "INBOX", [make_message("flag me")])

    def flag() -> None:
        client = other_client(account)
        client.select_folder("INBOX")
        client.add_flags([1], [imapclient.FLAGGED])
        client.logout()

    timer = later(0.2, flag)
    assert source.wait_for_change(1.5) is False  # before any poll; flags are not mail
    timer.join()
    assert list(source._kept) == ["INBOX"]
    # Its first poll reads the folder from the start on the connection the wait opened.
    with command_log() as log:
        assert subjects(drain(source, stream(source, "INBOX"), None)) == ["flag me"]
    assert log.selects() == []


def test_wait_for_change_stops_when_cancelled(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    cancel = threading.Event()
    timer = later(0.3, cancel.set)
    started = time.monotonic()
    assert source.wait_for_change(60, cancel) is False
    assert time.monotonic() - started < 3
    timer.join()
    # Mail that came while nobody waited is reported at once by the next wait.
    append_messages(*account, "INBOX", [make_message("meanwhile")])
    assert source.wait_for_change(10) is True


def test_idle_is_renewed_while_waiting(account: tuple[Dovecot, str]) -> None:
    src = ImapSource(settings(account, idle_renew=0.4))
    try:
        with command_log() as log:
            assert src.wait_for_change(1.5) is False
        assert log.on(kept_imap(src, "INBOX")).count("IDLE") >= 3
        assert log.names.count("DONE") == log.names.count("IDLE") - 1
        timer = later(0.2, lambda: append_messages(*account, "INBOX", [make_message("x")]))
        assert src.wait_for_change(10) is True
        timer.join()
    finally:
        src.close()


def test_a_session_the_server_ends_wakes_the_wait_and_the_poll_reconnects(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    server, user = account
    append_messages(server, user, "INBOX", [make_message("one")])
    inbox = stream(source, "INBOX")
    cursor = drain(source, inbox, None)[-1].cursor
    timer = later(0.3, lambda: server.doveadm("kick", user))
    assert source.wait_for_change(30) is True  # the BYE ends the wait: poll to find out
    timer.join()
    assert "INBOX" not in source._kept
    append_messages(server, user, "INBOX", [make_message("two")])
    assert subjects(drain(source, inbox, cursor)) == ["two"]

    # Dovecot does not end an IDLE for a new UIDVALIDITY; the next poll finds it out.
    old = load_cursor(cursor)
    assert old is not None
    set_to = str(old.uidvalidity + 3)
    server.doveadm("mailbox", "update", "-u", user, "--uid-validity", set_to, "INBOX")
    source.wait_for_change(0.5)
    with pytest.raises(CursorExpired):
        drain(source, inbox, cursor)


def test_syncd_run_wakes_on_new_mail_instead_of_sleeping_the_interval(
    account: tuple[Dovecot, str], tmp_path: Path
) -> None:
    server, user = account
    append_messages(server, user, "INBOX", [make_message("first")])
    secret = tmp_path / "imap.pass"
    secret.write_text(server.users[user], encoding="utf-8")
    secret.chmod(0o600)
    db = tmp_path / "syncd.db"
    cfg = write_config(
        tmp_path / "syncd.toml",
        f'[[accounts]]\nname = "mail"\nkind = "imap"\nhost = "{server.host}"\n'
        f'port = {server.port}\nsecurity = "none"\nusername = "{user}"\n'
        f'password_file = "{secret}"\n',
        store_url=f"sqlite:///{db}",
    )
    subjects_stored = "SELECT subject FROM interactions ORDER BY subject"
    with (tmp_path / "daemon.log").open("wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "syncd", "--config", str(cfg), "run", "--interval", "10m"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        assert wait_for_rows(db, subjects_stored, ["first"], daemon)
        append_messages(server, user, "INBOX", [make_message("second")])
        started = time.monotonic()
        assert wait_for_rows(db, subjects_stored, ["first", "second"], daemon)
        assert time.monotonic() - started < 30  # not the ten minutes of the interval
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=30)
    assert code == 0, (tmp_path / "daemon.log").read_text()


def test_the_daemon_pause_ends_on_stop_on_mail_or_at_the_interval(
    account: tuple[Dovecot, str], source: ImapSource
) -> None:
    inbox = stream(source, "INBOX")
    drain(source, inbox, None)
    waiting = [Waiter("mail", source)]
    stop = threading.Event()
    timer = later(0.3, stop.set)
    started = time.monotonic()
    assert pause(waiting, stop, 60) == "stop"
    assert time.monotonic() - started < 3
    timer.join()
    stop.clear()
    timer = later(0.3, lambda: append_messages(*account, "INBOX", [make_message("wake")]))
    assert pause(waiting, stop, 60, since=time.monotonic() - MIN_GAP) == "mail"
    timer.join()
    assert pause([], stop, 0.2) == "interval"
    assert pause(waiting, stop, 0.5) == "mail"  # not polled since: still new


def wait_for_rows(
    db: Path, query: str, want: list[str], daemon: subprocess.Popen[bytes], limit: float = 60
) -> bool:
    """Whether `query` on the store returns `want` (one column) before `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert daemon.poll() is None, "syncd run exited"
        if db.exists():
            with closing(sqlite3.connect(db, timeout=5)) as conn:
                try:
                    if [row[0] for row in conn.execute(query)] == want:
                        return True
                except sqlite3.OperationalError:  # the schema is being made
                    pass
        time.sleep(0.1)
    return False


# ------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_dovecot(dovecot: Dovecot) -> Iterator[Dovecot]:
    """A second Dovecot with a self-signed certificate (needs openssl)."""
    if shutil.which("openssl") is None:
        if "dovecot" in os.environ.get("SYNCD_REQUIRE_SERVICES", ""):
            pytest.fail("the TLS tests are required here but there is no openssl")
        pytest.skip("no openssl to make a certificate")
    base = Path(tempfile.mkdtemp(prefix="syncd-dovecot-tls-"))
    try:
        with start_dovecot(base, users={"alex": "secret"}, tls=True) as server:
            yield server
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_tls_and_starttls_check_the_certificate(tls_dovecot: Dovecot) -> None:
    server = tls_dovecot
    assert server.tls_port is not None and server.ca_file is not None
    ca = str(server.ca_file)
    modes: list[tuple[Literal["tls", "starttls"], int]] = [
        ("tls", server.tls_port),
        ("starttls", server.port),
    ]
    for security, port in modes:
        good = ImapSource(
            ImapSettings(server.host, port, "alex", "secret", security=security, ca_file=ca)
        )
        try:
            assert [s.name for s in good.streams()][:2] == ["INBOX", "Sent"]
            assert good._client._imap.sock.version() is not None  # really encrypted
        finally:
            good.close()
        untrusted = ImapSource(
            ImapSettings(server.host, port, "alex", "secret", security=security, timeout=5)
        )
        with pytest.raises(SourceInvalid, match="certificate"):
            untrusted.streams()
        assert untrusted._client is None


def test_wait_for_change_over_tls(tls_dovecot: Dovecot) -> None:
    server = tls_dovecot
    assert server.tls_port is not None and server.ca_file is not None
    src = ImapSource(
        ImapSettings(
            server.host,
            server.tls_port,
            "alex",
            "secret",
            security="tls",
            ca_file=str(server.ca_file),
        )
    )
    try:
        inbox = stream(src, "INBOX")
        cursor = drain(src, inbox, None)[-1].cursor
        assert src.wait_for_change(0.5) is False
        timer = later(0.3, lambda: append_messages(server, "alex", "INBOX", [make_message("tls")]))
        assert src.wait_for_change(30) is True
        timer.join()
        assert subjects(drain(src, inbox, cursor)) == ["tls"]
    finally:
        src.close()
