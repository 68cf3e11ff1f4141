"""`parse_header_block`'s shortcuts (str.split for sections with one kind of line break, the
unfolding without a regex, the cache of field names) give what the plain loop gave: the loop
as it was is kept here as the reference, and both run on arbitrary bytes and on header-like
text made of the pieces that matter (folds, CR, LF and CR LF in any mix, colons, white space
before a colon or a name, non-ASCII, bytes that are not UTF-8, an mbox ``From `` line)."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from connectors import mailparse
from connectors.mailparse import decode_header_bytes, legacy_charset, parse_header_block

_FIELD_NAME = re.compile(r"^[\x21-\x39\x3b-\x7e]+$")
_FIELD_SPLIT = re.compile(r"\r?\n(?![ \t])")
_FOLD = re.compile(r"[ \t]*\r?\n[ \t]*|\r")


def _reference(block: bytes) -> tuple[tuple[str, str], ...]:
    """parse_header_block as it was (less its cache of checked names)."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        charset = legacy_charset(block)
        text = "\n".join(decode_header_bytes(line, charset) for line in block.splitlines())
    fields: list[tuple[str, str]] = []
    for raw in _FIELD_SPLIT.split(text):
        if not raw or raw[0] in " \t\r\n":
            continue
        name, sep, value = raw.partition(":")
        if not sep:
            continue
        name = name.strip()
        if not _FIELD_NAME.match(name):
            continue
        if "\n" in value or "\r" in value:
            value = _FOLD.sub(" ", value)
        fields.append((name, value.strip()))
    return tuple(fields)


_BREAKS = ["\r\n", "\n", "\r", "\r\r\n", "\n\r", "\r\n\r\n", "\n\n"]
_FOLDS = ["\r\n ", "\r\n\t", "\n ", "\n\t", " \r\n ", "\t\r\n\t ", "\n  \t", "\r\n \r\n ", "\r "]
_SPACES = [" ", "  ", "\t", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\u2028", "\u3000"]
_NAMES = ["From", "To", "Subject", "X-Spam-Flag", "Message-ID", "a", "Dkim-Signature"]
_ODD_NAMES = ["", "Sub ject", "Sübject", "From alex@example.org Sat Mar  2 08:00:00 2026", "X\x00"]
_WORDS = ["x", "Ann Lee <ann@example.org>", "=?utf-8?q?caf=C3=A9?=", "café", "Привет", "a:b", ":"]
_TOKENS = st.sampled_from(
    [*_BREAKS, *_FOLDS, *_SPACES, *_NAMES, *_ODD_NAMES, *_WORDS, ":", " :", ": ", ";", "\x00"]
)
# Header-like text: fields of a name, white space, a colon and a value with folds, each
# ended by some line break; or any run of the pieces above.
_FIELD = st.tuples(
    st.sampled_from(["", *_SPACES[:4]]),
    st.sampled_from(_NAMES + _ODD_NAMES),
    st.sampled_from(["", " ", "\t", "\r\n ", "\x0b"]),
    st.sampled_from([":", ":", ""]),
    st.lists(
        st.one_of(st.sampled_from(_WORDS + _SPACES + _FOLDS), st.text(max_size=6)), max_size=6
    ),
    st.sampled_from([*_BREAKS, ""]),
).map(lambda t: t[0] + t[1] + t[2] + t[3] + "".join(t[4]) + t[5])
_TEXT = st.one_of(
    st.lists(_FIELD, max_size=10).map("".join),
    st.lists(st.one_of(_TOKENS, st.text(max_size=4)), max_size=30).map("".join),
)
_CHARSETS = ["", "utf-8", "koi8-r", "windows-1251", "latin-1", "base64", "utf-16", "cp037", "x-?"]


_BREAK = re.compile(r"\r\n|\r|\n")


@st.composite
def _header_bytes(draw: st.DrawFn) -> bytes:
    text = draw(_TEXT)
    if draw(st.booleans()):  # one kind of line break throughout, as nearly all mail has
        text = _BREAK.sub(draw(st.sampled_from(["\r\n", "\n"])), text)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "cp1252", "latin-1", "cp1251"]))
    block = text.encode(encoding, errors="replace")
    if draw(st.booleans()):  # a Content-Type naming a charset (read for 8-bit text)
        charset = draw(st.sampled_from(_CHARSETS))
        ctype = f"Content-Type: text/plain; charset={charset}".encode("ascii")
        at = draw(st.integers(0, len(block)))
        block = block[:at] + draw(st.sampled_from([b"\r\n", b"\n", b""])) + ctype + block[at:]
    if draw(st.booleans()):  # a byte that is not UTF-8 somewhere
        at = draw(st.integers(0, len(block)))
        block = (
            block[:at] + draw(st.sampled_from([b"\xff", b"\xe9", b"\xc3", b"\x80"])) + block[at:]
        )
    return block


def _check(block: bytes) -> None:
    expected = _reference(block)
    assert parse_header_block(block) == expected
    assert parse_header_block(block) == expected  # again, its field names now cached


@given(st.binary(max_size=300))
@example(b"")
@example(b"\r\n")
@example(b"\r")
@example(b":")
@example(b" :x")
@example(b"From alex@example.org Sat Mar  2 08:00:00 2026\nSubject: hi\n")
def test_equals_the_loop_on_arbitrary_bytes(block: bytes) -> None:
    _check(block)


@given(_header_bytes())
@example(b"Subject: a\r\n\r\n b\r\nTo: c\r\n")  # a fold after an empty line is no fold
@example(b"Subject: a\n\n b\nTo: c\n")
@example(b"Subject: a\r\n\tb\r\nTo: c\r\n")  # folds with a tab
@example(b"Subject: a\n\tb\nTo: c\n")
@example(b"Subject\r\n : a\r\n")  # a fold before the colon
@example(b"Subject: a \t\r\n \t b\r\n\r\n")
@example(b"Subject: a\r\n \r\n b\r\n")  # a folded line of white space only
@example(b"Subject: a\r\n b \r\nTo: c\n d\r\n")  # CR LF and LF mixed
@example(b"Subject: a\rb\r\n")  # a lone CR
@example(b"Subject: a\r\r\nTo: b\r\n")
@example(b" Subject: a\r\nTo: b\r\n")  # a continuation with no field before it
@example(b"\x0bSubject \x0b: a\xa0\r\n")
@example("Subject: a\xa0\r\n\xa0b\r\n".encode())  # only spaces and tabs go with a fold
@example(b"Subject: caf\xe9\r\n b\r\nContent-Type: text/plain; charset=koi8-r\r\n")
def test_equals_the_loop_on_header_like_text(block: bytes) -> None:
    _check(block)


def test_equals_the_loop_on_huge_sections() -> None:
    fields = b"".join(b"X-F%d: v %d\r\n  w\r\n" % (i, i) for i in range(30000))
    for block in (fields, fields.replace(b"\r\n", b"\n"), fields + b"Bad\n", b"x" * 600_000):
        _check(block)


def test_a_full_name_cache_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mailparse, "_NAMES", {})
    monkeypatch.setattr(mailparse, "_MAX_NAMES", 0)
    _check(b"Subject: a\r\nTo: b\r\n c\r\n")
    assert mailparse._NAMES == {}
