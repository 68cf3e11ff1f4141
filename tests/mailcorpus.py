"""Raw RFC 5322 messages for classifier tests: one or more per kind, and broken ones.

Each builder returns the bytes a mail store would hold (headers, blank line, a short body).
People use RFC 2606 names only (example.com/.org/.net and *.example). `CORPUS` maps a name
to (bytes, expected kind), with None where no kind is meaningful (empty file, binary junk).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime

from connectors.base import FolderRole, RawMessage
from connectors.mailparse import body_part_types, parse_header_block, split_header_block
from syncd.ingest.addresses import OwnerIdentity
from syncd.ingest.classify import Kind

OWNER_NAME = "Alex Morgan"
OWNER_ADDRESS = "alex@example.com"
OWNER_ALIAS = "alex.morgan@example.com"


def owner() -> OwnerIdentity:
    """The owner every corpus message is written to or from."""
    return OwnerIdentity.from_config(OWNER_NAME, [OWNER_ADDRESS], [OWNER_ALIAS])


def raw_message(
    data: bytes,
    *,
    folder_role: FolderRole = "inbox",
    labels: frozenset[str] = frozenset(),
    internal_date: datetime | None = None,
    thread_id: str | None = None,
) -> RawMessage:
    """What a mail source would make of `data`: its header fields and the body part types."""
    head, body = split_header_block(data)
    return RawMessage(
        provider_id="test",
        folder="INBOX",
        headers=parse_header_block(head),
        internal_date=internal_date,
        size=len(data),
        thread_id=thread_id,
        labels=labels,
        folder_role=folder_role,
        body_hints=body_part_types(body[: 32 * 1024]),
    )


def build(
    headers: list[tuple[str, str]], body: str = "Hello,\n\nThanks!\n", eol: str = "\r\n"
) -> bytes:
    """Serialise header fields and a body; folded values keep their embedded line breaks."""
    head = eol.join(f"{name}: {value}" for name, value in headers)
    return (head + eol + eol + body.replace("\n", eol)).encode("utf-8")


_DATE = "Tue, 05 Mar 2024 10:15:00 +0100"


# --- human ----------------------------------------------------------------------------------


def human_in() -> bytes:
    return build(
        [
            ("Return-Path", "<jamie.lee@example.org>"),
            ("Received", "from mx.example.org by mx.example.com; Tue, 05 Mar 2024 10:15:02 +0100"),
            ("From", "Jamie Lee <jamie.lee@example.org>"),
            ("To", "Alex Morgan <alex@example.com>"),
            ("Subject", "Lunch on Thursday?"),
            ("Date", _DATE),
            ("Message-ID", "<CAF3xQ2-9a7@mail.example.org>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", 'text/plain; charset="UTF-8"'),
        ],
        "Hi Alex,\n\nare you free for lunch on Thursday?\n\nJamie\n",
    )


def human_out() -> bytes:
    return build(
        [
            ("From", "Alex Morgan <Alex@Example.com>"),
            ("To", '"Lee, Jamie" <jamie.lee@example.org>'),
            ("Cc", "Priya Raman <priya@example.net>, alex@example.com"),
            ("Subject", "Proposal draft"),
            ("Date", "Wed, 06 Mar 2024 09:00:00 +0000"),
            ("Message-ID", "<20240306090000.1234@example.com>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("User-Agent", "Mozilla Thunderbird"),
        ],
        "Hi both,\n\nthe proposal is attached.\n\nAlex\n",
    )


def human_reply() -> bytes:
    return build(
        [
            ("From", "Priya Raman <priya@example.net>"),
            ("To", "Alex Morgan <alex.morgan@example.com>"),
            ("Subject", "Re: Proposal draft"),
            ("Date", "Wed, 06 Mar 2024 11:30:00 +0530"),
            ("Message-ID", "<reply-77@example.net>"),
            ("In-Reply-To", "<20240306090000.1234@example.com>"),
            ("References", "<20240306090000.1234@example.com>"),
            ("Content-Type", "text/plain; charset=utf-8"),
        ],
        "Looks good to me.\n",
    )


def human_encoded_names() -> bytes:
    return build(
        [
            ("From", "=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg.mueller@example.net>"),
            ("To", "=?ISO-8859-1?Q?Alex_Morgan?= <alex@example.com>"),
            ("Subject", "=?UTF-8?B?w5xiZXJhcmJlaXRldGVy?= =?UTF-8?B?IEVudHd1cmY=?="),
            ("Date", "Thu, 07 Mar 2024 08:00:00 +0100"),
            ("Message-ID", "<x1@example.net>"),
        ]
    )


def human_group_large() -> bytes:
    recipients = ", ".join(f"Person {i} <person{i}@example.org>" for i in range(14))
    return build(
        [
            ("From", "Jamie Lee <jamie.lee@example.org>"),
            ("To", recipients),
            ("Cc", "alex@example.com"),
            ("Subject", "Team offsite"),
            ("Date", _DATE),
            ("Message-ID", "<offsite@example.org>"),
        ]
    )


# --- bulk -----------------------------------------------------------------------------------


def newsletter() -> bytes:
    return build(
        [
            ("From", "The Weekly Example <newsletter@news.example.com>"),
            ("To", "alex@example.com"),
            ("Subject", "Issue #42: what we learned this week"),
            ("Date", _DATE),
            ("Message-ID", "<issue42.abc@news.example.com>"),
            ("List-Id", "The Weekly Example <weekly.news.example.com>"),
            ("List-Unsubscribe", "<mailto:unsub@news.example.com>, <https://news.example.com/u/x>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Precedence", "bulk"),
            ("Content-Type", "multipart/alternative; boundary=nl"),
        ],
        "--nl\nContent-Type: text/plain\n\nHello readers\n--nl--\n",
    )


def newsletter_announce_list() -> bytes:
    # A Mailman announcement list: list headers, but "List-Post: NO".
    return build(
        [
            ("From", "Example Project <announce-owner@lists.example.org>"),
            ("To", "announce@lists.example.org"),
            ("Subject", "[announce] Example 2.0 released"),
            ("Date", _DATE),
            ("Message-ID", "<rel-2.0@lists.example.org>"),
            ("List-Id", "Release announcements <announce.lists.example.org>"),
            ("List-Post", "NO (posting not allowed on this list)"),
            ("List-Unsubscribe", "<mailto:announce-leave@lists.example.org>"),
            ("Precedence", "list"),
            ("X-Mailman-Version", "3.3.9"),
        ]
    )


def marketing() -> bytes:
    return build(
        [
            ("Return-Path", "<0101018e-bounce-abc@ses.shop.example>"),
            ("From", "Shop Example <offers@shop.example>"),
            ("To", "alex@example.com"),
            ("Subject", "=?UTF-8?Q?Spring_sale:_30=25_off_everything_=F0=9F=8C=B8?="),
            ("Date", _DATE),
            ("Message-ID", "<0101018e.sale@email.shop.example>"),
            ("Feedback-ID", "1.us-east-1.abc:AmazonSES"),
            ("X-SES-Outgoing", "2024.03.05-54.240.0.1"),
            ("X-Campaign-Id", "spring-2024"),
            ("List-Unsubscribe", "<https://shop.example/unsub/abc>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ]
    )


def marketing_sendgrid() -> bytes:
    return build(
        [
            ("From", "Brand <hello@brand.example>"),
            ("To", "alex@example.com"),
            ("Subject", "New arrivals you will love"),
            ("Date", _DATE),
            ("Message-ID", "<sg.1@brand.example>"),
            ("X-SG-EID", "u001.abcdefghijkl"),
            ("List-Unsubscribe", "<mailto:unsubscribe@brand.example>"),
        ]
    )


def discussion_list() -> bytes:
    return build(
        [
            ("From", "Sam Ortiz <sam@example.net>"),
            ("To", "dev@lists.example.org"),
            ("Subject", "[dev] Proposal: drop Python 3.9"),
            ("Date", _DATE),
            ("Message-ID", "<sam.1@example.net>"),
            ("List-Id", "Developers <dev.lists.example.org>"),
            ("List-Post", "<mailto:dev@lists.example.org>"),
            ("List-Unsubscribe", "<mailto:dev-leave@lists.example.org>"),
            ("List-Archive", "<https://lists.example.org/archives/dev>"),
            ("Precedence", "list"),
            ("X-Mailman-Version", "3.3.9"),
            ("X-BeenThere", "dev@lists.example.org"),
            ("Sender", '"dev" <dev-bounces@lists.example.org>'),
        ]
    )


# --- automation -----------------------------------------------------------------------------


def notification_code_host() -> bytes:
    # Shaped like a code host's notification: it also carries list headers.
    return build(
        [
            ("From", "Sam Ortiz <notifications@code.example>"),
            ("Reply-To", "acme/widgets <reply+ABCDEF@reply.code.example>"),
            ("To", "acme/widgets <widgets@noreply.code.example>"),
            ("Cc", "Alex Morgan <alex@example.com>, Mention <mention@noreply.code.example>"),
            ("Subject", "Re: [acme/widgets] Fix the flaky test (PR #123)"),
            ("Date", _DATE),
            ("Message-ID", "<acme/widgets/pull/123/c456@code.example>"),
            ("In-Reply-To", "<acme/widgets/pull/123@code.example>"),
            ("References", "<acme/widgets/pull/123@code.example>"),
            ("Precedence", "list"),
            ("X-GitHub-Sender", "samortiz"),
            ("X-GitHub-Recipient", "alexm"),
            ("X-GitHub-Reason", "mention"),
            ("List-ID", "acme/widgets <widgets.acme.code.example>"),
            ("List-Archive", "https://code.example/acme/widgets"),
            ("List-Post", "<mailto:reply+ABCDEF@reply.code.example>"),
            ("List-Unsubscribe", "<mailto:unsub+ABCDEF@reply.code.example>"),
            ("X-Auto-Response-Suppress", "All"),
        ]
    )


def notification_noreply() -> bytes:
    return build(
        [
            ("From", "Example Accounts <no-reply@accounts.example.com>"),
            ("To", "alex@example.com"),
            ("Subject", "Security alert: new sign-in"),
            ("Date", _DATE),
            ("Message-ID", "<alert-1@accounts.example.com>"),
            ("Auto-Submitted", "auto-generated"),
            ("X-Auto-Response-Suppress", "All"),
        ]
    )


def notification_tracker() -> bytes:
    return build(
        [
            ("From", "Jamie Lee (Tracker) <jira@tracker.example>"),
            ("To", "alex@example.com"),
            ("Subject", "[TRACK-12] Update the onboarding guide"),
            ("Date", _DATE),
            ("Message-ID", "<JIRA.1.2@tracker.example>"),
            ("X-JIRA-FingerPrint", "8b1f0c"),
            ("Auto-Submitted", "auto-generated"),
        ]
    )


def auto_reply_ooo() -> bytes:
    return build(
        [
            ("From", "Priya Raman <priya@example.net>"),
            ("To", "Alex Morgan <alex@example.com>"),
            ("Subject", "Automatic reply: Proposal draft"),
            ("Date", _DATE),
            ("Message-ID", "<ooo-1@example.net>"),
            ("In-Reply-To", "<20240306090000.1234@example.com>"),
            ("Auto-Submitted", "auto-replied"),
            ("X-Auto-Response-Suppress", "All"),
            ("Return-Path", "<>"),
        ],
        "I am out of the office until Monday.\n",
    )


def auto_reply_subject_only() -> bytes:
    return build(
        [
            ("From", "Lena Vogel <lena@example.org>"),
            ("To", "alex@example.com"),
            ("Subject", "Abwesenheitsnotiz: Angebot"),
            ("Date", _DATE),
            ("Message-ID", "<abw@example.org>"),
        ]
    )


def bounce_dsn() -> bytes:
    return build(
        [
            ("Return-Path", "<>"),
            ("From", "MAILER-DAEMON@mx.example.com (Mail Delivery System)"),
            ("To", "alex@example.com"),
            ("Subject", "Undelivered Mail Returned to Sender"),
            ("Date", _DATE),
            ("Message-ID", "<20240305091500.DSN@mx.example.com>"),
            ("Auto-Submitted", "auto-replied"),
            ("MIME-Version", "1.0"),
            (
                "Content-Type",
                'multipart/report; report-type=delivery-status;\r\n\tboundary="dsn-b"',
            ),
        ],
        "--dsn-b\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n\n"
        "I'm sorry to have to inform you that your message could not be delivered.\n\n"
        "--dsn-b\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; nobody@example.org\n"
        "Action: failed\n"
        "Status: 5.1.1\n\n"
        "--dsn-b\n"
        "Content-Type: message/rfc822-headers\n\n"
        "From: Alex Morgan <alex@example.com>\n"
        "To: nobody@example.org\n"
        "Subject: Hello\n\n"
        "--dsn-b--\n",
    )


def bounce_exchange() -> bytes:
    return build(
        [
            ("From", "Microsoft Outlook <postmaster@example.org>"),
            ("To", "alex@example.com"),
            ("Subject", "Undeliverable: Proposal draft"),
            ("Date", _DATE),
            ("Message-ID", "<ndr-1@example.org>"),
            ("X-Failed-Recipients", "someone@example.org"),
        ]
    )


def calendar_invitation() -> bytes:
    return build(
        [
            ("From", "Jamie Lee <jamie.lee@example.org>"),
            ("Sender", "Google Calendar <calendar-notification@calendar.example>"),
            ("Reply-To", "Jamie Lee <jamie.lee@example.org>"),
            ("To", "alex@example.com"),
            ("Subject", "Invitation: Quarterly review @ Tue 12 Mar 2024 14:00 - 15:00 (CET)"),
            ("Date", _DATE),
            ("Message-ID", "<inv-1@calendar.example>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", 'multipart/mixed; boundary="outer"'),
        ],
        "--outer\n"
        'Content-Type: multipart/alternative; boundary="alt"\n\n'
        "--alt\n"
        "Content-Type: text/plain; charset=UTF-8\n\n"
        "You have been invited to Quarterly review.\n\n"
        "--alt\n"
        "Content-Type: text/calendar; charset=UTF-8; method=REQUEST\n\n"
        "BEGIN:VCALENDAR\nMETHOD:REQUEST\nBEGIN:VEVENT\nUID:q1@example.org\n"
        "SUMMARY:Quarterly review\nEND:VEVENT\nEND:VCALENDAR\n\n"
        "--alt--\n\n"
        "--outer\n"
        'Content-Type: application/ics; name="invite.ics"\n'
        'Content-Disposition: attachment; filename="invite.ics"\n\n'
        "QkVHSU46VkNBTEVOREFS\n\n"
        "--outer--\n",
    )


def calendar_reply_outlook() -> bytes:
    return build(
        [
            ("From", "Priya Raman <priya@example.net>"),
            ("To", "Alex Morgan <alex@example.com>"),
            ("Subject", "Accepted: Quarterly review"),
            ("Date", _DATE),
            ("Message-ID", "<acc-1@example.net>"),
            ("Content-Class", "urn:content-classes:calendarmessage"),
            ("X-Auto-Response-Suppress", "All"),
            ("Content-Type", 'text/calendar; charset="utf-8"; method=REPLY'),
        ],
        "BEGIN:VCALENDAR\nMETHOD:REPLY\nEND:VCALENDAR\n",
    )


def spam() -> bytes:
    return build(
        [
            ("From", "Prize Department <winner@prizes.example>"),
            ("To", "alex@example.com"),
            ("Subject", "You have won!!!"),
            ("Date", _DATE),
            ("Message-ID", "<win@prizes.example>"),
            ("X-Spam-Flag", "YES"),
            ("X-Spam-Status", "Yes, score=14.2 required=5.0 tests=BAYES_99,URIBL_BLACK"),
        ]
    )


# --- malformed ------------------------------------------------------------------------------


def broken_rfc2047() -> bytes:
    return build(
        [
            ("From", "=?utf-8?Q?Caf=C3=A9_Owner?= <owner@cafe.example>"),
            ("To", "=?utf-8?B?!!!not-base64?= <alex@example.com>"),
            ("Subject", "=?utf-8?B?SGVsbG8gd29ybGQ?= =?utf-8?Q?unterminated =?utf-8?B?w7"),
            ("Date", _DATE),
            ("Message-ID", "<b2047@cafe.example>"),
        ]
    )


def invalid_charset() -> bytes:
    return build(
        [
            ("From", "=?x-no-such-charset?Q?Ren=E9?= <rene@example.org>"),
            ("To", "alex@example.com"),
            ("Subject", "=?unicode-1-1-utf-7-bogus?B?SGk=?= =?idna?Q?xn--bcher-kva?="),
            ("Date", _DATE),
            ("Message-ID", "<charset@example.org>"),
        ]
    )


def _raw_8bit(encoding: str, name: str, subject: str) -> bytes:
    head = (
        f"From: {name} <sender@example.org>\r\n"
        "To: alex@example.com\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {_DATE}\r\n"
        "Message-ID: <8bit@example.org>\r\n"
        "\r\n"
        "body\r\n"
    )
    return head.encode(encoding)


def raw_8bit_cp1251() -> bytes:
    return _raw_8bit("cp1251", "Иван Петров", "Привет, как дела?")


def raw_8bit_latin1() -> bytes:
    return _raw_8bit("latin-1", "Zoë Dupré", "Café crème à 10h")


def missing_date() -> bytes:
    return build(
        [
            ("From", "Jamie Lee <jamie.lee@example.org>"),
            ("To", "alex@example.com"),
            ("Subject", "No date here"),
            ("Message-ID", "<nodate@example.org>"),
        ]
    )


def missing_from() -> bytes:
    return build(
        [
            ("To", "alex@example.com"),
            ("Subject", "Who sent this?"),
            ("Date", _DATE),
        ]
    )


def huge_header() -> bytes:
    references = "\r\n ".join(f"<ref{i:05d}.long-thread@example.org>" for i in range(2500))
    subject = "Re: " + "very long subject " * 6000
    return build(
        [
            ("From", "Jamie Lee <jamie.lee@example.org>"),
            ("To", "alex@example.com"),
            ("Subject", subject),
            ("Date", _DATE),
            ("Message-ID", "<huge@example.org>"),
            ("In-Reply-To", "<ref02499.long-thread@example.org>"),
            ("References", references),
        ]
    )


def garbage_addresses() -> bytes:
    return build(
        [
            ("From", "Jamie Lee <jamie.lee@example.org>"),
            (
                "To",
                '<<<>>>, @@@, foo@, @bar, "unterminated <x@, ;;;, a b c <>, '
                "undisclosed-recipients:;, (comment only), alex@example.com",
            ),
            ("Cc", "=?utf-8?Q?=FF=FE?= <@>, <mailto:x@example.org>, \x7f\x00@example.org"),
            ("Subject", "Garbage recipients"),
            ("Date", "Someday, 99 Foo 20xx 25:61:61 +9999"),
            ("Message-ID", "not an id at all"),
        ]
    )


def no_blank_line() -> bytes:
    # A header section and nothing else: no separator, no body.
    return (
        b"From: Jamie Lee <jamie.lee@example.org>\n"
        b"To: alex@example.com\n"
        b"Subject: headers only\n"
        b"Date: Tue, 05 Mar 2024 10:15:00 +0100"
    )


def empty() -> bytes:
    return b""


def binary_junk() -> bytes:
    return random.Random(20240305).randbytes(4096)


_BUILDERS: dict[str, tuple[Callable[[], bytes], Kind | None]] = {
    "human_in": (human_in, "human"),
    "human_out": (human_out, "human"),
    "human_reply": (human_reply, "human"),
    "human_encoded_names": (human_encoded_names, "human"),
    "human_group_large": (human_group_large, "human"),
    "newsletter": (newsletter, "newsletter"),
    "newsletter_announce_list": (newsletter_announce_list, "newsletter"),
    "marketing": (marketing, "marketing"),
    "marketing_sendgrid": (marketing_sendgrid, "marketing"),
    "discussion_list": (discussion_list, "list"),
    "notification_code_host": (notification_code_host, "notification"),
    "notification_noreply": (notification_noreply, "notification"),
    "notification_tracker": (notification_tracker, "notification"),
    "auto_reply_ooo": (auto_reply_ooo, "auto_reply"),
    "auto_reply_subject_only": (auto_reply_subject_only, "auto_reply"),
    "bounce_dsn": (bounce_dsn, "bounce"),
    "bounce_exchange": (bounce_exchange, "bounce"),
    "calendar_invitation": (calendar_invitation, "calendar"),
    "calendar_reply_outlook": (calendar_reply_outlook, "calendar"),
    "spam": (spam, "spam"),
    "broken_rfc2047": (broken_rfc2047, "human"),
    "invalid_charset": (invalid_charset, "human"),
    "raw_8bit_cp1251": (raw_8bit_cp1251, "human"),
    "raw_8bit_latin1": (raw_8bit_latin1, "human"),
    "missing_date": (missing_date, "human"),
    "missing_from": (missing_from, "human"),
    "huge_header": (huge_header, "human"),
    "garbage_addresses": (garbage_addresses, "human"),
    "no_blank_line": (no_blank_line, "human"),
    "empty": (empty, None),
    "binary_junk": (binary_junk, None),
}

CORPUS: dict[str, tuple[bytes, Kind | None]] = {
    name: (builder(), kind) for name, (builder, kind) in _BUILDERS.items()
}
