"""Reading address books: vCard 2.1, 3.0 and 4.0, as exports and CardDAV syncs leave them.

`read_vcards(data)` is pure: bytes in, a `VCardFile` (the cards and a count of skipped
ones) out. `read_vcard_files(path)` reads one .vcf file, or every .vcf/.vcard file under a
folder (vdirsyncer's filesystem storage keeps one card per file, one folder per address
book), and yields each file with its cards.

What is read from a card, and how:

* ``uid`` (UID), ``name`` (FN, else N assembled as prefix given middle family suffix),
  ``organisation`` (the first component of ORG), ``notes`` (NOTE; several are joined).
* ``emails``: every EMAIL, lowercased, ``mailto:`` removed, preferred ones first (TYPE=pref
  in 3.0, a bare PREF in 2.1, PREF=1..100 in 4.0), duplicates dropped; at most
  `MAX_EMAILS` (``vcard.card.capped`` is logged when a card has more).
* ``birthday`` / ``anniversary`` as ``(year or None, month, day)`` from BDAY and
  ANNIVERSARY (or X-ANNIVERSARY, X-EVOLUTION-ANNIVERSARY, X-MS-ANNIVERSARY). Accepted
  forms: 1985-04-12, 19850412, --0412, --04-12, each possibly followed by a time. A value
  marked VALUE=text ("circa 1800") is ignored; so is an impossible date. Apple's
  year-less dates (year 1604, or the X-APPLE-OMIT-YEAR parameter) have no year.
* ``custom_dates``: Apple's ``itemN.X-ABDATE`` with the label of ``itemN.X-ABLabel``
  (``_$!<Other>!$_`` becomes "Other"); the one labelled Anniversary is the anniversary.
* ``timezone``: TZ when it is an IANA zone name (Europe/Berlin); UTC offsets are ignored.

Decoding: folded lines are unfolded; vCard 2.1 quoted-printable values (with soft line
breaks) are decoded in their CHARSET; text without a charset is UTF-8, else Windows-1252;
a UTF-16 file (as some Windows tools write) is recognised by its byte order mark.
Backslash escapes (\\n, \\, \\; \\\\) are undone.

A broken card never stops the reading: a card without END, or with neither a name nor an
email address, is skipped and counted in `VCardFile.skipped`; a property that cannot be
decoded is left out of its card.
"""

from __future__ import annotations

import binascii
import logging
import os
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.base import SourceInvalid

logger = logging.getLogger(__name__)

PartialDate = tuple[int | None, int, int]  # (year or None, month, day)

_SUFFIXES = (".vcf", ".vcard")
_ANNIVERSARY_PROPERTIES = (
    "ANNIVERSARY",
    "X-ANNIVERSARY",
    "X-EVOLUTION-ANNIVERSARY",
    "X-MS-ANNIVERSARY",
)
_APPLE_NO_YEAR = 1604
MAX_EMAILS = 100  # a card with more addresses is not one person: the preferred ones are kept
_NAME = re.compile(r"[A-Za-z0-9-]+")
_LINE_BREAK = re.compile(rb"\r\n|\n|\r")
_APPLE_LABEL = re.compile(r"_\$!<(.*)>!\$_")
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)+|UTC")
_FULL_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
_YEARLESS_DATE = re.compile(r"--(\d{2})-?(\d{2})")
_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")


@dataclass(frozen=True, slots=True)
class VCard:
    uid: str | None
    name: str | None
    emails: tuple[str, ...]
    birthday: PartialDate | None = None
    anniversary: PartialDate | None = None
    custom_dates: tuple[tuple[str, PartialDate], ...] = ()
    timezone: str | None = None
    organisation: str | None = None
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class VCardFile:
    """The cards read from one file, how many were skipped as broken, and a read error."""

    cards: tuple[VCard, ...]
    skipped: int = 0
    error: str | None = None  # set when the file itself could not be read


@dataclass(slots=True)  # not frozen: cheaper to make, and there are many
class _Property:
    group: str | None  # upper case
    name: str  # upper case
    params: dict[str, list[str]]  # keys upper case; a bare 2.1 parameter is a TYPE
    raw: bytes

    def param(self, key: str) -> list[str]:
        return self.params.get(key, [])

    def types(self) -> set[str]:
        return {t.upper() for t in self.param("TYPE")}


# --- reading files ------------------------------------------------------------------------


def read_vcard_files(path: Path) -> Iterator[tuple[Path, VCardFile]]:
    """Each vCard file at `path` (a file, or a folder searched recursively) and its cards.

    Hidden files and folders are passed over. Raises `SourceInvalid` when `path` is
    neither a file nor a folder; a file that cannot be read comes with `error` set.
    """
    if path.is_file():
        yield path, _read_file(path)
        return
    if not path.is_dir():
        raise SourceInvalid(f"no vCard file or folder at {path}")
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(_SUFFIXES):
                file = Path(folder, name)
                yield file, _read_file(file)


