"""Pure parsing of RFC 5322 header sections: bytes in, ordered (name, value) pairs out.

Sources read only the header section of a message (and a bounded peek into the body for
MIME part types); nothing here touches a socket or the body as a whole. Broken input never
raises: 8-bit bytes that are not UTF-8 are read as Windows-1252, lines without a colon are
skipped, and a header section larger than `MAX_HEADER_BYTES` is cut and marked truncated.
"""

from __future__ import annotations

import codecs
import re
from itertools import repeat
from typing import BinaryIO

MAX_HEADER_BYTES = 512 * 1024
BODY_PEEK_BYTES = 32 * 1024
_CHUNK = 16 * 1024

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_PART_TYPE = re.compile(rb"(?im)^content-type:[ \t]*([a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+)")
_FIELD_NAME = re.compile(r"^[\x21-\x39\x3b-\x7e]+$")
_CONTENT_TYPE = re.compile(rb"(?im)^content-type:((?:[^\r\n]|\r?\n[ \t])*)")
_CHARSET = re.compile(rb'(?i)charset\s*=\s*"?([a-z0-9_.:-]+)')
# A field ends at a line break that no space or tab follows (CR LF, or LF alone).
_FIELD_SPLIT = re.compile(r"\r?\n(?![ \t])")
# The same split where every line break is CR LF, or every one LF; these start with a
# literal, which the regex engine searches for quickly (the general one tries every offset).
_FIELD_SPLIT_CRLF = re.compile(r"\r\n(?![ \t])")
_FIELD_SPLIT_LF = re.compile(r"\n(?![ \t])")
_FOLDED = re.compile(r"\n[ \t]")  # one search, faster than "\n " in text or "\n\t" in text
_FOLD = re.compile(r"[ \t]*\r?\n[ \t]*|\r")
# Field names as found before the colon, already checked, and as they are kept (stripped):
# mail repeats the same few dozen. Bounded in number and length (hostile sections).
_NAMES: dict[str, str] = {}
_MAX_NAMES = 4096
_MAX_NAME_LENGTH = 100


