"""Header value helpers: encoded words, addresses, message ids, dates, the owner."""

from __future__ import annotations

import base64
import encodings.aliases
import quopri
import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, getaddresses

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from syncd.ingest.addresses import (
    OwnerIdentity,
    _simple_mailboxes,
    decode_words,
    is_public_mail_domain,
    normalize_address,
    normalize_message_id,
    parse_addresses,
    parse_date,
    parse_references,
)

# Every codec name Python knows, plus names mail really carries and names nobody knows.
CHARSETS = sorted(
    set(encodings.aliases.aliases)
    | set(encodings.aliases.aliases.values())
    | {"utf-8", "UTF-8", "iso-8859-1", "windows-1252", "koi8-r", "gb2312", "ks_c_5601-1987"}
    | {"x-unknown", "unknown-8bit", "utf-8*en", "base64", "rot13", "idna", "unicode_escape"}
    | {"undefined", "punycode", "raw_unicode_escape", "", "ütf-8", "a" * 80}
)

# --- decode_words --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("Plain subject", "Plain subject"),
        ("=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?=", "Jörg Müller"),
        ("=?utf-8?b?w5xiZXI=?=", "Über"),
        ("=?ISO-8859-1?Q?Caf=E9?= au lait", "Café au lait"),
        # White space between two encoded words is not text (RFC 2047 §6.2)...
        ("=?utf-8?Q?a?= =?utf-8?Q?b?=", "ab"),
        # ...but it is between an encoded word and plain text.
        ("Re: =?utf-8?Q?caf=C3=A9?= time", "Re: café time"),
        # A character split across two words still decodes (the bytes are joined first).
        ("=?UTF-8?B?0J/RgNC4?= =?UTF-8?B?0LLQtdGC?=", "Привет"),
        ("=?utf-8?q?=E2=82?= =?utf-8?q?=AC?=", "€"),
        ("=?utf-8*en?Q?hello?=", "hello"),
        ("line one\r\n  line two\ttabbed", "line one line two tabbed"),
        ("=?utf-8?Q?a=0D=0Ab?=", "a b"),
    ],
)
def test_decode_words(raw: str, decoded: str) -> None:
    assert decode_words(raw) == decoded


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        # Unknown charset: UTF-8 when the bytes are UTF-8, else Latin-1.
        ("=?x-no-such?Q?caf=C3=A9?=", "café"),
        ("=?x-no-such?Q?caf=E9?=", "café"),
        # Codecs that are not charsets are treated as unknown, not used.
        ("=?base64?Q?abc?=", "abc"),
        ("=?unicode_escape?Q?=5Cx41?=", "\\x41"),
        ("=?idna?Q?xn--bcher-kva?=", "xn--bcher-kva"),
        # Broken base64 decodes as far as it goes; garbage is dropped, never raised.
        ("=?utf-8?B?SGVsbG8?=", "Hello"),
        ("=?utf-8?B?!!!?=", ""),
        ("=?utf-8?B?S?=", ""),
        ("=?utf-8?Q?unterminated", "=?utf-8?Q?unterminated"),
        ("=?utf-8?Q?bad=ZZescape?=", "bad=ZZescape"),
    ],
)
def test_decode_words_broken(raw: str, decoded: str) -> None:
    assert decode_words(raw) == decoded


def _encoded_word(charset: str, payload: bytes, b_encoding: bool) -> str:
    if b_encoding:
        return f"=?{charset}?B?{base64.b64encode(payload).decode()}?="
    text = quopri.encodestring(payload, header=True).decode("ascii").replace("?", "=3F")
    return f"=?{charset}?Q?{text}?="


encoded_words = st.builds(
    _encoded_word, st.sampled_from(CHARSETS), st.binary(max_size=40), st.booleans()
)
header_text = st.lists(
    st.one_of(encoded_words, st.text(max_size=20), st.sampled_from(["=?", "?=", "?Q?", " "])),
    max_size=8,
).map("".join)


