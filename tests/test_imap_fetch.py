"""The raw FETCH parser, on responses recorded from Dovecot 2.3 through imaplib."""

from __future__ import annotations

import imaplib
import io
from datetime import UTC, datetime

import pytest

from connectors.imap_fetch import (
    MAX_LITERAL,
    FetchAnswer,
    Fetched,
    Untagged,
    parse_internaldate,
    parse_other,
    read_fetch,
    uid_set,
)

HEADER = (
    b"From: Sam Lee <sam@example.org>\r\nSubject: one\r\nMessage-ID: <msg1.one@example.org>\r\n\r\n"
)
FIELDS = b"BODY[HEADER.FIELDS (FROM SUBJECT MESSAGE-ID)]"
# As Dovecot 2.3 sends them, CONDSTORE enabled (so each response carries MODSEQ).
RECORDED = (
    b'* 1 FETCH (UID 1 MODSEQ (4) FLAGS (\\Seen \\Recent $Label1) INTERNALDATE "25-Nov-2026'
    b' 23:14:51 +0000" RFC822.SIZE 404 ' + FIELDS + b" {%d}\r\n" % len(HEADER) + HEADER + b")\r\n"
    b'* 2 FETCH (UID 7 MODSEQ (5) FLAGS () INTERNALDATE " 2-Mar-2026 08:00:00 +0100"'
    b" RFC822.SIZE 12 " + FIELDS + b" {2}\r\n\r\n)\r\n"
    b"A7 OK Fetch completed (0.001 + 0.000 secs).\r\n"
)


def read(wire: bytes, *, cap: int = MAX_LITERAL) -> tuple[FetchAnswer, list[tuple[str, Untagged]]]:
    stream = io.BytesIO(wire)
    seen: list[tuple[str, Untagged]] = []
    answer = read_fetch(
        stream.readline, stream.read, b"A7", lambda t, d: seen.append((t, d)), max_literal=cap
    )
    return answer, seen


def test_reads_each_response_by_uid() -> None:
    answer, seen = read(RECORDED)
    assert answer.status == "OK" and answer.other == [] and seen == []
    assert answer.fetched == [
        Fetched(
            uid=1,
            flags=("\\Seen", "\\Recent", "$Label1"),
            internal_date=datetime(2026, 11, 25, 23, 14, 51, tzinfo=UTC),
            size=404,
            header=HEADER,
        ),
        Fetched(
            uid=7,
            flags=(),
            internal_date=datetime(2026, 3, 2, 7, 0, 0, tzinfo=UTC),
            size=12,
            header=b"\r\n",
        ),
    ]


def test_unusual_shapes_go_to_imapclients_parser() -> None:
    wire = (
        b"* 3 FETCH (FLAGS (\\Seen))\r\n"  # unsolicited, no UID: not ours
        b"* 4 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {14}\r\nSubject: x\r\n\r\n"
        b' UID 9 RFC822.SIZE 30 FLAGS (\\Flagged) INTERNALDATE "01-Jan-2026 00:00:00 -0530")\r\n'
        b'* 5 FETCH (UID 10 FLAGS () INTERNALDATE "bogus" BODY[HEADER.FIELDS (SUBJECT)] "")\r\n'
        b"* 6 FETCH (UID 11 FLAGS (\\Seen))\r\n"  # a flag update of a message
        b"A7 OK done\r\n"
    )
    answer, _seen = read(wire)
    assert answer.fetched == []
    parsed = {f.uid: f for f in parse_other(answer.other)}
    assert sorted(parsed) == [9, 10]
    assert parsed[9].header == b"Subject: x\r\n\r\n" and parsed[9].flags == ("\\Flagged",)
    assert parsed[9].size == 30
    assert parsed[9].internal_date == datetime(2026, 1, 1, 5, 30, tzinfo=UTC)
    assert parsed[10].header == b""


