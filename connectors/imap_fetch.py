"""Reading the answer to the header ``UID FETCH`` of a backfill, straight off the wire.

imapclient's general response parser cost more per message than classifying it (about 5
times imaplib's raw read, and imaplib itself matches several regular expressions and keeps
every response in a dictionary before the caller sees it). The header FETCH asks for a fixed
set of items (UID, FLAGS, INTERNALDATE, RFC822.SIZE and one header-fields literal), and a
server that CONDSTORE is enabled on adds MODSEQ. `read_fetch` reads the responses line by
line and literal by literal (literals by their ``{n}`` counts, never by searching bodies)
and parses each response in the shape servers send (all items, the literal last, then
``)``) with one strict expression. Any other FETCH response is kept as imaplib would have
kept it and parsed afterwards by imapclient's parser (`parse_other`), so an unusual server
costs speed, never correctness. Other untagged responses (EXISTS, EXPUNGE, response codes)
are handed to a callback in imaplib's form, so the connection's state reads them as before.

Hostile input: a literal is read whole only up to `max_literal` bytes; the rest is read in
small pieces and dropped (the message is marked truncated), so memory stays bounded; a line
is bounded by imaplib's own limit; an answer that ends early, a BYE or a response that is not
IMAP raises `imaplib.IMAP4.abort` (the connection is dropped). Nothing here opens a socket:
it reads through the two functions it is given.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from imapclient.response_parser import parse_fetch_response  # type: ignore[import-untyped]

from connectors.mailparse import MAX_HEADER_BYTES

Untagged = bytes | tuple[bytes, bytes]

MAX_LITERAL = MAX_HEADER_BYTES  # a header section is cut there anyway (connectors.mailparse)
_SKIP_PIECE = 64 * 1024

# One FETCH response as servers send it for our items: any order of the small items, the
# header-fields literal last. Each alternative starts with its own keyword: no backtracking,
# and one way only to match _ITEMS, the part up to the field list.
_ITEMS = re.compile(
    rb"\* \d+ FETCH \((?:(?:UID (\d+)|FLAGS \(([^()\"{}\r\n]*)\)"
    rb'|INTERNALDATE "([^"\r\n]*)"|RFC822\.SIZE (\d+)|MODSEQ \(\d+\)) )*'
    rb"BODY\[HEADER\.FIELDS \("
)
_FAST = re.compile(_ITEMS.pattern + rb"[^()\]\r\n]*\)\] \{(\d+)\}\r\n")
_FIELDS_END = b")] {"
# FLAGS as read (b"\\Seen $Forwarded") and as kept; a mailbox uses a few dozen sets.
_FLAGS: dict[bytes | None, tuple[str, ...]] = {}
_LITERAL = re.compile(rb"\{(\d+)\}\Z")
_UNTAGGED_STATUS = re.compile(rb"\* (\d+) ([A-Z-]+)(?: (.*))?\Z", re.DOTALL)
_UNTAGGED = re.compile(rb"\* ([A-Z-]+)(?: (.*))?\Z", re.DOTALL)
_RESPONSE_CODE = re.compile(rb"\[([A-Z-]+)(?: (.*))?\]")
_UID = re.compile(rb"[( ]UID (\d+)")
_DATE_TIME = re.compile(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
_MONTH_NAMES = (
    *(b"jan", b"feb", b"mar", b"apr", b"may", b"jun"),
    *(b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"),
)
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}


@dataclass(slots=True)
class Fetched:
    """One message's header FETCH. Not frozen, and built with positional arguments: a frozen
    dataclass's __init__ sets each field through object.__setattr__ (0.9 us a message with
    keyword arguments, 0.16 us now)."""

    uid: int
    flags: tuple[str, ...]
    internal_date: datetime | None
    size: int | None
    header: bytes
    truncated: bool = False


@dataclass(slots=True)
class FetchAnswer:
    """What one UID FETCH answered: its status, the messages, and what `parse_other` reads."""

    status: str = ""  # OK, NO or BAD
    text: bytes = b""
    fetched: list[Fetched] = field(default_factory=list)
    other: list[Untagged] = field(default_factory=list)  # as imaplib keeps FETCH data


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


def read_fetch(
    readline: Callable[[], bytes],
    read: Callable[[int], bytes],
    tag: bytes,
    untagged: Callable[[str, Untagged], None],
    *,
    max_literal: int = MAX_LITERAL,
) -> FetchAnswer:
    """Read responses up to the completion of the command tagged `tag`.

    `readline` returns one line with its CRLF (b"" at the end of the stream) and `read(n)`
    n bytes; `untagged(type, data)` receives the untagged responses that are not FETCH, as
    imaplib stores them.
    """
    answer = FetchAnswer()
    fetched = answer.fetched
    items, fast = _ITEMS.match, _FAST.fullmatch
    done = tag + b" "
    # The field list as the last response read by _FAST had it (its hundreds of bytes are
    # the same in every response, so the rest compare it instead of matching it again).
    fields = b""
    while True:
        line = _line(readline)
        m = items(line)
        count = None
        if m is not None:
            end = m.end() + len(fields)
            if (
                line.startswith(fields, m.end())
                and line.startswith(_FIELDS_END, end)
                and line.endswith(b"}\r\n")
            ):
                count = line[end + 4 : -3]
                if not count.isdigit():  # b"" too
                    count = None
            if count is None and (whole := fast(line)) is not None:
                count = whole.group(5)
                fields = line[m.end() : len(line) - len(count) - 7]
        if m is not None and count is not None:  # what _FAST.fullmatch(line) matches
            uid, flags, date, size = m.groups()
            n = int(count)
            if n <= max_literal:
                header, cut = read(n), False
                if len(header) != n:
                    raise imaplib.IMAP4.abort("socket error: EOF inside a literal")
            else:
                header, cut = _literal(read, n, max_literal)
            trailer = _line(readline)
            if uid is not None and trailer == b")\r\n":
                names = _FLAGS.get(flags)
                if names is None:
                    names = _flag_names(flags)
                fetched.append(
                    Fetched(
                        int(uid),
                        names,
                        parse_internaldate(date) if date is not None else None,
                        int(size) if size is not None else None,
                        header,
                        cut,
                    )
                )
                continue
            # Items after the literal, or no UID: kept whole for imapclient's parser.
            meta = _untagged_parts(line[:-2])[1]
            answer.other.extend(_rest(meta, header, trailer, readline, read, max_literal))
            continue
        if line.startswith(done):
            status, _sp, text = line[len(done) :].rstrip(b"\r\n").partition(b" ")
            answer.status, answer.text = status.decode("ascii", "replace").upper(), text
            return answer
        if not line.startswith(b"* "):
            raise imaplib.IMAP4.abort(f"unexpected response: {line[:200]!r}")
        typ, dat = _untagged_parts(line.rstrip(b"\r\n"))
        parts = _rest(dat, None, None, readline, read, max_literal)
        if typ == "FETCH":
            answer.other.extend(parts)
            continue
        if typ == "BYE":
            raise imaplib.IMAP4.abort(_text(dat))
        for part in parts:
            untagged(typ, part)
        code = _RESPONSE_CODE.match(dat) if typ in ("OK", "NO", "BAD") else None
        if code is not None:
            untagged(code.group(1).decode("ascii"), code.group(2) or b"")


def _flag_names(flags: bytes | None) -> tuple[str, ...]:
    names = tuple(f.decode("utf-8", "replace") for f in flags.split()) if flags else ()
    if len(_FLAGS) < 256 and (flags is None or len(flags) <= 256):
        _FLAGS[flags] = names
    return names


def parse_other(other: list[Untagged]) -> list[Fetched]:
    """FETCH responses the fast path did not read, through imapclient's general parser.

    Responses without a UID (unsolicited flag updates) and without the header item are
    not messages of ours and are skipped; several responses for one UID are merged.
    """
    if not other:
        return []
    ours = [
        response for response in _responses(other) if _UID.search(b" ".join(map(_meta, response)))
    ]
    out: list[Fetched] = []
    parsed: Any = parse_fetch_response(
        [p for response in ours for p in response], normalise_times=False, uid_is_key=True
    )
    for uid, data in parsed.items():
        header = next(
            (v for k, v in data.items() if k.upper().startswith(b"BODY[HEADER.FIELDS")), None
        )
        if header is None and not any(k.upper().startswith(b"BODY[") for k in data):
            continue  # a flag update, not a message
        date = data.get(b"INTERNALDATE")
        size = data.get(b"RFC822.SIZE")
        out.append(
            Fetched(
                uid=int(uid),
                flags=tuple(_text(f) for f in data.get(b"FLAGS", ())),
                internal_date=_utc(date) if isinstance(date, datetime) else None,
                size=int(size) if isinstance(size, int) else None,
                header=header if isinstance(header, bytes) else b"",
            )
        )
    return out


def _responses(other: list[Untagged]) -> list[list[Untagged]]:
    """`other` cut into whole responses (a response with literals spans several parts)."""
    out: list[list[Untagged]] = []
    current: list[Untagged] = []
    for part in other:
        current.append(part)
        if isinstance(part, bytes):
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def parse_internaldate(value: bytes) -> datetime | None:
    """An IMAP date-time (``2-Mar-2026 08:00:00 +0100``) as an aware UTC datetime."""
    # The fixed-width tail splits a value into its date, hour and minute, second and zone;
    # each part seen in a value parsed below is kept, so most values are sums of three.
    base = _DAYS.get(value[:-15] + value[-5:])
    if base is not None:
        hours_minutes = _HOURS_MINUTES.get(value[-15:-9])
        seconds = _SECONDS.get(value[-9:-5])
        if hours_minutes is not None and seconds is not None:
            return base + hours_minutes + seconds
    m = _DATE_TIME.fullmatch(value.strip())
    month = _MONTHS.get(m.group(2).lower()) if m else None
    if m is None or month is None:
        return None
    day, _mon, year, hour, minute, second, sign, off_h, off_m = m.groups()
    zone = sign + off_h + off_m
    offset = _ZONES.get(zone)
    if offset is None:
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == b"-" else 1)
        if len(_ZONES) < 256:
            _ZONES[zone] = offset
    try:
        local = datetime(
            int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except ValueError:  # 31-Feb and friends
        return None
    utc = local - offset
    if 1 < local.year < 9999 and len(value) <= 32 and value[-1:].isdigit():
        # Nothing after the zone, so value is white space, the date, then the 15 bytes of
        # the tail; and no year where a sum could leave the range of datetime.
        hours_minutes = _HOURS_MINUTES.get(key := value[-15:-9])
        if hours_minutes is None:
            hours_minutes = _HOURS_MINUTES[key] = timedelta(hours=local.hour, minutes=local.minute)
        seconds = _SECONDS.get(key := value[-9:-5])
        if seconds is None:
            seconds = _SECONDS[key] = timedelta(seconds=local.second)
        if len(_DAYS) >= _MAX_DAYS:
            _DAYS.clear()
        _DAYS[value[:-15] + value[-5:]] = utc - hours_minutes - seconds
    return utc


_ZONES: dict[bytes, timedelta] = {}
# Parts of values parse_internaldate parsed: the date with the zone (b" 2-Mar-2026+0100")
# as the instant that date begins in that zone (in UTC), b" 08:00" and b":00 " as timedeltas.
_DAYS: dict[bytes, datetime] = {}
_MAX_DAYS = 8192
_HOURS_MINUTES: dict[bytes, timedelta] = {}  # at most 24 * 60
_SECONDS: dict[bytes, timedelta] = {}  # at most 60


def _line(readline: Callable[[], bytes]) -> bytes:
    try:
        line = readline()
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as exc:  # imaplib's line limit: the stream is out of step
        raise imaplib.IMAP4.abort(str(exc)) from None
    if not line:
        raise imaplib.IMAP4.abort("socket error: EOF")
    return line


def _literal(read: Callable[[int], bytes], count: int, cap: int) -> tuple[bytes, bool]:
    """A literal of `count` bytes: its first `cap` bytes, and whether it was cut."""
    data = read(min(count, cap))
    if len(data) != min(count, cap):
        raise imaplib.IMAP4.abort("socket error: EOF inside a literal")
    left = count - len(data)
    while left > 0:
        piece = read(min(left, _SKIP_PIECE))
        if not piece:
            raise imaplib.IMAP4.abort("socket error: EOF inside a literal")
        left -= len(piece)
    return data, count > cap


def _rest(
    dat: bytes,
    literal: bytes | None,
    trailer: bytes | None,
    readline: Callable[[], bytes],
    read: Callable[[int], bytes],
    cap: int,
) -> list[Untagged]:
    """One response in imaplib's form: ``(line up to a literal, literal)`` parts, then the
    rest of the line; `literal` and `trailer` are the first literal and line already read."""
    parts: list[Untagged] = []
    if literal is not None and trailer is not None:
        parts.append((dat, literal))
        dat = trailer.rstrip(b"\r\n")
    while (m := _LITERAL.search(dat)) is not None:
        data, _cut = _literal(read, int(m.group(1)), cap)
        parts.append((dat, data))
        dat = _line(readline).rstrip(b"\r\n")
    parts.append(dat)
    return parts


def _untagged_parts(line: bytes) -> tuple[str, bytes]:
    """An untagged response line's type and data, split as imaplib splits them."""
    m = _UNTAGGED_STATUS.match(line)
    if m is not None:
        number, typ, rest = m.groups()
        return typ.decode("ascii"), number + b" " + rest if rest else number
    m = _UNTAGGED.match(line)
    if m is None:
        raise imaplib.IMAP4.abort(f"unexpected response: {line[:200]!r}")
    return m.group(1).decode("ascii"), m.group(2) or b""


def _meta(part: Untagged) -> bytes:
    return part[0] if isinstance(part, tuple) else part


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
