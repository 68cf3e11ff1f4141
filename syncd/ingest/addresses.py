"""Pure helpers for the header values the classifier and ingest read: words, addresses, ids, dates.

Everything here takes untrusted text from mail headers and never raises: what cannot be
understood becomes None (or is skipped), never an exception, because one broken message in
a backfill of 100,000 must not stop the others.
"""

from __future__ import annotations

import binascii
import calendar
import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses, parsedate_tz
from functools import lru_cache

__all__ = [
    "OwnerIdentity",
    "address_domain",
    "decode_words",
    "is_public_mail_domain",
    "normalize_address",
    "normalize_message_id",
    "parse_addresses",
    "parse_date",
    "parse_references",
]

# --- RFC 2047 encoded words ----------------------------------------------------------------

# Lenient on purpose: real mail has spaces and `*lang` suffixes where RFC 2047 allows none.
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([QqBb])\?([^?]*)\?=")
_SPACE_ONLY = re.compile(r"\s*")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
# C0 but tab and line breaks (collapsed anyway), DEL, C1 and bidi controls
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)

# Codecs Python knows that are not character sets: they fail with errors="replace", warn
# (unicode_escape emits DeprecationWarning on stray backslashes) or are not text at all.
_NOT_MAIL_CHARSETS = frozenset(
    {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape", "mbcs", "oem"}
)


@lru_cache(maxsize=512)
def _codec_name(charset: str) -> str | None:
    """The Python codec for a MIME charset name, or None when there is no usable one."""
    # RFC 2231 lets a language ride along: "utf-8*en".
    name = charset.partition("*")[0].strip().lower()
    if not name or len(name) > 40:
        return None
    try:
        info = codecs.lookup(name)
    except LookupError:  # the one way codecs reports an unknown name
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_MAIL_CHARSETS:
        return None
    return info.name


def _decode_bytes(raw: bytes, charset: str) -> str:
    codec = _codec_name(charset)
    if codec is not None:
        return raw.decode(codec, errors="replace")
    # Unknown charset: UTF-8 is the most common truth; when the bytes are not UTF-8,
    # Latin-1 keeps every byte as some character instead of a row of U+FFFD.
    text = raw.decode("utf-8", errors="replace")
    if "\ufffd" in text and b"\xef\xbf\xbd" not in raw:
        return raw.decode("latin-1")
    return text


def _b_decode(text: str) -> bytes:
    # Drop what is not base64 and fix the padding ourselves, so the decoder sees only
    # well-formed input and cannot raise on a mangled word.
    data = _NOT_BASE64.sub(b"", text.encode("ascii", errors="ignore"))
    if len(data) % 4 == 1:
        data = data[:-1]
    data += b"=" * (-len(data) % 4)
    return binascii.a2b_base64(data)


def _q_decode(text: str) -> bytes:
    data = text.encode("utf-8", errors="replace").replace(b"_", b" ")
    return _Q_ESCAPE.sub(lambda m: bytes((int(m.group(1), 16),)), data)


def _collapse(text: str) -> str:
    if not text.isprintable() and _CONTROL.search(text):  # controls are never printable
        text = _CONTROL.sub(" ", text)
    return " ".join(text.split())


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words in a header value, collapsing white space.

    Adjacent words in the same charset are joined before decoding, because encoders split
    multi-byte characters across words. Unknown charsets fall back to UTF-8, then Latin-1;
    broken base64 decodes as far as it goes. Never raises.
    """
    if "=?" not in value:
        return _collapse(value)
    out: list[str] = []
    pending = bytearray()
    pending_charset = ""
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        between = value[pos : m.start()]
        charset = m.group(1)
        # RFC 2047 §6.2: white space between two encoded words is not part of the text.
        adjacent = pos > 0 and _SPACE_ONLY.fullmatch(between) is not None
        if pending and (not adjacent or charset.lower() != pending_charset.lower()):
            out.append(_decode_bytes(bytes(pending), pending_charset))
            pending.clear()
        if not adjacent:
            out.append(between)
        pending_charset = charset
        word = m.group(3)
        pending += _q_decode(word) if m.group(2) in "Qq" else _b_decode(word)
        pos = m.end()
    if pending:
        out.append(_decode_bytes(bytes(pending), pending_charset))
    out.append(value[pos:])
    return _collapse("".join(out))


# --- addresses -----------------------------------------------------------------------------

MAX_ADDRESS_LENGTH = 320
# Quoted local parts and domain literals are legal but never name a person we track, and
# accepting them would let display-name garbage pass as an address.
_BAD_ADDRESS_CHAR = re.compile(r"[\s\x00-\x1f\x7f<>()\[\],;:\"\\]")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def normalize_address(addr: str) -> str | None:
    """A comparable form of an e-mail address, or None when `addr` is not one.

    Lowercases, drops angle brackets and, for Gmail, the dots and ``+tag`` Gmail ignores.
    Idempotent: a normalised address normalises to itself.
    """
    if len(addr) > 4 * MAX_ADDRESS_LENGTH:
        return None
    text = addr.strip().strip("<>").strip().lower()
    local, at, domain = text.rpartition("@")
    domain = domain.rstrip(".")
    if not at or not local or not domain or _BAD_ADDRESS_CHAR.search(text):
        return None
    if domain in _GMAIL_DOMAINS:
        local = local.partition("+")[0].replace(".", "")
        domain = "gmail.com"
        if not local:
            return None
    result = f"{local}@{domain}"
    if len(result) > MAX_ADDRESS_LENGTH or "@" in local:
        return None
    return result


# Most address headers are a plain list of `addr`, `Name <addr>` or `"Name" <addr>`. Those
# are read with one regex; anything else (comments, groups, escapes, stray brackets) goes to
# getaddresses, which is pure Python and was half of classify's cost. The patterns only
# accept what getaddresses reads the same way; a property test holds them to that.
_ADDR_SPEC = r'[^\s<>()\[\]\\,;:@"]+@[^\s<>()\[\]\\,;:@"]+'
_SIMPLE_MAILBOX = re.compile(
    r'(?:[ \t]*"([^"\\\r\n]*)"[ \t]*<(' + _ADDR_SPEC + r")>"
    r'|([^"<>()\[\]\\,;:@\r\n]*)<(' + _ADDR_SPEC + r")>"
    r"|[ \t]*(" + _ADDR_SPEC + r"))"
    r"[ \t]*(?:(,)|\Z)"
)


def _simple_mailboxes(value: str) -> list[tuple[str, str]] | None:
    """(raw name, raw address) pairs when `value` is a plain mailbox list, else None."""
    pairs: list[tuple[str, str]] = []
    pos = 0
    while True:
        m = _SIMPLE_MAILBOX.match(value, pos)
        if m is None:
            return None
        quoted, quoted_addr, name, named_addr, bare = m.group(1, 2, 3, 4, 5)
        if quoted_addr is not None:
            pairs.append((quoted or "", quoted_addr))
        elif named_addr is not None:
            pairs.append((name.strip(" \t"), named_addr))
        else:
            pairs.append(("", bare))
        if m.group(6) is None:
            return pairs
        pos = m.end()


def _mailboxes(values: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for value in values:
        simple = _simple_mailboxes(value)
        if simple is None:
            return getaddresses(values)
        pairs.extend(simple)
    return pairs


def parse_addresses(values: list[str]) -> list[tuple[str, str]]:
    """(display name, normalised address) pairs from address header values such as To or Cc.

    Names are RFC 2047-decoded; invalid addresses (and group names such as
    ``undisclosed-recipients:;``) are skipped; each address appears once, where first seen,
    with the first non-empty name given for it.
    """
    found: dict[str, str] = {}
    for name, raw in _mailboxes(values):
        addr = normalize_address(raw)
        if addr is None:
            continue
        if not found.get(addr):
            found[addr] = decode_words(name) if name else ""
    return [(name, addr) for addr, name in found.items()]


def address_domain(addr: str) -> str:
    """The domain of a normalised address."""
    return addr.rpartition("@")[2]


# --- message ids ---------------------------------------------------------------------------

MAX_MESSAGE_ID_LENGTH = 998
_BRACKETED = re.compile(r"<([^<>]*)>")
_BAD_ID_CHAR = re.compile(r"[\s<>\x00-\x1f\x7f]")


def _clean_id(token: str) -> str | None:
    token = token.strip().lower()
    if not token or len(token) > MAX_MESSAGE_ID_LENGTH:
        return None
    if token.isascii():
        # The same test without the regex, whose Unicode \s costs a µs per id: in ASCII, the
        # non-printables are exactly \x00-\x1f and \x7f, and the only other white space is " ".
        bad = not token.isprintable() or " " in token or "<" in token or ">" in token
    else:
        bad = _BAD_ID_CHAR.search(token) is not None
    return None if bad else token


def normalize_message_id(value: str | None) -> str | None:
    """The first message id in a header value, lowercased and without brackets, or None."""
    if not value:
        return None
    m = _BRACKETED.search(value)
    if m is not None:
        return _clean_id(m.group(1))
    return _clean_id(value.strip().strip("<>"))


MAX_REFERENCES = 21


def parse_references(value: str | None) -> tuple[str, ...]:
    """Message ids of a References header, in order, de-duplicated.

    Keeps the first id (the thread root) and the last 20 (the nearest ancestors); headers
    with thousands of ids exist and nothing downstream needs the middle.
    """
    if not value:
        return ()
    tokens: Iterable[str] = (
        _BRACKETED.findall(value) if "<" in value else (t.strip("<>") for t in value.split())
    )
    ids: dict[str, None] = {}
    for token in tokens:
        mid = _clean_id(token)
        if mid is not None:
            ids[mid] = None
    result = tuple(ids)
    if len(result) > MAX_REFERENCES:
        return (result[0], *result[-(MAX_REFERENCES - 1) :])
    return result


# --- dates ---------------------------------------------------------------------------------

MIN_YEAR = 1970
MAX_YEAR = 2100
_ISO_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,]\d+)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE | re.ASCII,
)
_COMMENT = re.compile(r"\([^()]*\)")
_SPACED_COLON = re.compile(r"[ \t]*:[ \t]*")
_SPACED_COMMA = re.compile(r"[ \t]*,[ \t]*")
_MAX_DATE_LENGTH = 200


def _build_datetime(
    year: int, month: int, day: int, hour: int, minute: int, second: int, offset: int
) -> datetime | None:
    # Every field is range-checked first, so the constructors below cannot raise.
    if not (MIN_YEAR <= year <= MAX_YEAR and 1 <= month <= 12):
        return None
    if not 1 <= day <= (28 if day <= 28 else calendar.monthrange(year, month)[1]):
        return None
    if not (0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second <= 60):
        return None
    if not -86400 < offset < 86400:
        offset = 0  # a nonsense zone is a broken clock setting, not a reason to lose the date
    # The wall time less its zone offset is the UTC instant: the same as building the local
    # time and calling astimezone(UTC), without a timezone object per message.
    utc = datetime(year, month, day, hour, minute, second if second < 60 else 59, tzinfo=UTC)
    if offset:
        utc -= _offset(offset)
    return utc if MIN_YEAR <= utc.year <= MAX_YEAR else None


@lru_cache(maxsize=256)  # mail comes from a handful of time zones
def _offset(seconds: int) -> timedelta:
    return timedelta(seconds=seconds)


# The form nearly every mail program writes: "Tue, 3 Mar 2026 09:15:00 +0100". Read with
# one regex; anything else goes to parsedate_tz (pure Python, a tenth of classifying). A
# property test holds the two to the same answer.
_CANONICAL_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) "
    r"(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})",
    re.ASCII,
)
_MONTH_NUMBER = {
    name: i
    for i, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def _parse_canonical(m: re.Match[str]) -> datetime | None:
    day, mon, year, hour, minute, second, sign, off_h, off_m = m.groups()
    offset = int(off_h) * 3600 + int(off_m) * 60
    return _build_datetime(
        int(year),
        _MONTH_NUMBER[mon],
        int(day),
        int(hour),
        int(minute),
        int(second),
        -offset if sign == "-" else offset,
    )


def _parse_rfc5322(text: str) -> datetime | None:
    m = _CANONICAL_DATE.fullmatch(text.strip())
    if m is not None:
        return _parse_canonical(m)
    return _parse_rfc5322_slow(text)


def _parse_rfc5322_slow(text: str) -> datetime | None:
    parts = parsedate_tz(text)
    if parts is None:
        return None
    year, month, day, hour, minute, second = (int(p) for p in parts[:6])
    # A missing or "-0000" zone means "unknown": RFC 5322 says read it as UTC.
    return _build_datetime(year, month, day, hour, minute, second, int(parts[9] or 0))


def _parse_iso(text: str) -> datetime | None:
    m = _ISO_DATE.search(text)
    if m is None:
        return None
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    zone = (m.group(7) or "Z").upper()
    offset = 0
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + int(digits[2:]) * 60
        offset = -offset if zone[0] == "-" else offset
    return _build_datetime(year, month, day, hour, minute, second, offset)


def _bare(text: str) -> str:
    """A date without its comments, which are whitespace (RFC 5322 CFWS), and without the
    whitespace that may surround the "," after the weekday and the ":" of the time:
    "Fri (Friday), 13 Nov 2026 09(x):55 +0100" is "Fri, 13 Nov 2026 09:55 +0100"."""
    return _SPACED_COMMA.sub(", ", _SPACED_COLON.sub(":", _COMMENT.sub(" ", text)))


def parse_date(value: str | None) -> datetime | None:
    """An RFC 5322 Date header value as an aware UTC datetime, or None when unusable.

    Tolerates the usual damage (comments, missing zone, ISO 8601 written by scripts); dates
    outside 1970..2100 are taken as wrong clocks and give None.
    """
    if not value:
        return None
    text = value[:_MAX_DATE_LENGTH]
    result = None
    if "(" in text:
        # Comments go first: parsedate_tz takes one glued to the zone, "+0100(CET)", for an
        # unknown zone and would read the time as UTC.
        result = _parse_rfc5322(_bare(text))
    if result is None:
        result = _parse_rfc5322(text)
    if result is None and "(" not in text and (bare := _bare(text)) != text:
        result = _parse_rfc5322(bare)
    if result is None:
        result = _parse_iso(text)
    return result


# --- the owner -----------------------------------------------------------------------------

# Domains anyone can get an address at: sharing one with the owner says nothing about
# being a colleague.
_PUBLIC_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "passport.com",
        "yahoo.com",
        "ymail.com",
        "rocketmail.com",
        "aol.com",
        "aim.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "protonmail.ch",
        "pm.me",
        "fastmail.com",
        "fastmail.fm",
        "web.de",
        "mail.ru",
        "bk.ru",
        "inbox.ru",
        "list.ru",
        "rambler.ru",
        "ya.ru",
        "zoho.com",
        "zohomail.com",
        "mail.com",
        "email.com",
        "tutanota.com",
        "tutanota.de",
        "tuta.io",
        "tuta.com",
        "hey.com",
        "t-online.de",
        "freenet.de",
        "posteo.de",
        "mailbox.org",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "laposte.net",
        "sfr.fr",
        "libero.it",
        "virgilio.it",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "naver.com",
        "daum.net",
        "hanmail.net",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "btinternet.com",
        "sky.com",
        "bluewin.ch",
        "telenet.be",
        "ziggo.nl",
        "hushmail.com",
        "runbox.com",
        "disroot.org",
        "riseup.net",
    }
)
# Brands with an address space in many country domains: gmx.de, yahoo.co.uk, hotmail.fr.
_PUBLIC_BRANDS = frozenset({"gmx", "yandex", "yahoo", "hotmail", "outlook", "live", "aol"})
_COUNTRYISH_SUFFIX = re.compile(r"(?:com|net|org|co|[a-z]{2})(?:\.[a-z]{2})?")


def is_public_mail_domain(domain: str) -> bool:
    """Whether `domain` belongs to a public mail provider rather than an organisation."""
    domain = domain.lower().rstrip(".")
    if domain in _PUBLIC_DOMAINS:
        return True
    brand, _, rest = domain.partition(".")
    return brand in _PUBLIC_BRANDS and _COUNTRYISH_SUFFIX.fullmatch(rest) is not None


def _normalize_domain(domain: str) -> str | None:
    text = domain.strip().lstrip("@").strip(".").lower()
    if not text or _BAD_ADDRESS_CHAR.search(text) or "@" in text:
        return None
    return "gmail.com" if text == "googlemail.com" else text


@dataclass(frozen=True, slots=True)
class OwnerIdentity:
    """Who "the owner" is: their addresses, and the domains that make someone a colleague."""

    name: str
    addresses: frozenset[str]
    domains: frozenset[str]

    def is_owner(self, addr: str) -> bool:
        """Whether a normalised address is one of the owner's."""
        return addr in self.addresses

    def is_internal(self, addr: str) -> bool:
        """Whether a normalised address is at one of the owner's domains or their subdomains."""
        domain = address_domain(addr)
        while domain:
            if domain in self.domains:
                return True
            domain = domain.partition(".")[2]
        return False

    @classmethod
    def from_config(
        cls,
        name: str,
        addresses: Iterable[str],
        aliases: Iterable[str] = (),
        domains: Iterable[str] | None = None,
    ) -> OwnerIdentity:
        """Build from configuration values, normalising them.

        Without `domains`, the owner's own address domains are used, minus public mail
        providers (everyone at gmail.com is not a colleague).
        """
        normalised = frozenset(
            a for a in (normalize_address(x) for x in (*addresses, *aliases)) if a is not None
        )
        if domains is None:
            own = frozenset(
                d for d in map(address_domain, normalised) if not is_public_mail_domain(d)
            )
        else:
            own = frozenset(d for d in (_normalize_domain(x) for x in domains) if d is not None)
        return cls(name=name.strip(), addresses=normalised, domains=own)
