"""The raw FETCH parser, on responses recorded from Dovecot 2.3 through imaplib."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.imap_fetch import Fetched, parse_fetch, parse_internaldate, uid_set

HEADER = (
    b"From: Sam Lee <sam@example.org>\r\nSubject: one\r\nMessage-ID: <msg1.one@example.org>\r\n\r\n"
)
RECORDED: list[bytes | tuple[bytes, bytes] | None] = [
    (
        b'1 (UID 1 FLAGS (\\Seen \\Recent $Label1) INTERNALDATE "25-Nov-2026 23:14:51 +0000" '
        b"RFC822.SIZE 404 BODY[HEADER.FIELDS (FROM SUBJECT MESSAGE-ID)] {89}",
        HEADER,
    ),
    b")",
    (
        b'2 (UID 7 FLAGS () INTERNALDATE " 2-Mar-2026 08:00:00 +0100" RFC822.SIZE 12 '
        b"BODY[HEADER.FIELDS (FROM SUBJECT MESSAGE-ID)] {2}",
        b"\r\n",
    ),
    b")",
]


def test_parses_each_response_by_uid() -> None:
    parsed = parse_fetch(RECORDED)
    assert parsed == {
        1: Fetched(
            uid=1,
            flags=("\\Seen", "\\Recent", "$Label1"),
            internal_date=datetime(2026, 11, 25, 23, 14, 51, tzinfo=UTC),
            size=404,
            header=HEADER,
        ),
        7: Fetched(
            uid=7,
            flags=(),
            internal_date=datetime(2026, 3, 2, 7, 0, 0, tzinfo=UTC),
            size=12,
            header=b"\r\n",
        ),
    }


def test_items_after_the_literal_and_unsolicited_updates() -> None:
    data: list[bytes | tuple[bytes, bytes] | None] = [
        b"3 (FLAGS (\\Seen))",  # unsolicited, no UID: not ours
        (b"4 (BODY[HEADER.FIELDS (SUBJECT)] {14}", b"Subject: x\r\n\r\n"),
        b' UID 9 RFC822.SIZE 30 FLAGS (\\Flagged) INTERNALDATE "01-Jan-2026 00:00:00 -0530")',
        b'5 (UID 10 FLAGS () INTERNALDATE "bogus" BODY[HEADER.FIELDS (SUBJECT)] "")',
        None,
    ]
    parsed = parse_fetch(data)
    assert sorted(parsed) == [9, 10]
    assert parsed[9].header == b"Subject: x\r\n\r\n" and parsed[9].flags == ("\\Flagged",)
    assert parsed[9].size == 30
    assert parsed[9].internal_date == datetime(2026, 1, 1, 5, 30, tzinfo=UTC)
    assert parsed[10].internal_date is None and parsed[10].header == b""


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