@given(header_text)
@example("=?utf-16?B?//4=?=")
@example("=?utf-8?B?" + "A" * 10_001 + "?=")
def test_decode_words_never_raises_and_is_clean(value: str) -> None:
    decoded = decode_words(value)
    assert "\r" not in decoded and "\n" not in decoded
    assert decoded == decoded.strip()
    assert "  " not in decoded


@given(st.sampled_from(CHARSETS), st.binary(max_size=64), st.booleans())
def test_every_codec_name_decodes_without_error(charset: str, payload: bytes, b: bool) -> None:
    assert isinstance(decode_words(_encoded_word(charset, payload, b)), str)


# --- normalize_address ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("alex@example.com", "alex@example.com"),
        ("  <Alex.Morgan@Example.COM>  ", "alex.morgan@example.com"),
        ("jamie+news@example.org", "jamie+news@example.org"),
        ("A.Lex.Morgan+Tag@GMail.com", "alexmorgan@gmail.com"),
        ("alex.morgan@googlemail.com", "alexmorgan@gmail.com"),
        ("alex@example.com.", "alex@example.com"),
        ("", None),
        ("no-at-sign", None),
        ("@example.com", None),
        ("alex@", None),
        ("alex @example.com", None),
        ("alex@exa mple.com", None),
        ('"alex"@example.com', None),
        ("a@b@example.com", None),
        ("Alex <alex@example.com>", None),
        ("+tag@gmail.com", None),
        ("x" * 310 + "@example.com", None),
    ],
)
def test_normalize_address(raw: str, normalized: str | None) -> None:
    assert normalize_address(raw) == normalized


address_like = st.one_of(
    st.emails(),
    st.text(max_size=40),
    st.builds(
        lambda a, b, c: f"{a}@{b}{c}",
        st.text(max_size=10),
        st.text(max_size=10),
        st.sampled_from(["", ".", "gmail.com", "googlemail.com", ".example.com"]),
    ),
)


@given(address_like)
def test_normalize_address_is_idempotent(raw: str) -> None:
    once = normalize_address(raw)
    if once is not None:
        assert normalize_address(once) == once
        assert len(once) <= 320
        assert once == once.strip().lower() or once.lower() != once.strip().lower()


gmail_local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)


@given(
    gmail_local,
    st.lists(st.integers(min_value=0, max_value=12), max_size=4),
    st.one_of(st.just(""), st.text(alphabet="abcxyz.-+", max_size=6).map(lambda t: "+" + t)),
    st.sampled_from(["gmail.com", "googlemail.com", "GMail.com", "GOOGLEMAIL.COM"]),
    st.booleans(),
)
def test_gmail_variants_normalise_to_one_address(
    local: str, dots: list[int], tag: str, domain: str, upper: bool
) -> None:
    variant = local
    for position in dots:
        variant = variant[:position] + "." + variant[position:]
    variant = f"{variant.upper() if upper else variant}{tag}@{domain}"
    assert normalize_address(variant) == f"{local}@gmail.com"


# --- parse_addresses -----------------------------------------------------------------------


def test_parse_addresses() -> None:
    values = [
        '"Lee, Jamie" <Jamie.Lee@example.org>, =?UTF-8?Q?J=C3=B6rg?= <joerg@example.net>',
        "undisclosed-recipients:;",
        "jamie.lee@example.org, Priya <priya@example.net>, not-an-address, <@>",
    ]
    assert parse_addresses(values) == [
        ("Lee, Jamie", "jamie.lee@example.org"),
        ("Jörg", "joerg@example.net"),
        ("Priya", "priya@example.net"),
    ]


def test_parse_addresses_keeps_the_first_name_given() -> None:
    value = "jamie@example.org, Jamie Lee <jamie@example.org>, Other <JAMIE@example.org>"
    assert parse_addresses([value]) == [("Jamie Lee", "jamie@example.org")]


