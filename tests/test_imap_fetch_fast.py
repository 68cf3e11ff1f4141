"""The shortcuts of the header FETCH's reader give what the code before them gave; that code
is kept here as the reference.

`parse_internaldate` (the parts of values it parsed before, kept and summed) on arbitrary
bytes and on near-valid values (padding, short and long fields, odd months, 31-Feb, hours past
23, odd zones, the first and last years datetime holds), several values per example so that
parts parsed in one value meet in another. `read_fetch` (the field list compared with the one
of the response before instead of matched, FLAGS kept, Fetched no longer frozen) on answers
of responses in the usual shape and near it, with a byte changed anywhere."""

from __future__ import annotations

import imaplib
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from connectors import imap_fetch
from connectors.imap_fetch import MAX_LITERAL, Untagged, parse_internaldate, read_fetch

_DATE_TIME = re.compile(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
_MONTH_NAMES = (
    *(b"jan", b"feb", b"mar", b"apr", b"may", b"jun"),
    *(b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"),
)
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}


def _reference(value: bytes) -> datetime | None:
    """parse_internaldate as it was (less its cache of zones)."""
    m = _DATE_TIME.fullmatch(value.strip())
    month = _MONTHS.get(m.group(2).lower()) if m else None
    if m is None or month is None:
        return None
    day, _mon, year, hour, minute, second, sign, off_h, off_m = m.groups()
    offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == b"-" else 1)
    try:
        local = datetime(
            int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:
        return None
    return local - offset


def _outcome(value: bytes, parse: object) -> tuple[object, ...]:
    assert callable(parse)
    try:
        got = parse(value)
    except OverflowError as exc:  # a zone's offset past the first or last instant
        return ("OverflowError", str(exc))
    return ("value", got, type(got), got.tzinfo if got is not None else None)


def _check(values: list[bytes]) -> None:
    for value in values * 2:  # the second time, its parts are known
        assert _outcome(value, parse_internaldate) == _outcome(value, _reference)


def _digits(low: int, high: int, width: int) -> st.SearchStrategy[bytes]:
    return st.integers(low, high).map(lambda n: b"%0*d" % (width, n))


def _mostly(usual: st.SearchStrategy[bytes], *odd: bytes) -> st.SearchStrategy[bytes]:
    """`usual` nine times in ten, else one of `odd`."""
    return st.integers(0, 9).flatmap(lambda k: st.sampled_from(odd) if k == 0 else usual)


# Each part of ``DD-Mon-YYYY HH:MM:SS +ZZZZ``, valid or nearly.
_PARTS = (
    _mostly(st.sampled_from([b"", b" "]), b"  ", b"\t", b"\x0b", b"\r\n", b"\xa0"),
    _mostly(st.one_of(_digits(1, 31, 1), _digits(1, 31, 2)), b"0", b"00", b"32", b"123"),
    _mostly(st.just(b"-"), b"/", b""),
    _mostly(st.sampled_from([b"Jan", b"Feb", b"mar", b"APR", b"Dec"]), b"Foo", b"Ju", b"J\xe4n"),
    _mostly(st.just(b"-"), b"/", b""),
    _mostly(_digits(1990, 2030, 4), b"0000", b"0001", b"0002", b"9998", b"9999", b"999"),
    _mostly(_digits(0, 23, 2), b"24", b"99", b"5", b"0x"),
    _mostly(_digits(0, 59, 2), b"60", b"99", b"\xd9\xa1"),
    _mostly(_digits(0, 59, 2), b"60", b"61", b"7"),
    _mostly(st.sampled_from([b"+", b"-"]), b" ", b"\xb1"),
    _mostly(st.one_of(_digits(0, 1400, 4), _digits(0, 9999, 4)), b"000", b"2359", b"9999"),
    _mostly(st.just(b""), b" ", b"\r\n", b"\xa0", b"0"),
)


@st.composite
def _near_valid(draw: st.DrawFn) -> list[bytes]:
    """Values made of a few choices for each part, so that they share dates, times, zones."""
    choices = [draw(st.lists(part, min_size=1, max_size=3)) for part in _PARTS]
    values = []
    for _ in range(draw(st.integers(1, 8))):
        lead, day, s1, mon, s2, year, h, m, s, sign, zone, tail = (
            draw(st.sampled_from(c)) for c in choices
        )
        time = h + b":" + m + b":" + s
        values.append(lead + day + s1 + mon + s2 + year + b" " + time + b" " + sign + zone + tail)
    return values


@given(st.lists(st.binary(max_size=40), max_size=5))
@example([b"", b"0", b" " * 40])
def test_equals_the_expression_on_arbitrary_bytes(values: list[bytes]) -> None:
    _check(values)


@given(_near_valid())
@example([b"17-Jul-1996 02:44:25 -0700", b"31-Feb-2026 00:00:00 +0000"])
@example([b"02-Mar-2026 08:00:00 +0100", b"02-Mar-2026 09:30:07 +0100"])  # one date, two times
@example(
    [b" 2-Mar-2026 08:00:00 +0100", b" 2-Mar-2026 23:59:59 -2359", b" 2-Mar-2026 24:00:00 +0100"]
)
@example([b"01-Jan-0001 00:30:00 +0100", b"31-Dec-9999 23:59:59 -0001"])  # out of range
@example([b"01-Jan-0002 00:30:00 +9999", b"31-Dec-9998 23:59:59 -9959"])
@example(
    [b"02-Mar-2026 08:00:00 +0100", b"02-Mar-2026 08:00:00 +0100 ", b"\t02-Mar-2026 08:00:00 +0100"]
)
def test_equals_the_expression_on_near_valid_values(values: list[bytes]) -> None:
    _check(values)


def test_a_full_cache_starts_again() -> None:
    values = [b"%2d-Mar-2026 08:00:%02d +%04d" % (1 + i % 28, i % 60, i) for i in range(5000)]
    _check(values)
    assert 0 < len(imap_fetch._DAYS) <= imap_fetch._MAX_DAYS
    assert len(imap_fetch._HOURS_MINUTES) <= 24 * 60 and len(imap_fetch._SECONDS) <= 60


# read_fetch as it was, to compare the new one's shortcut (the field list compared with the
# last one read, not matched) and its Fetched (no longer frozen) with. The helpers it calls
# (_line, _literal, _rest, _untagged_parts) are unchanged.
_FAST = re.compile(
    rb"\* \d+ FETCH \((?:(?:UID (\d+)|FLAGS \(([^()\"{}\r\n]*)\)"
    rb'|INTERNALDATE "([^"\r\n]*)"|RFC822\.SIZE (\d+)|MODSEQ \(\d+\)) )*'
    rb"BODY\[HEADER\.FIELDS \([^()\]\r\n]*\)\] \{(\d+)\}\r\n"
)


def _read_fetch_reference(
    readline: Callable[[], bytes],
    read: Callable[[int], bytes],
    tag: bytes,
    untagged: Callable[[str, Untagged], None],
    *,
    max_literal: int,
) -> tuple[str, bytes, list[tuple[object, ...]], list[Untagged]]:
    fetched: list[tuple[object, ...]] = []
    other: list[Untagged] = []
    done = tag + b" "
    while True:
        line = imap_fetch._line(readline)
        m = _FAST.fullmatch(line)
        if m is not None:
            uid, flags, date, size, count = m.groups()
            n = int(count)
            if n <= max_literal:
                header, cut = read(n), False
                if len(header) != n:
                    raise imaplib.IMAP4.abort("socket error: EOF inside a literal")
            else:
                header, cut = imap_fetch._literal(read, n, max_literal)
            trailer = imap_fetch._line(readline)
            if uid is not None and trailer == b")\r\n":
                fetched.append(
                    (
                        int(uid),
                        tuple(f.decode("utf-8", "replace") for f in flags.split()) if flags else (),
                        _reference(date) if date is not None else None,
                        int(size) if size is not None else None,
                        header,
                        cut,
                    )
                )
                continue
            meta = imap_fetch._untagged_parts(line[:-2])[1]
            other.extend(imap_fetch._rest(meta, header, trailer, readline, read, max_literal))
            continue
        if line.startswith(done):
            status, _sp, text = line[len(done) :].rstrip(b"\r\n").partition(b" ")
            return status.decode("ascii", "replace").upper(), text, fetched, other
        if not line.startswith(b"* "):
            raise imaplib.IMAP4.abort(f"unexpected response: {line[:200]!r}")
        typ, dat = imap_fetch._untagged_parts(line.rstrip(b"\r\n"))
        parts = imap_fetch._rest(dat, None, None, readline, read, max_literal)
        if typ == "FETCH":
            other.extend(parts)
            continue
        if typ == "BYE":
            raise imaplib.IMAP4.abort(imap_fetch._text(dat))
        for part in parts:
            untagged(typ, part)
        code = imap_fetch._RESPONSE_CODE.match(dat) if typ in ("OK", "NO", "BAD") else None
        if code is not None:
            untagged(code.group(1).decode("ascii"), code.group(2) or b"")


def _fetch_outcome(wire: bytes, reference: bool, cap: int) -> tuple[object, ...]:
    stream = io.BytesIO(wire)
    seen: list[tuple[str, Untagged]] = []
    try:
        if reference:
            got = _read_fetch_reference(
                stream.readline,
                stream.read,
                b"A7",
                lambda t, d: seen.append((t, d)),
                max_literal=cap,
            )
        else:
            answer = read_fetch(
                stream.readline,
                stream.read,
                b"A7",
                lambda t, d: seen.append((t, d)),
                max_literal=cap,
            )
            got = (
                answer.status,
                answer.text,
                [
                    (f.uid, f.flags, f.internal_date, f.size, f.header, f.truncated)
                    for f in answer.fetched
                ],
                answer.other,
            )
    except (imaplib.IMAP4.error, ValueError, OverflowError) as exc:
        return (type(exc), str(exc), seen, stream.tell())
    return (got, seen, stream.tell())


_FIELD_LISTS = [
    b"FROM SUBJECT MESSAGE-ID",
    b"FROM SUBJECT MESSAGE-ID",
    b"FROM SUBJECT MESSAGE-IX",  # as long, and as good
    b"FROM SUBJECT MESSAGE-I]",  # as long, not good
    b"FROM SUBJECT MESSAGE-(D",
    b"FROM SUBJECT MESSAGE-ID X",
    b"FROM SUBJECT",
    b"",
    b"FROM SUBJECT MESSAGE-ID)",
    b"FROM SUBJECT MESSAGE-ID\r",
]
_ITEM = st.one_of(
    _digits(0, 99999, 1).map(lambda n: b"UID " + n),
    st.sampled_from([b"()", b"(\\Seen)", b"(\\Seen \\Recent $Label1)", b"(caf\xc3\xa9 \xff)"]).map(
        lambda f: b"FLAGS " + f
    ),
    st.sampled_from(
        [
            b"02-Mar-2026 08:00:00 +0100",
            b" 2-Mar-2026 08:00:07 +0100",
            b"31-Feb-2026 00:00:00 +0000",
        ]
    ).map(lambda d: b'INTERNALDATE "' + d + b'"'),
    _digits(0, 9999, 1).map(lambda n: b"RFC822.SIZE " + n),
    st.just(b"MODSEQ (12)"),
)


@st.composite
def _response(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.sampled_from([b"* 9 EXISTS\r\n", b"* OK [HIGHESTMODSEQ 12] x\r\n"]))
    if kind == 1:
        return b"* 3 FETCH (FLAGS (\\Seen))\r\n"
    items = draw(st.lists(_ITEM, max_size=6))
    header = draw(st.sampled_from([b"Subject: one\r\n\r\n", b"\r\n", b"", b"x" * 40]))
    count = draw(
        st.sampled_from([b"%d" % len(header)] * 6 + [b"%d " % len(header), b"+1", b"", b"1a"])
    )
    fields = draw(st.sampled_from(_FIELD_LISTS))
    trailer = draw(st.sampled_from([b")\r\n"] * 4 + [b" UID 5 FLAGS ())\r\n", b")) \r\n"]))
    close = draw(st.sampled_from([b")] {"] * 6 + [b"}] {", b")]  {", b") {", b"]] {"]))
    end = draw(st.sampled_from([b"}\r\n"] * 6 + [b"\r\n", b"}}\r\n", b"} \r\n", b"}\n"]))
    line = b"* 1 FETCH (" + b"".join(i + b" " for i in items) + b"BODY[HEADER.FIELDS ("
    return line + fields + close + count + end + header + trailer


@st.composite
def _wire(draw: st.DrawFn) -> bytes:
    wire = b"".join(draw(st.lists(_response(), max_size=6)))
    wire += draw(st.sampled_from([b"A7 OK done\r\n", b"A7 NO [X] no\r\n", b"* BYE bye\r\n", b""]))
    if draw(st.booleans()):  # a byte changed, added or dropped anywhere
        at = draw(st.integers(0, len(wire)))
        new = draw(st.sampled_from([b"", b" ", b")", b"(", b"]", b"{", b"}", b"\r", b"\n", b"1"]))
        wire = wire[:at] + new + wire[at + draw(st.integers(0, 1)) :]
    return wire


@given(_wire(), st.sampled_from([MAX_LITERAL, 10]))
@example(
    b"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (A B)] {0}\r\n)\r\n"
    b"* 2 FETCH (UID 2 BODY[HEADER.FIELDS (A B])] {0}\r\n)\r\n"  # the field list, not as before
    b"* 3 FETCH (UID 3 BODY[HEADER.FIELDS (A B)] {00}\r\n)\r\n"
    b"* 4 FETCH (UID 4 BODY[HEADER.FIELDS (A B)] {}\r\n)\r\nA7 OK\r\n",
    MAX_LITERAL,
)
@example(
    b"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (A B)] {0}\r\n)\r\n"
    b"* 2 FETCH (UID 2 BODY[HEADER.FIELDS (A ])] {0}\r\n)\r\n"  # as long as before
    b"* 3 FETCH (UID 3 BODY[HEADER.FIELDS (A B}] {0}\r\n)\r\nA7 OK\r\n",  # no ")] {" after it
    MAX_LITERAL,
)
@example(
    b"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (A B)] {0}\r\n)\r\n"
    b"* 4 FETCH (UID 4 BODY[HEADER.FIELDS (A B)] {10\r\n)\r\nA7 OK\r\n",  # no "}"
    MAX_LITERAL,
)
@example(
    b"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (A B)] {0}\r\n)\r\n"
    b"* 2 FETCH (UID 2 BODY[HEADER.FIELDS (A B))] {0}\r\n)\r\nA7 OK\r\n",
    MAX_LITERAL,
)
def test_read_fetch_equals_the_old_one(wire: bytes, cap: int) -> None:
    assert _fetch_outcome(wire, False, cap) == _fetch_outcome(wire, True, cap)