def test_other_untagged_responses_are_kept_as_imaplib_keeps_them() -> None:
    wire = RECORDED.replace(
        b"A7 OK", b"* 9 EXISTS\r\n* 1 EXPUNGE\r\n* OK [HIGHESTMODSEQ 12] Highest\r\nA7 OK"
    )
    answer, seen = read(wire)
    assert [f.uid for f in answer.fetched] == [1, 7]
    assert seen == [
        ("EXISTS", b"9"),
        ("EXPUNGE", b"1"),
        ("OK", b"[HIGHESTMODSEQ 12] Highest"),
        ("HIGHESTMODSEQ", b"12"),
    ]


def test_refusal_is_an_answer_and_a_bye_or_eof_an_abort() -> None:
    answer, _ = read(b"A7 NO [SERVERBUG] Internal error\r\n")
    assert answer.status == "NO" and answer.text.startswith(b"[SERVERBUG]")
    with pytest.raises(imaplib.IMAP4.abort, match="shutting down"):
        read(b"* BYE Server shutting down.\r\n")
    with pytest.raises(imaplib.IMAP4.abort, match="EOF"):
        read(RECORDED[:120])  # the answer ends inside the first literal
    with pytest.raises(imaplib.IMAP4.abort, match="EOF"):
        read(RECORDED[: RECORDED.index(b"A7")])  # no completion
    with pytest.raises(imaplib.IMAP4.abort, match="unexpected"):
        read(b"HTTP/1.1 400 Bad Request\r\n")


def test_a_huge_literal_is_cut_and_skipped_not_held() -> None:
    body = b"Subject: " + b"x" * 5000 + b"\r\n\r\n"
    wire = (
        b'* 1 FETCH (UID 3 FLAGS () INTERNALDATE "01-Jan-2026 00:00:00 +0000" RFC822.SIZE 9 '
        + FIELDS
        + b" {%d}\r\n" % len(body)
        + body
        + b")\r\n"
        + RECORDED
    )
    answer, _ = read(wire, cap=100)
    first = answer.fetched[0]
    assert first.uid == 3 and first.truncated and first.header == body[:100]
    assert [f.uid for f in answer.fetched] == [3, 1, 7]  # still in step afterwards
    assert not answer.fetched[1].truncated


def test_internaldate() -> None:
    assert parse_internaldate(b"17-Jul-1996 02:44:25 -0700") == datetime(
        1996, 7, 17, 9, 44, 25, tzinfo=UTC
    )
    assert parse_internaldate(b"31-Feb-2026 00:00:00 +0000") is None
    assert parse_internaldate(b"17-Foo-1996 02:44:25 -0700") is None


def test_uid_set_compresses_runs() -> None:
    assert uid_set([5, 1, 2, 3, 9, 10, 3]) == "1:3,5,9:10"
    assert uid_set([42]) == "42"
    assert uid_set([]) == ""


def test_gmail_fetch_uses_message_and_thread_ids_and_labels() -> None:
    from connectors.base import StreamInfo
    from connectors.imap_read import HEADER_KEY, imapclient_message

    # As imapclient parses a Gmail FETCH (labels are bytes, ids ints).
    data = {
        b"FLAGS": (b"\\Seen", b"\\Recent"),
        b"INTERNALDATE": datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        b"RFC822.SIZE": 1234,
        HEADER_KEY: HEADER,
        b"X-GM-MSGID": 1790000000000000001,
        b"X-GM-THRID": 1790000000000000000,
        b"X-GM-LABELS": (b"\\Inbox", b"Work"),
    }
    stream = StreamInfo("[Gmail]/All Mail", "mail", "all")
    msg = imapclient_message(stream, 7, 42, data, gmail=True)
    assert msg.provider_id == "gm/1790000000000000001"
    assert msg.thread_id == "1790000000000000000"
    assert msg.labels == {"\\Seen", "\\Inbox", "Work"}
    assert msg.get("Subject") == "one" and msg.folder_role == "all"
    plain = imapclient_message(StreamInfo("INBOX", "mail", "inbox"), 7, 42, data, gmail=False)
    assert plain.provider_id == "INBOX/7/42" and plain.thread_id is None