@pytest.mark.parametrize(
    "value",
    ["undisclosed-recipients:;", "", "   ", "<>", ";;;", '"unterminated <x@', "Group: ;"],
)
def test_parse_addresses_yields_nothing_for_non_addresses(value: str) -> None:
    assert parse_addresses([value]) == []


def test_parse_addresses_group_syntax_with_members() -> None:
    assert parse_addresses(["Team: a@example.org, b@example.org;"]) == [
        ("", "a@example.org"),
        ("", "b@example.org"),
    ]


@given(st.lists(st.text(max_size=60), max_size=4))
def test_parse_addresses_never_raises(values: list[str]) -> None:
    result = parse_addresses(values)
    addresses = [addr for _, addr in result]
    assert len(addresses) == len(set(addresses))
    assert all(normalize_address(addr) == addr for addr in addresses)


# Pieces that exercise the fast path's edges: quoting, comments, groups, brackets, spaces.
mailbox_piece = st.one_of(
    st.sampled_from(
        [
            "a@example.org", "B.C@Example.net", "<d@example.com>", "Dr. E <e@example.org>",
            '"F, G" <fg@example.org>', "=?utf-8?Q?H=C3=A9?= <h@example.net>", '""<i@example.com>',
            "j@example.org (Jay)", "Team: k@example.org;", "x\xa0y <l@example.org>", "m@n",
            "  o@example.org  ", "\t<p@example.org>", "q <r@example.org", '"s\\"t" <u@example.org>',
        ]
    ),
    st.text(alphabet=' \t"<>@,.;:()\\[]abcé=?\xa0', max_size=20),
)  # fmt: skip


@given(st.lists(st.lists(mailbox_piece, min_size=1, max_size=4).map(", ".join), max_size=3))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_fast_path_agrees_with_getaddresses(values: list[str]) -> None:
    def final(pairs: list[tuple[str, str]]) -> list[tuple[str, str | None]]:
        return [(decode_words(name), normalize_address(addr)) for name, addr in pairs]

    for value in values:
        simple = _simple_mailboxes(value)
        if simple is not None:
            assert final(simple) == final(getaddresses([value]))


def test_fast_path_is_linear_on_long_runs() -> None:
    for value in (" " * 65536, "a" * 65536, '"' + " " * 65536, "x " * 32768 + "<"):
        assert parse_addresses([value]) == []


# --- message ids and references ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("<CAF3xQ2-9a7@mail.example.org>", "caf3xq2-9a7@mail.example.org"),
        ("  <a@b> <c@d>", "a@b"),
        ("<a@b> (Alex's message of Tuesday)", "a@b"),
        ("bare-token@example.org", "bare-token@example.org"),
        ("<bare-token@example.org", "bare-token@example.org"),
        (None, None),
        ("", None),
        ("<>", None),
        ("not an id at all", None),
        ("<has space@example.org>", None),
        ("<" + "x" * 999 + ">", None),
    ],
)
def test_normalize_message_id(raw: str | None, normalized: str | None) -> None:
    assert normalize_message_id(raw) == normalized


@given(st.one_of(st.none(), st.text(max_size=80)))
def test_normalize_message_id_is_idempotent(raw: str | None) -> None:
    once = normalize_message_id(raw)
    if once is not None:
        assert normalize_message_id(once) == once
        assert normalize_message_id(f"<{once}>") == once


def test_parse_references_keeps_root_and_last_twenty() -> None:
    ids = [f"<m{i}@example.org>" for i in range(100)]
    refs = parse_references("\t".join(ids))
    assert refs == ("m0@example.org", *(f"m{i}@example.org" for i in range(80, 100)))


def test_parse_references_order_and_duplicates() -> None:
    assert parse_references("<A@x> <b@x>\t<a@x> junk <c d> <c@x>") == ("a@x", "b@x", "c@x")
    assert parse_references("a@x b@x") == ("a@x", "b@x")
    assert parse_references(None) == ()
    assert parse_references("") == ()