def _read_file(file: Path) -> VCardFile:
    try:
        data = file.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        logger.warning("vcard.file.skipped", extra={"path": str(file), "reason": reason})
        return VCardFile(cards=(), skipped=0, error=f"cannot read {file}: {reason}")
    result = read_vcards(data)
    if result.skipped:
        logger.warning("vcard.cards.skipped", extra={"path": str(file), "count": result.skipped})
    return result


# --- parsing ------------------------------------------------------------------------------


def read_vcards(data: bytes) -> VCardFile:
    """Every card in `data`; broken cards are skipped and counted."""
    cards: list[VCard] = []
    skipped = 0
    current: list[_Property] | None = None
    nested = 0  # depth of a vCard 2.1 AGENT card embedded in the current one
    for line in _logical_lines(_to_utf8(data)):
        prop = _parse_line(line)
        if prop is None:
            continue
        marker = prop.raw.strip().upper() == b"VCARD"
        if prop.name == "BEGIN" and marker:
            if current and current[-1].name == "AGENT" and not current[-1].raw.strip():
                nested += 1
                continue
            if current is not None:
                skipped += 1  # the previous card never ended
            current, nested = [], 0
        elif prop.name == "END" and marker:
            if nested:
                nested -= 1
            elif current is not None:
                card = _build(current)
                if card is None:
                    skipped += 1
                else:
                    cards.append(card)
                current = None
        elif current is not None and not nested:
            current.append(prop)
    if current is not None:
        skipped += 1
    return VCardFile(cards=tuple(cards), skipped=skipped)


def _to_utf8(data: bytes) -> bytes:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace").encode("utf-8")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:]
    return data


def _logical_lines(data: bytes) -> Iterator[bytes]:
    """Unfold continuation lines, and join quoted-printable soft line breaks."""
    physical = _LINE_BREAK.split(data)
    i, n = 0, len(physical)
    while i < n:
        line = physical[i]
        i += 1
        qp = b"QUOTED-PRINTABLE" in line.split(b":", 1)[0].upper()
        pieces = [line]  # joined once: adding bytes one fold at a time is quadratic
        while i < n:
            following = physical[i]
            if qp and pieces[-1].endswith(b"="):  # a soft line break: the next is all value
                pieces[-1] = pieces[-1][:-1]
                pieces.append(following)
            elif following[:1] in (b" ", b"\t"):
                pieces.append(following[1:])
            else:
                break
            i += 1
        line = b"".join(pieces)
        if line.strip():
            yield line


def _parse_line(line: bytes) -> _Property | None:
    colon = _unquoted_index(line, ord(":"))
    if colon < 0:
        return None
    head = line[:colon].decode("utf-8", errors="replace")
    parts = _split_unquoted(head, ";")
    group, _, name = parts[0].strip().rpartition(".")
    if not _NAME.fullmatch(name):
        return None
    params: dict[str, list[str]] = {}
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        if not eq:  # vCard 2.1: ;WORK;PREF;QUOTED-PRINTABLE;CHARSET is spelt out
            bare = key.strip().upper()
            if bare in {"QUOTED-PRINTABLE", "BASE64", "8BIT", "7BIT", "B"}:
                params.setdefault("ENCODING", []).append(bare)
            else:
                params.setdefault("TYPE", []).append(key.strip())
            continue
        values = [v.strip().strip('"') for v in _split_unquoted(value, ",")]
        params.setdefault(key.strip().upper(), []).extend(v for v in values if v)
    return _Property(
        group=group.upper() or None, name=name.upper(), params=params, raw=line[colon + 1 :]
    )


def _unquoted_index(data: bytes, char: int) -> int:
    first = data.find(bytes([char]))
    if first < 0 or b'"' not in data[:first]:
        return first
    quoted = False
    for index, byte in enumerate(data):
        if byte == 0x22:
            quoted = not quoted
        elif byte == char and not quoted:
            return index
    return -1


def _split_unquoted(text: str, sep: str) -> list[str]:
    if '"' not in text:
        return text.split(sep)
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


# --- values -------------------------------------------------------------------------------


def _text(prop: _Property) -> str | None:
    """The property's value as text (decoded, not yet unescaped); None if undecodable."""
    raw = prop.raw
    encodings = {e.upper() for e in prop.param("ENCODING")}
    if encodings & {"B", "BASE64"}:
        return None
    if "QUOTED-PRINTABLE" in encodings:
        try:
            raw = quopri.decodestring(raw)
        except (ValueError, binascii.Error):
            return None
    charsets = prop.param("CHARSET")
    if charsets:
        charset = charsets[0]
        try:
            return raw.decode(charset, errors="replace")
        except LookupError:
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


_ESCAPES = {"n": "\n", "N": "\n", ",": ",", ";": ";", ":": ":", "\\": "\\"}


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
        else:
            out.append(ch)
    return "".join(out)


def _components(text: str) -> list[str]:
    """A structured value (N, ORG) split at unescaped semicolons, each unescaped."""
    if "\\" not in text:
        return [part.strip() for part in text.split(";")]
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            current.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ";":
            parts.append(_unescape("".join(current)).strip())
            current = []
        else:
            current.append(ch)
    parts.append(_unescape("".join(current)).strip())
    return parts


