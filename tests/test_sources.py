"""The Maildir and mbox sources on real files: discovery, header-only reads, cursors."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import SourceInvalid, StreamInfo
from connectors.maildir import MaildirSource, folder_role
from connectors.mailparse import read_header_section
from connectors.mbox import MboxFile, takeout_labels
from tests.util import deliver, make_maildir, message

NOW = datetime(2026, 11, 25, tzinfo=UTC)
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def _msg(i: int, **kw: str) -> bytes:
    return message(
        sender="jo@example.org",
        to="alex@example.com",
        subject=f"m{i}",
        date=T0 + timedelta(hours=i),
        message_id=f"m{i}@example.org",
        **kw,
    )


def _poll(src: MaildirSource, stream: StreamInfo, cursor: str | None, **kw: bool):  # type: ignore[no-untyped-def]
    batches = list(src.poll(stream, cursor, now=NOW, **kw))
    items = [m for b in batches for m in b.items]
    return items, batches[-1].cursor, sum(b.read for b in batches)


def test_discovers_both_layouts_and_roles(tmp_path: Path) -> None:
    verbatim = make_maildir(tmp_path / "v", "INBOX", "Sent", "Drafts", "Lists/python", "Junk")
    names = {s.name: s.role for s in MaildirSource(verbatim).streams()}
    assert names == {"INBOX": "inbox", "Sent": "sent", "Lists/python": "other", "Junk": "junk"}
    plus = make_maildir(tmp_path / "p", "INBOX", ".Sent Items", ".Drafts", ".Lists.python")
    names = {s.name: s.role for s in MaildirSource(plus).streams()}
    assert names == {"INBOX": "inbox", "Sent Items": "sent", "Lists/python": "other"}
    assert folder_role("[Gmail]/Sent Mail") == "sent"
    assert folder_role("Outbox", frozenset({"outbox"})) == "sent"
    only = MaildirSource(verbatim, folders=["INBOX"]).streams()
    assert [s.name for s in only] == ["INBOX"]


def test_not_a_maildir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceInvalid, match="no such folder"):
        MaildirSource(tmp_path / "missing").streams()
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceInvalid, match="no Maildir folder"):
        MaildirSource(tmp_path / "empty").streams()


def test_incremental_polls_read_only_what_changed(tmp_path: Path) -> None:
    mail = make_maildir(tmp_path / "m", "INBOX")
    files = [deliver(mail, _msg(i), seen=i % 2 == 0) for i in range(20)]
    src = MaildirSource(mail, batch_size=7)
    [inbox] = src.streams()
    items, cursor, read = _poll(src, inbox, None)
    assert len(items) == 20 and read == 20
    assert items[0].provider_id.startswith("INBOX/")

    items, cursor2, read = _poll(src, inbox, cursor)
    assert items == [] and read == 0 and cursor2 == cursor  # unchanged: nothing opened

    # Pretend the first poll was long ago, so the watermark does not cover fresh files.
    old = json.loads(cursor)
    old["wm"] = os.stat(files[-1]).st_ctime_ns + 1
    cursor = json.dumps(old)
    new = deliver(mail, _msg(99), seen=False)
    items, cursor, read = _poll(src, inbox, cursor)
    assert [m.get("Subject") for m in items] == ["m99"]
    # A mail client marks it read: new/ → cur/ with flags; only that file is read again.
    old = json.loads(cursor)
    old["wm"] = os.stat(new).st_ctime_ns + 1
    os.rename(new, mail / "cur" / (new.name + ":2,S"))
    items, _, read = _poll(src, inbox, json.dumps(old))
    assert [m.get("Subject") for m in items] == ["m99"] and read == 1
    assert "maildir:S" in items[0].labels


def test_batches_before_the_last_keep_the_old_cursor(tmp_path: Path) -> None:
    mail = make_maildir(tmp_path / "m", "INBOX")
    for i in range(10):
        deliver(mail, _msg(i))
    src = MaildirSource(mail, batch_size=3)
    [inbox] = src.streams()
    batches = list(src.poll(inbox, None, now=NOW))
    assert [b.cursor for b in batches[:-1]] == [None] * (len(batches) - 1)
    assert batches[-1].done and batches[-1].cursor is not None


class _Guard(io.BytesIO):
    """A file that fails the test if more than `limit` bytes are read from it."""

    def __init__(self, data: bytes, limit: int) -> None:
        super().__init__(data)
        self.limit = limit

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        assert self.tell() <= self.limit, f"read {self.tell()} bytes of a large body"
        return chunk


def test_only_the_header_section_is_read() -> None:
    body = b"x" * 50_000_000
    plain = _msg(1) + body
    head, peek, truncated = read_header_section(_Guard(plain, 64 * 1024))
    assert b"Subject: m1" in head and peek == b"" and not truncated
    multipart = (
        b"From: a@example.org\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\n" + body
    )
    head, peek, _ = read_header_section(_Guard(multipart, 64 * 1024))
    assert b"text/calendar" in peek and len(peek) <= 32 * 1024


def test_a_huge_header_is_cut_not_fatal(tmp_path: Path) -> None:
    huge = b"References: " + b" ".join(b"<%d@example.org>" for d in range(200_000)) + b"\r\n"
    data = b"From: a@example.org\r\n" + huge * 3 + b"Subject: big\r\n\r\nbody"
    head, _, truncated = read_header_section(io.BytesIO(data))
    assert truncated and len(head) <= 512 * 1024


MBOX = (
    b"From 1@xxx Mon Oct 05 10:00:00 +0000 2026\n"
    b"X-GM-THRID: 1700000000000000001\nX-Gmail-Labels: Sent,Category Updates\n"
    b"From: alex@example.com\nTo: zoe@example.org\nSubject: one\nMessage-ID: <z1@example.com>\n"
    b"\nbody line\n>From escaped\n\n"
    b"From 2@xxx Mon Oct 05 11:00:00 +0000 2026\nFrom: zoe@example.org\nSubject: two\n\nx\n\n"
    b"From 3@xxx Mon Oct 05 12:00:00 +0000 2026\nFrom: zoe@example.org\nSubject: three\n\ny\n"
)


def test_mbox_reads_headers_labels_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "all.mbox"
    path.write_bytes(MBOX)
    src = MboxFile(path, batch_size=1)
    [stream] = src.streams()
    batches = list(src.poll(stream, None, now=NOW))
    items = [m for b in batches for m in b.items]
    assert [m.get("Subject") for m in items] == ["one", "two", "three"]
    assert items[0].folder_role == "sent" and "CATEGORY_UPDATES" in items[0].labels
    assert items[0].thread_id == "1700000000000000001"
    assert items[0].provider_id == "mid:<z1@example.com>"
    assert items[1].provider_id.startswith("sha1:")
    # Resume from the cursor after the first message: the rest, nothing twice.
    rest = [m for b in src.poll(stream, batches[0].cursor, now=NOW) for m in b.items]
    assert [m.get("Subject") for m in rest] == ["two", "three"]
    end = batches[-1].cursor
    assert [m for b in src.poll(stream, end, now=NOW) for m in b.items] == []


def test_takeout_labels() -> None:
    assert takeout_labels("Inbox,Spam,Category Promotions,Work") == {
        "INBOX",
        "SPAM",
        "CATEGORY_PROMOTIONS",
        "Work",
    }
    assert takeout_labels(None) == frozenset()


def test_raw_8bit_headers_are_read_in_the_body_charset() -> None:
    from connectors.mailparse import parse_header_block

    subject = "Привет, как дела?"
    block = (
        b"From: =?koi8-r?b?98HT0Q==?= <vasya@example.org>\r\nSubject: "
        + subject.encode("cp1251")
        + b'\r\nContent-Type: text/plain;\r\n charset="windows-1251"\r\n'
    )
    fields = dict(parse_header_block(block))
    assert fields["Subject"] == subject
    latin = dict(parse_header_block(b"Subject: caf\xe9\r\n"))
    assert latin["Subject"] == "café"
    bogus = dict(
        parse_header_block(b"Subject: caf\xe9\r\nContent-Type: text/plain; charset=base64\r\n")
    )
    assert bogus["Subject"] == "café"
