"""`parse_internaldate`'s shortcut (the parts of values it parsed before, kept and summed)
gives what its expression gives: the function as it was is kept here as the reference, and
both run on arbitrary bytes and on near-valid values (padding, short and long fields, odd
months, 31-Feb, hours past 23, odd zones, the first and last years datetime holds), several
values per example so that parts parsed in one value meet in another."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from connectors.imap_fetch import parse_internaldate

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
    from connectors import imap_fetch

    values = [b"%2d-Mar-2026 08:00:%02d +%04d" % (1 + i % 28, i % 60, i) for i in range(5000)]
    _check(values)
    assert 0 < len(imap_fetch._DAYS) <= imap_fetch._MAX_DAYS
    assert len(imap_fetch._HOURS_MINUTES) <= 24 * 60 and len(imap_fetch._SECONDS) <= 60