@given(st.text(max_size=300))
def test_parse_references_never_raises(value: str) -> None:
    refs = parse_references(value)
    assert len(refs) <= 21
    assert len(set(refs)) == len(refs)
    assert all(normalize_message_id(r) == r for r in refs)


# --- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Tue, 05 Mar 2024 10:15:00 +0100", datetime(2024, 3, 5, 9, 15, tzinfo=UTC)),
        ("Tue, 5 Mar 2024 10:15:00 +0100 (CET)", datetime(2024, 3, 5, 9, 15, tzinfo=UTC)),
        ("5 Mar 2024 10:15", datetime(2024, 3, 5, 10, 15, tzinfo=UTC)),
        ("Tue, 05 Mar 24 10:15:00 -0000", datetime(2024, 3, 5, 10, 15, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 10:15:00 EST", datetime(2024, 3, 5, 15, 15, tzinfo=UTC)),
        ("Sat, 31 Dec 2016 23:59:60 +0000", datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 10:15:00 +9999", datetime(2024, 3, 5, 10, 15, tzinfo=UTC)),
        # Comments are whitespace (RFC 5322 CFWS), and so is the space around "," and ":".
        ("Tue (Tuesday), 5 Mar 2024 10:15:00 +0100", datetime(2024, 3, 5, 9, 15, tzinfo=UTC)),
        ("Tue, 5 Mar 2024 10(h):15:00 +0100", datetime(2024, 3, 5, 9, 15, tzinfo=UTC)),
        ("Tue , 5 Mar 2024 10 : 15 : 00 +0100", datetime(2024, 3, 5, 9, 15, tzinfo=UTC)),
        (
            "(a)Tue(b),(c)5(d)Mar(e)2024(f)10(g):(h)15(i)+0100(j)",
            datetime(2024, 3, 5, 9, 15, tzinfo=UTC),
        ),
        ("2024-03-05T10:15:00+02:00", datetime(2024, 3, 5, 8, 15, tzinfo=UTC)),
        ("2024-03-05 10:15:00.123Z", datetime(2024, 3, 5, 10, 15, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("garbage", None),
        ("Mon, 31 Feb 2024 10:00:00 +0000", None),
        ("Someday, 99 Foo 20xx 25:61:61 +9999", None),
        ("Thu, 01 Jan 1970 00:30:00 +0100", None),
        ("Fri, 01 Jan 2101 00:00:00 +0000", None),
        ("Mon, 01 Jan 1000 00:00:00 -1200", None),
        ("Fri, 31 Dec 9999 23:59:59 +1400", None),
    ],
)
def test_parse_date(raw: str | None, expected: datetime | None) -> None:
    assert parse_date(raw) == expected


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 12, 30)))
def test_parse_date_round_trips_rfc5322(moment: datetime) -> None:
    aware = moment.replace(microsecond=0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert parse_date(format_datetime(aware)) == aware.astimezone(UTC)


@given(st.text(max_size=80))
@example("Tue, 05 Mar 2024 10:15:00 +1_000")
@example("1 Jan 99999 00:00")
@example("- - - -")
def test_parse_date_never_raises(value: str) -> None:
    result = parse_date(value)
    if result is not None:
        assert result.tzinfo is UTC
        assert 1970 <= result.year <= 2100


# --- the owner -----------------------------------------------------------------------------


def test_owner_from_config() -> None:
    owner = OwnerIdentity.from_config(
        " Alex Morgan ", ["Alex@Example.com"], ["alex.morgan@example.com", "A.Morgan@gmail.com"]
    )
    assert owner.name == "Alex Morgan"
    assert owner.addresses == {"alex@example.com", "alex.morgan@example.com", "amorgan@gmail.com"}
    assert owner.domains == {"example.com"}
    assert owner.is_owner("amorgan@gmail.com")
    assert not owner.is_owner("jamie@example.com")
    assert owner.is_internal("jamie@example.com")
    assert owner.is_internal("ops@eu.example.com")
    assert not owner.is_internal("jamie@notexample.com")
    assert not owner.is_internal("someone@gmail.com")


def test_owner_with_explicit_domains() -> None:
    owner = OwnerIdentity.from_config(
        "Alex", ["alex@gmail.com"], [], domains=["@Example.ORG", " example.net. ", "bad domain"]
    )
    assert owner.domains == {"example.org", "example.net"}
    assert owner.is_internal("x@mail.example.net")


@pytest.mark.parametrize(
    ("domain", "public"),
    [
        ("gmail.com", True),
        ("googlemail.com", True),
        ("proton.me", True),
        ("gmx.de", True),
        ("gmx.net", True),
        ("yandex.ru", True),
        ("yahoo.co.uk", True),
        ("hotmail.fr", True),
        ("web.de", True),
        ("example.com", False),
        ("outlook.acme.example", False),
        ("gmx.example.com", False),
    ],
)
def test_public_mail_domains(domain: str, public: bool) -> None:
    assert is_public_mail_domain(domain) is public


@given(
    st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(2110, 12, 31)),
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
    st.booleans(),
    st.sampled_from(["", " ", "  "]),
)
@example(datetime(2026, 2, 28, 23, 59, 59), 0, True, "")
def test_canonical_date_fast_path_agrees_with_parsedate(
    moment: datetime, offset_minutes: int, weekday: bool, pad: str
) -> None:
    from syncd.ingest.addresses import _parse_rfc5322_slow

    sign = "-" if offset_minutes < 0 else "+"
    hh, mm = divmod(abs(offset_minutes), 60)
    day = moment.strftime("%a, ") if weekday else ""
    text = f"{pad}{day}{moment.day} {moment:%b %Y %H:%M:%S} {sign}{hh:02d}{mm:02d}{pad}"
    assert parse_date(text) == _parse_rfc5322_slow(text)


