"""Header helpers: the cases the mutation run of issue 18 found unpinned.

Display names quoted the way Outlook and Gmail write them, message ids in UTF-8 (RFC 6532),
addresses written where the config wants domains, a zone with a comment glued to it, and
the fast paths that keep the usual headers away from the stdlib's slow parsers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NoReturn

import pytest

from syncd.ingest import addresses
from syncd.ingest.addresses import (
    OwnerIdentity,
    normalize_message_id,
    parse_addresses,
    parse_date,
    parse_references,
)


def test_quoted_display_names_are_kept() -> None:
    # Outlook quotes "Last, First"; Gmail quotes any name. A plain list of such mailboxes is
    # what the regex fast path reads, and the quoted name is the one the user sees.
    value = '"Morgan, Alex" <Alex.Morgan@example.com>, "Jamie Lee" <jamie@example.org>'
    assert parse_addresses([value]) == [
        ("Morgan, Alex", "alex.morgan@example.com"),
        ("Jamie Lee", "jamie@example.org"),
    ]


def _not_called(*args: object) -> NoReturn:
    raise AssertionError(f"slow parser called with {args!r}")


def test_usual_headers_never_reach_the_slow_stdlib_parsers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # getaddresses and parsedate_tz are pure Python and were most of classify's cost; the
    # forms mail programs write must stay on the regex paths (the stdlib is only spied on).
    monkeypatch.setattr(addresses, "getaddresses", _not_called)
    monkeypatch.setattr(addresses, "parsedate_tz", _not_called)
    to = 'Jamie Lee <jamie@example.org>, priya@example.net, "Morgan, Alex" <alex@example.com>'
    assert parse_addresses([to, "<ops@example.org>"]) == [
        ("Jamie Lee", "jamie@example.org"),
        ("", "priya@example.net"),
        ("Morgan, Alex", "alex@example.com"),
        ("", "ops@example.org"),
    ]
    # Gmail, Outlook (no weekday) and Thunderbird with its zone comment.
    assert parse_date("Tue, 5 Mar 2024 10:15:00 +0100") == datetime(2024, 3, 5, 9, 15, tzinfo=UTC)
    assert parse_date("5 Mar 2024 10:15:00 -0800") == datetime(2024, 3, 5, 18, 15, tzinfo=UTC)
    assert parse_date("Tue, 05 Mar 2024 10:15:00 +0100 (CET)") == datetime(
        2024, 3, 5, 9, 15, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        # RFC 6532 lets message ids carry UTF-8.
        ("<20240305.Grüße@bücher.example>", "20240305.grüße@bücher.example"),
        ("<CAF+Ωmega@mail.example.org>", "caf+ωmega@mail.example.org"),
        # White space that is not ASCII still splits a token: not an id.
        ("<grüße\u00a01@bücher.example>", None),
        ("<会議\u3000議事録@example.jp>", None),
    ],
)
def test_non_ascii_message_ids(raw: str, normalized: str | None) -> None:
    assert normalize_message_id(raw) == normalized


def test_non_ascii_references() -> None:
    refs = "<a1@example.org> <Grüße@bücher.example> <bad\u00a0id@example.org>"
    assert parse_references(refs) == ("a1@example.org", "grüße@bücher.example")


def test_owner_domains_skip_what_is_an_address() -> None:
    # Writing one's address where the config wants a domain gives no domain, not a
    # "domain" with an @ in it that no address could ever be at.
    owner = OwnerIdentity.from_config(
        "Alex", ["alex@example.com"], [], domains=["example.org", "alex@example.net"]
    )
    assert owner.domains == {"example.org"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # RFC 5322 allows a comment straight after the zone, without white space: the zone
        # is still the zone, not lost with the comment.
        ("Tue, 5 Mar 2024 10:15:00 +0100(CET)", datetime(2024, 3, 5, 9, 15, tzinfo=UTC)),
        ("Tue, 5 Mar 2024 10:15:00 -0800(PST)", datetime(2024, 3, 5, 18, 15, tzinfo=UTC)),
        # A comment where the zone is expected, the zone after it.
        ("5 Mar 2024 10:15 (EST) -0500", datetime(2024, 3, 5, 15, 15, tzinfo=UTC)),
        # A comment glued to the weekday (RFC 5322 obs-day-of-week) reads only as it is:
        # without the comment, "Mon ," is what parsedate_tz cannot read.
        ("Mon(Rosenmontag), 3 Mar 2025 11:11:00 +0100", datetime(2025, 3, 3, 10, 11, tzinfo=UTC)),
        # RFC 5322 A.5 (its year moved into the range syncd accepts).
        (
            "Thu,\r\n      13\r\n        Feb\r\n          2014\r\n      23:32\r\n"
            "               -0330 (Newfoundland Time)",
            datetime(2014, 2, 14, 3, 2, tzinfo=UTC),
        ),
        # Nested comments: what is left of the outer one still reads.
        (
            "Tue, 5 Mar 2024 10:15:00 +0000 (Coordinated (Universal) Time)",
            datetime(2024, 3, 5, 10, 15, tzinfo=UTC),
        ),
    ],
)
def test_parse_date_comments_next_to_the_zone(raw: str, expected: datetime) -> None:
    assert parse_date(raw) == expected