def decode_header_bytes(raw: bytes, fallback: str = "cp1252") -> str:
    """Header bytes as text: UTF-8 when valid (RFC 6532), else `fallback`, never failing."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(fallback, errors="replace")


def legacy_charset(block: bytes) -> str:
    """The charset to read raw 8-bit header bytes with.

    Old mail programs wrote non-ASCII header text unencoded, in the same charset as the
    body; the body's Content-Type names it. Without one, Windows-1252 (a superset of
    Latin-1 that maps every byte) is the usual guess.
    """
    m = _CONTENT_TYPE.search(block)
    if m is not None:
        c = _CHARSET.search(m.group(1))
        if c is not None:
            name = c.group(1).decode("ascii", "replace").lower()
            try:
                info = codecs.lookup(name)
            except LookupError:
                return "cp1252"
            if info.name not in ("utf-8", "ascii") and getattr(info, "_is_text_encoding", True):
                return info.name
    return "cp1252"


def split_header_block(data: bytes) -> tuple[bytes, bytes]:
    """Split raw message bytes into (header section, what follows the blank line)."""
    if data.startswith((b"\r\n", b"\n")):
        return b"", data.lstrip(b"\r\n")
    m = _HEADER_END.search(data)
    if m is None:
        return data, b""
    return data[: m.start()], data[m.end() :]


def parse_header_block(block: bytes) -> tuple[tuple[str, str], ...]:
    """Parse a header section into (name, unfolded value) pairs, in order.

    Values keep RFC 2047 encoded words as they are; folding white space becomes one space
    and the ends are stripped. A leading mbox ``From `` line and lines that are not fields
    are skipped. A section that is valid UTF-8 (nearly all) is decoded once; otherwise
    each line is decoded on its own so that one bad byte spoils only its own field.
    """
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        charset = legacy_charset(block)
        text = "\n".join(decode_header_bytes(line, charset) for line in block.splitlines())
    # Nearly every section breaks its lines one way, CR LF (IMAP) or LF (files): then the
    # fields are cut by str.split (or a split that starts with a literal, which the regex
    # engine finds fast), and a folded value is unfolded without a regex.
    if "\r" not in text:
        nl = "\n"
    elif text.count("\r") == text.count("\n") == text.count("\r\n"):
        nl = "\r\n"
    else:
        return _parse_fields(_FIELD_SPLIT.split(text))
    names = _NAMES
    if _FOLDED.search(text) is None:  # no folds: no value holds a line break
        return tuple(
            [
                (key, value.strip())
                for name, sep, value in map(str.partition, text.split(nl), repeat(":"))
                if sep and (key := names.get(name) or _field_name(name))
            ]
        )
    split = _FIELD_SPLIT_LF if nl == "\n" else _FIELD_SPLIT_CRLF
    return tuple(
        [
            (key, _unfold(value, nl) if "\n" in value else value.strip())
            for name, sep, value in map(str.partition, split.split(text), repeat(":"))
            if sep and (key := names.get(name) or _field_name(name))
        ]
    )


def _unfold(value: str, nl: str) -> str:
    """A value folded with `nl` (and no other CR or LF) as `_FOLD` unfolds it, stripped: the
    spaces and tabs around each line break become one space."""
    return " ".join([line.strip(" \t") for line in value.split(nl)]).strip()


def _parse_fields(pieces: list[str]) -> tuple[tuple[str, str], ...]:
    """Fields from a section cut at the line breaks that no space or tab follows, its line
    breaks mixed (CR LF, LF, a lone CR)."""
    fields: list[tuple[str, str]] = []
    for raw in pieces:
        name, sep, value = raw.partition(":")
        if not sep:
            continue
        key = _NAMES.get(name) or _field_name(name)
        if key is None:
            continue
        if "\n" in value or "\r" in value:
            value = _FOLD.sub(" ", value)
        fields.append((key, value.strip()))
    return tuple(fields)


def _field_name(name: str) -> str | None:
    """`name` (what precedes a field's colon) stripped, or None when that is no field name:
    empty, not printable ASCII, or starting with white space (a continuation line or an
    empty one)."""
    if name[:1] in (" ", "\t", "\r", "\n"):
        return None
    stripped = name.strip()
    if not _FIELD_NAME.match(stripped):
        return None
    if len(_NAMES) < _MAX_NAMES and len(name) <= _MAX_NAME_LENGTH:
        _NAMES[name] = stripped
    return stripped


def body_part_types(body_prefix: bytes) -> frozenset[str]:
    """MIME types of the parts whose headers appear in the first bytes of a body."""
    return frozenset(m.group(1).decode("ascii").lower() for m in _PART_TYPE.finditer(body_prefix))


def read_header_section(stream: BinaryIO, *, peek_body: bool = True) -> tuple[bytes, bytes, bool]:
    """Read a message's header section from `stream`, and a bounded peek into the body.

    Returns (header bytes, body prefix, truncated). Reads in chunks and stops at the blank
    line, so memory stays bounded whatever the size of the message.
    """
    buf = bytearray()
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            head, rest = split_header_block(bytes(buf))
            return head, rest[:BODY_PEEK_BYTES] if peek_body else b"", False
        search_from = max(0, len(buf) - 3)
        buf += chunk
        if buf.startswith((b"\r\n", b"\n")):
            return b"", _peek(stream, bytes(buf).lstrip(b"\r\n"), peek_body), False
        m = _HEADER_END.search(buf, search_from)
        if m is not None:
            head = bytes(buf[: m.start()])
            rest = bytes(buf[m.end() :])
            return head, _peek(stream, rest, peek_body and _is_multipart(head)), False
        if len(buf) > MAX_HEADER_BYTES:
            return bytes(buf[:MAX_HEADER_BYTES]), b"", True


def _is_multipart(head: bytes) -> bool:
    return b"multipart/" in head.lower()


def _peek(stream: BinaryIO, already: bytes, peek_body: bool) -> bytes:
    if not peek_body:
        return b""
    if len(already) < BODY_PEEK_BYTES:
        already += stream.read(BODY_PEEK_BYTES - len(already))
    return already[:BODY_PEEK_BYTES]