# --- charsets, joining encoded words, offsets (issue 18) ------------------------------------


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("=?KOI8-R?B?8NLJ18XU?=", "Привет"),  # Russian mail of the 2000s
        ("=?windows-1251?B?zO7x6uLg?=", "Москва"),
        ("=?Shift_JIS?B?k/qWe4zq?=", "日本語"),
        ("=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=", "こんにちは"),  # stateful, escapes
        ("=?gb2312?B?1tDOxA==?=", "中文"),
        ("=?big5?B?pXilXw==?=", "台北"),
        ("=?euc-kr?B?vK2/7w==?=", "서울"),
        ("=?windows-1252?Q?=80_5_Rabatt?=", "€ 5 Rabatt"),  # not Latin-1's control 0x80
        ("=?iso-8859-15?Q?=A4?=", "€"),  # Latin-9: 0xA4 is the euro, in Latin-1 it is ¤
        ("=?iso-8859-2*pl?Q?Zaj=B1c?=", "Zając"),  # RFC 2231 language suffix
    ],
)
def test_decode_words_in_other_charsets(raw: str, decoded: str) -> None:
    assert decode_words(raw) == decoded


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        # Adjacent words in one charset are joined before decoding, whatever the case of
        # the charset's name: the euro's three bytes split over two words.
        ("=?utf-8?q?=E2=82?= =?UTF-8?Q?=AC?=", "€"),
        # Folded onto the next line: CRLF and indentation between words are not text.
        ("=?utf-8?Q?Gr=C3=BC?=\r\n =?utf-8?Q?=C3=9Fe?=", "Grüße"),
        ("=?utf-8?Q?a?=\t\t=?utf-8?Q?b?=", "ab"),
        # Adjacent words in different charsets are decoded each in its own charset (the
        # white space between them still goes).
        ("=?iso-8859-1?Q?Caf=E9?= =?utf-8?Q?_cr=C3=A8me?=", "Café crème"),
        ("=?koi8-r?B?8NLJ18XU?= =?utf-8?Q?_=E2=82=AC?=", "Привет €"),
        # Words with text between them are not adjacent: the text stays, each decodes alone.
        ("=?utf-8?Q?=C3?= and =?utf-8?Q?=A9?=", "\ufffd and \ufffd"),
        ("=?utf-8?Q?Jo?=-=?utf-8?Q?Ann?=", "Jo-Ann"),
        ("Re: =?utf-8?Q?a?= =?utf-8?Q?b?= c", "Re: ab c"),
        # An underscore in a Q word is a space; in plain text it stays.
        ("=?utf-8?Q?Hello_World?= snake_case", "Hello World snake_case"),
    ],
)
def test_decode_words_joining_adjacent_words(raw: str, decoded: str) -> None:
    assert decode_words(raw) == decoded


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Offsets with minutes and both signs, on the fast path and the slow one.
        ("Tue, 05 Mar 2024 10:15:00 +0530", datetime(2024, 3, 5, 4, 45, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 10:15:00 +0545", datetime(2024, 3, 5, 4, 30, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 10:15:00 -0330", datetime(2024, 3, 5, 13, 45, tzinfo=UTC)),
        ("Tue,  5 Mar 2024 10:15:00 -0330", datetime(2024, 3, 5, 13, 45, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 23:30:00 -0100", datetime(2024, 3, 6, 0, 30, tzinfo=UTC)),
        # ISO 8601 as scripts write it: offsets other than Z.
        ("2024-03-05T10:15:00+05:30", datetime(2024, 3, 5, 4, 45, tzinfo=UTC)),
        ("2024-03-05T10:15:00-0330", datetime(2024, 3, 5, 13, 45, tzinfo=UTC)),
        ("2024-03-05T10:15-08:00", datetime(2024, 3, 5, 18, 15, tzinfo=UTC)),
        ("2024-03-05 10:15:07,5 +01:00", datetime(2024, 3, 5, 9, 15, 7, tzinfo=UTC)),
        ("2024-03-05 10:15:00 utc", datetime(2024, 3, 5, 10, 15, tzinfo=UTC)),
        ("2024-03-05 10:15:00 GMT", datetime(2024, 3, 5, 10, 15, tzinfo=UTC)),
        ("2024-03-05T10:15:00", datetime(2024, 3, 5, 10, 15, tzinfo=UTC)),
        ("sent by cron at 2024-03-05T23:30:00-01:00", datetime(2024, 3, 6, 0, 30, tzinfo=UTC)),
    ],
)
def test_parse_date_offsets(raw: str, expected: datetime) -> None:
    result = parse_date(raw)
    assert result == expected
    assert result is not None and result.tzinfo is UTC


def test_message_ids_at_the_edges() -> None:
    # The longest id allowed is kept; one more character and it is not an id.
    longest = "x" * 986 + "@example.org"
    assert len(longest) == 998
    assert normalize_message_id(f"<{longest}>") == longest
    assert normalize_message_id(f"<{longest}x>") is None
    # A broken header that lost its opening bracket; an id that starts with X.
    assert normalize_message_id("X123.456@mail.example.com>") == "x123.456@mail.example.com"
    # References written without brackets (some list servers), or with only the closing ones.
    assert parse_references("X1@example.com Y2@example.com") == ("x1@example.com", "y2@example.com")
    assert parse_references("a@x> b@y>") == ("a@x", "b@y")


def test_owner_domains_from_config_are_normalised() -> None:
    owner = OwnerIdentity.from_config(
        "Alex", ["alex@xerox.com"], [], domains=["XEROX.COM", "@Xanadu.example.", "googlemail.com"]
    )
    assert owner.domains == {"xerox.com", "xanadu.example", "gmail.com"}
    assert is_public_mail_domain("gmail.com.") and is_public_mail_domain("GMX.DE")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Fields one past their range are not dates (and never an exception).
        ("2024-13-05T10:15:00Z", None),
        ("2024-03-05T24:00:00Z", None),
        ("2024-03-05T10:60:00Z", None),
        ("2024-03-05T10:15:61Z", None),
        ("2024-03-05T10:15:60Z", datetime(2024, 3, 5, 10, 15, 59, tzinfo=UTC)),  # leap second
        # An offset of a whole day is a broken clock setting: the time is kept, as UTC.
        ("2024-03-05T10:15:00+24:00", datetime(2024, 3, 5, 10, 15, tzinfo=UTC)),
        ("2024-03-05T10:15:00-24:00", datetime(2024, 3, 5, 10, 15, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 10:15:00 +2400", datetime(2024, 3, 5, 10, 15, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 10:15:00 -2400", datetime(2024, 3, 5, 10, 15, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 10:15:00 +2359", datetime(2024, 3, 4, 10, 16, tzinfo=UTC)),
        # Comments where a parser does not expect them are dropped, then it is read again.
        ("Tue, 5 Mar 2024 (the day) 10:15:00 +0100", datetime(2024, 3, 5, 9, 15, tzinfo=UTC)),
        (
            "(sent from my phone) Tue, 5 Mar 2024 10:15:00 +0100",
            datetime(2024, 3, 5, 9, 15, tzinfo=UTC),
        ),
    ],
)
def test_parse_date_at_the_edges(raw: str, expected: datetime | None) -> None:
    assert parse_date(raw) == expected


def test_normalize_address_length_limit_and_names_starting_with_x() -> None:
    # Up to 4 × 320 characters are looked at (folding white space included), not more.
    padded = " " * (1280 - len("a@example.com")) + "a@example.com"
    assert len(padded) == 1280 and normalize_address(padded) == "a@example.com"
    assert normalize_address(" " + padded) is None
    assert normalize_address("<Xavier@Example.COM>") == "xavier@example.com"


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        # Non-ASCII inside a B word (a mangling gateway) is dropped, not fatal.
        ("=?utf-8?B?w6nDqQ==é?=", "éé"),
        # The email package keeps undecodable header bytes as lone surrogates.
        ("=?utf-8?Q?caf\udce9?=", "caf?"),
        ("=?utf-8?B?w6k\udce9=?=", "é"),
        # Base64 one character too long: the stray last character goes, nothing more.
        ("=?utf-8?B?SGVsbG8hX?=", "Hello!"),
    ],
)
def test_decode_words_mangled_payloads(raw: str, decoded: str) -> None:
    assert decode_words(raw) == decoded


