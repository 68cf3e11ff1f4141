"""Pure parsing of raw ``UID FETCH`` responses as imaplib returns them.

imapclient's general response parser is the IMAP source's main cost (about 6× imaplib's raw
read); the header fetch of a backfill asks for a fixed set of items, so this small parser
reads exactly those. imaplib hands back a list in which a response carrying a literal is a
``(line up to the literal, literal bytes)`` tuple followed by the rest of its line as bytes,
and a response without a literal is one bytes line. Nothing here touches a socket.

Only the items syncd asks for are understood: UID, FLAGS, INTERNALDATE, RFC822.SIZE and one
literal (the header fields). Responses without a UID (unsolicited flag updates) are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_UID = re.compile(rb"[( ]UID (\d+)")
_FLAGS = re.compile(rb"[( ]FLAGS \(([^)]*)\)")
_INTERNALDATE = re.compile(rb'[( ]INTERNALDATE "([^"]+)"')
_SIZE = re.compile(rb"[( ]RFC822\.SIZE (\d+)")
_DATE_TIME = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}


@dataclass(frozen=True, slots=True)
class Fetched:
    uid: int
    flags: tuple[str, ...]
    internal_date: datetime | None
    size: int | None
    header: bytes


def uid_set(uids: Iterable[int]) -> str:
    """UIDs as a compact IMAP sequence set: ``1:3,7,9:10``."""
    ranges: list[str] = []
    start = prev = -1
    for uid in sorted(set(uids)):
        if uid == prev + 1:
            prev = uid
            continue
        if start >= 0:
            ranges.append(f"{start}:{prev}" if prev > start else str(start))
        start = prev = uid
    if start >= 0:
        ranges.append(f"{start}:{prev}" if prev > start else str(start))
    return ",".join(ranges)


def parse_fetch(data: Sequence[bytes | tuple[bytes, bytes] | None]) -> dict[int, Fetched]:
    """Parse imaplib's FETCH data into one `Fetched` per UID (the last response wins)."""
    out: dict[int, Fetched] = {}
    i = 0
    while i < len(data):
        part = data[i]
        i += 1
        if part is None:
            continue
        if isinstance(part, tuple):
            meta, literal = part[0], part[1]
            if i < len(data) and isinstance(data[i], bytes):
                rest = data[i]
                assert isinstance(rest, bytes)
                meta += b" " + rest
                i += 1
        else:
            meta, literal = part, b""
        fetched = _one(meta, literal)
        if fetched is not None:
            out[fetched.uid] = fetched
    return out


def _one(meta: bytes, literal: bytes) -> Fetched | None:
    uid = _UID.search(meta)
    if uid is None:
        return None
    flags = _FLAGS.search(meta)
    date = _INTERNALDATE.search(meta)
    size = _SIZE.search(meta)
    return Fetched(
        uid=int(uid.group(1)),
        flags=tuple(f.decode("utf-8", "replace") for f in flags.group(1).split()) if flags else (),
        internal_date=parse_internaldate(date.group(1)) if date else None,
        size=int(size.group(1)) if size else None,
        header=literal,
    )


def parse_internaldate(value: bytes) -> datetime | None:
    """An IMAP date-time (``2-Mar-2026 08:00:00 +0100``) as an aware UTC datetime."""
    m = _DATE_TIME.fullmatch(value.decode("ascii", "replace").strip())
    month = _MONTHS.get(m.group(2).lower()) if m else None
    if m is None or month is None:
        return None
    day, _mon, year, hour, minute, second, sign, off_h, off_m = m.groups()
    offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
    try:
        local = datetime(int(year), month, int(day), int(hour), int(minute), int(second))
    except ValueError:  # 31-Feb and friends
        return None
    return (local - offset).replace(tzinfo=UTC)