def _plain(prop: _Property) -> str | None:
    text = _text(prop)
    if text is None:
        return None
    return _unescape(text).replace("\r\n", "\n").replace("\r", "\n").strip() or None


def _partial_date(prop: _Property) -> PartialDate | None:
    if any(v.lower() == "text" for v in prop.param("VALUE")):
        return None
    text = _text(prop)
    if text is None:
        return None
    token = text.strip().split("T", 1)[0].split(" ", 1)[0]
    year: int | None
    full = _FULL_DATE.fullmatch(token)
    if full:
        year, month, day = (int(g) for g in full.groups())
        omitted = prop.param("X-APPLE-OMIT-YEAR")
        if year in (0, _APPLE_NO_YEAR) or (omitted and omitted[0] == full.group(1)):
            year = None
    else:
        yearless = _YEARLESS_DATE.fullmatch(token)
        if yearless is None:
            return None
        year, month, day = None, int(yearless.group(1)), int(yearless.group(2))
    try:
        date(year or 2000, month, day)  # 2000 is a leap year: --02-29 is a real birthday
    except ValueError:
        return None
    return year, month, day


def _zone(prop: _Property) -> str | None:
    if any(v.lower() == "uri" for v in prop.param("VALUE")):
        return None
    text = _text(prop)
    if text is None:
        return None
    for candidate in _components(text):
        if _ZONE_NAME.fullmatch(candidate):
            try:
                ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                continue
            return candidate
    return None


def _email(prop: _Property) -> str | None:
    text = _plain(prop)
    if text is None:
        return None
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    if "<" in text and ">" in text:
        text = text[text.index("<") + 1 : text.index(">")]
    text = text.strip().lower()
    return text if _ADDRESS.fullmatch(text) else None


def _preference(prop: _Property) -> int:
    """Lower is more preferred: PREF=1..100 (4.0), TYPE=pref (3.0, 2.1) counts as 1."""
    for value in prop.param("PREF"):
        if value.isdigit():
            return int(value)
    return 1 if "PREF" in prop.types() else 101


def _label(text: str | None) -> str:
    if not text:
        return "Other"
    apple = _APPLE_LABEL.fullmatch(text)
    return (apple.group(1) if apple else text).strip() or "Other"


# --- building a card ----------------------------------------------------------------------


def _build(props: list[_Property]) -> VCard | None:
    by_name: dict[str, list[_Property]] = {}
    for prop in props:
        by_name.setdefault(prop.name, []).append(prop)

    def first(name: str) -> str | None:
        return next((v for p in by_name.get(name, []) if (v := _plain(p))), None)

    name = first("FN") or _assembled_name(by_name.get("N", []))
    emails = _emails(by_name.get("EMAIL", []))
    if name is None and not emails:
        return None

    anniversary = None
    for prop_name in _ANNIVERSARY_PROPERTIES:
        anniversary = anniversary or _first_date(by_name.get(prop_name, []))
    custom: list[tuple[str, PartialDate]] = []
    labels = {p.group: _plain(p) for p in by_name.get("X-ABLABEL", []) if p.group is not None}
    for prop in by_name.get("X-ABDATE", []):
        when = _partial_date(prop)
        if when is None:
            continue
        label = _label(labels.get(prop.group) if prop.group else None)
        if label.lower() == "anniversary" and anniversary in (None, when):
            anniversary = when
        else:
            custom.append((label, when))

    orgs = [c for p in by_name.get("ORG", []) if (t := _text(p)) for c in _components(t)[:1]]
    notes = [v for p in by_name.get("NOTE", []) if (v := _plain(p))]
    return VCard(
        uid=first("UID"),
        name=name,
        emails=emails,
        birthday=_first_date(by_name.get("BDAY", [])),
        anniversary=anniversary,
        custom_dates=tuple(custom),
        timezone=next((z for p in by_name.get("TZ", []) if (z := _zone(p))), None),
        organisation=next((o for o in orgs if o), None),
        notes="\n".join(notes) or None,
    )


def _assembled_name(props: list[_Property]) -> str | None:
    for prop in props:
        text = _text(prop)
        if text is None:
            continue
        parts = (_components(text) + [""] * 5)[:5]
        family, given, middle, prefix, suffix = parts
        name = " ".join(p for p in (prefix, given, middle, family, suffix) if p)
        if name:
            return name
    return None


def _emails(props: list[_Property]) -> tuple[str, ...]:
    ranked = sorted(
        (_preference(p), index, address)
        for index, p in enumerate(props)
        if (address := _email(p)) is not None
    )
    emails = tuple(dict.fromkeys(address for _, _, address in ranked))
    if len(emails) > MAX_EMAILS:
        logger.warning("vcard.card.capped", extra={"emails": len(emails), "kept": MAX_EMAILS})
    return emails[:MAX_EMAILS]


def _first_date(props: list[_Property]) -> PartialDate | None:
    return next((d for p in props if (d := _partial_date(p)) is not None), None)