def test_decode_words_unknown_charset_that_already_carries_a_replacement_character() -> None:
    # The text was decoded with replacement once already upstream: it is UTF-8, keep it so
    # (reading it as Latin-1 would turn U+FFFD into "ï¿½").
    assert decode_words("=?x-unknown?Q?=EF=BF=BD_caf=E9?=") == "\ufffd caf\ufffd"


def test_control_characters_become_one_space() -> None:
    assert decode_words("=?utf-8?Q?Ring=07Ring?=") == "Ring Ring"
    assert decode_words("Bell\x07here") == "Bell here"


def test_parse_addresses_names_outlook_writes() -> None:
    # Outlook writes an empty quoted name; a name may start with X.
    assert parse_addresses(['"" <a@example.com>', "Xavier Dupont <x@example.com>"]) == [
        ("", "a@example.com"),
        ("Xavier Dupont", "x@example.com"),
    ]
    longest = "a" * (320 - len("@example.com")) + "@example.com"
    assert normalize_address(longest) == longest  # 320 characters is the limit
    assert normalize_address("a" + longest) is None


@pytest.mark.parametrize("code", range(128))
def test_message_id_ascii_fast_path_rejects_what_the_pattern_rejects(code: int) -> None:
    # _clean_id skips its regex for ASCII ids; every ASCII character must get the same answer.
    token = f"a{chr(code)}b@example.com"
    expected = None if re.search(r"[\s<>\x00-\x1f\x7f]", token) else token.lower()
    assert normalize_message_id(token) == expected
