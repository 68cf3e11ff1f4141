"""Tell a human conversation from noise, using header fields only.

`classify` is a pure function of one `RawMessage` and the owner's identity. It looks at
every signal it knows (see API-NOTES §7), picks the strongest kind, and explains itself in
`reasons`, so that a surprising result can be understood from the stored row alone.

Kinds, strongest first: bounce, auto_reply, calendar, spam, list, marketing, newsletter,
notification, human. One refinement of that order: headers that only issue trackers and
code hosts send (``X-GitHub-Reason``, ``X-Jira-*``...) make a notification even though those
tools also add mailing-list headers.

It must never raise and stays cheap (it runs over whole backfills), so it reads each header
once into a dict, caps what it scans, and uses no MIME parser beyond address parsing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal, get_args

from connectors.base import RawMessage
from syncd.addresses import (
    OwnerIdentity,
    decode_words,
    normalize_message_id,
    parse_addresses,
    parse_date,
    parse_references,
)

__all__ = [
    "KINDS",
    "Classification",
    "ClassifyOptions",
    "Kind",
    "Party",
    "Role",
    "classify",
]

Kind = Literal[
    "human",
    "newsletter",
    "marketing",
    "list",
    "notification",
    "auto_reply",
    "bounce",
    "calendar",
    "spam",
]
KINDS: tuple[Kind, ...] = get_args(Kind)
Role = Literal["from", "sender", "reply_to", "to", "cc", "bcc"]
Direction = Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class ClassifyOptions:
    max_group_size: int = 10


@dataclass(frozen=True, slots=True)
class Party:
    address: str
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class Classification:
    """What one message is, who it is with, and why the classifier thinks so.

    `counterparts` are the normalised addresses of the people on the other side (the From
    of incoming mail, the recipients of outgoing mail), never the owner nor addresses no
    person reads (no-reply and the like). `is_interaction` is true only for human mail with
    a direction, a counterpart, a group no larger than `max_group_size`, that is not a draft.
    `thread_key` is the provider's thread id, else the thread root from References, else
    In-Reply-To, else the message's own id.
    """

    kind: Kind
    is_interaction: bool
    direction: Direction | None
    counterparts: tuple[str, ...]
    reasons: tuple[str, ...]
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str | None
    occurred_at: datetime | None
    parties: tuple[Party, ...]
    thread_key: str | None
    from_address: str | None


# --- limits --------------------------------------------------------------------------------

MAX_SUBJECT_LENGTH = 1000
# Only the head of a value is scanned: every signal we look for sits at its start, and a
# 100 KB header must cost no more than a normal one.
_SCAN = 1000
_SUBJECT_RAW = 8 * MAX_SUBJECT_LENGTH
# Addresses past this many characters of one header are ignored: the message is a mass
# mailing long before that, and parsing is pure Python.
_ADDRESS_HEADER_LIMIT = 64 * 1024
_SHOWN = 80  # longest header value quoted in a reason

# --- patterns ------------------------------------------------------------------------------

_REPORT_TYPE = re.compile(r"report-type\s*=\s*\"?([a-z0-9-]+)")
_METHOD = re.compile(r"method\s*=\s*\"?([a-z-]+)")
_ANGLE = re.compile(r"<([^<>]*)>")

_BOUNCE_SUBJECT = re.compile(
    r"\s*(undeliverable|undelivered mail|delivery status notification|mail delivery failed"
    r"|returned mail|delivery failure|failure notice"
    r"|unzustellbar|non remis|non recapitabile|no se puede entregar)\b"
)
# Anchored at the start and closed by ":" or "]": "Out of office next week?" is a person.
_AUTO_REPLY_SUBJECT = re.compile(
    r"\s*\[?(automatic reply|auto[- ]?reply|autoreply|auto[- ]?response"
    r"|out of (?:the )?office(?: auto[- ]?reply)?"
    r"|abwesenheitsnotiz|automatische antwort|réponse automatique|respuesta automática"
    r"|risposta automatica|automatisch antwoord|autosvar|automaattinen vastaus)\s*[:\]]"
)
_CALENDAR_SUBJECT = re.compile(
    r"\s*(invitation|updated invitation(?: with note)?|accepted|declined"
    r"|tentatively accepted|tentative|canceled event|cancelled event|canceled|cancelled"
    r"|new event|event canceled|updated event)\s*:"
)
# API-NOTES §7: local parts no person reads.
_NO_REPLY_LOCAL = re.compile(
    r"(no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply|mailer-daemon|postmaster|bounces?"
    r"|notifications?|notify|alerts?|newsletter|news|marketing|info|billing|support)([+-].*)?"
)
# Narrower: addresses that can never be a counterpart, even when the owner writes to them.
_MACHINE_LOCAL = re.compile(
    r"(no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply|mailer-daemon|postmaster|bounces?"
    r"|notifications?|notify|alerts?|newsletters?|digest)([+-].*)?"
)
_BOUNCE_LOCAL = frozenset({"mailer-daemon", "postmaster"})
_NEWSLETTER_LOCAL = re.compile(r"(newsletters?|news|digest)([+-].*)?")
_PROMO_LOCAL = re.compile(r"(marketing|offers?|deals?|promos?|promotions?)([+-].*)?")
_PROMO_WEAK_LOCAL = re.compile(r"(sales|specials|shop|store)([+-].*)?")
_CALENDAR_LOCAL = re.compile(r"calendar(-notification|-server|-invite)?")

_CALENDAR_TYPES = ("text/calendar", "application/ics")
_ESP_EXACT = frozenset({"feedback-id", "x-ses-outgoing", "x-sg-eid"})
_ESP_PREFIXES = ("x-mailgun-",)
_CAMPAIGN_PREFIXES = ("x-campaign", "x-mailchimp", "x-mc-user")
_PLATFORM_PREFIXES = ("x-github-reason", "x-jira", "x-atlassian", "x-gitlab-")
_MAILMAN = ("x-mailman-version", "x-beenthere")
_PROVIDER_CATEGORIES = ("CATEGORY_UPDATES", "CATEGORY_SOCIAL", "CATEGORY_FORUMS")
_ROLES: tuple[tuple[Role, str], ...] = (
    ("from", "from"),
    ("sender", "sender"),
    ("reply_to", "reply-to"),
    ("to", "to"),
    ("cc", "cc"),
    ("bcc", "bcc"),
)

# The order in which signals decide the kind. "platform" (code host and issue tracker
# headers) makes a notification, and outranks the list headers those tools also send.
_Slot = Literal[
    "bounce",
    "auto_reply",
    "calendar",
    "spam",
    "platform",
    "list",
    "marketing",
    "newsletter",
    "notification",
]
_PRIORITY: tuple[tuple[_Slot, Kind], ...] = (
    ("bounce", "bounce"),
    ("auto_reply", "auto_reply"),
    ("calendar", "calendar"),
    ("spam", "spam"),
    ("platform", "notification"),
    ("list", "list"),
    ("marketing", "marketing"),
    ("newsletter", "newsletter"),
    ("notification", "notification"),
)


# --- the message, read once ----------------------------------------------------------------


@dataclass(slots=True)
class _View:
    """What the rules read, computed once per message (not frozen: its __init__ is hot)."""

    headers: dict[str, list[str]]
    msg: RawMessage
    subject: str  # decoded, lowercased
    mime_type: str
    content_type: str  # lowercased, capped
    from_local: str  # "" when the From is the owner's: owner aliases like info@ are no signal
    sender: Party | None
    labels: frozenset[str]
    families: _Families

    def first(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    def first_lower(self, name: str) -> str:
        values = self.headers.get(name)
        return values[0][:_SCAN].strip().lower() if values else ""

    def has(self, name: str) -> bool:
        return name in self.headers


def _first(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _header_map(headers: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, value in headers:
        key = name.lower()
        values = result.get(key)
        if values is None:
            result[key] = [value]
        else:
            values.append(value)
    return result


def _shown(value: str) -> str:
    text = " ".join(value[: _SHOWN * 2].split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _names_with(names: tuple[str, ...], prefixes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in names if name.startswith(prefixes))


@dataclass(frozen=True, slots=True)
class _Families:
    """Header names of the families the rules look for, in header order."""

    platform: tuple[str, ...]
    sympa: bool
    esp: tuple[str, ...]
    campaign: tuple[str, ...]


@lru_cache(maxsize=4096)
def _families(names: tuple[str, ...]) -> _Families:
    """Scanning every header name against every family was a tenth of classifying; mail
    from one program carries the same set of names, so the answer is kept per set."""
    return _Families(
        platform=_names_with(names, _PLATFORM_PREFIXES),
        sympa=bool(_names_with(names, ("x-sympa",))),
        esp=tuple(n for n in names if n in _ESP_EXACT or n.startswith(_ESP_PREFIXES)),
        campaign=_names_with(names, _CAMPAIGN_PREFIXES),
    )


def _token(value: str) -> str:
    """The first ``;``-separated token of a lowercased value: ``auto-replied; x=y``."""
    return value.partition(";")[0].strip()


# --- the rules: each adds what it sees to the message's signals ---------------------------


@dataclass(slots=True)
class _Signals:
    """Reasons found for each slot, and weak signals that only count together."""

    strong: dict[_Slot, list[str]] = field(default_factory=dict)
    weak: list[str] = field(default_factory=list)

    def add(self, slot: _Slot, reason: str) -> None:
        self.strong.setdefault(slot, []).append(reason)


def _bounce(v: _View, s: _Signals) -> None:
    report = _REPORT_TYPE.search(v.content_type) if v.mime_type == "multipart/report" else None
    if report is not None and report.group(1) == "delivery-status":
        s.add("bounce", "multipart/report delivery-status (DSN)")
    elif "message/delivery-status" in v.msg.body_hints:
        s.add("bounce", "message/delivery-status part (DSN)")
    if v.from_local in _BOUNCE_LOCAL:
        s.add("bounce", f"From {v.from_local}@")
    if v.has("x-failed-recipients"):
        s.add("bounce", "X-Failed-Recipients header present")
    m = _BOUNCE_SUBJECT.match(v.subject)
    if m is not None:
        s.add("bounce", f"bounce subject ({m.group(1)})")


def _auto_reply(v: _View, s: _Signals) -> None:
    if _token(v.first_lower("auto-submitted")) == "auto-replied":
        s.add("auto_reply", "Auto-Submitted: auto-replied")
    autoreply = v.first_lower("x-autoreply")
    if autoreply and autoreply not in ("no", "false", "0"):
        s.add("auto_reply", "X-Autoreply header present")
    if v.has("x-autorespond"):
        s.add("auto_reply", "X-Autorespond header present")
    if "reply" in v.first_lower("x-autogenerated"):
        s.add("auto_reply", "X-AutoGenerated: Reply")
    if v.first_lower("precedence") == "auto_reply":
        s.add("auto_reply", "Precedence: auto_reply")
    report = _REPORT_TYPE.search(v.content_type) if v.mime_type == "multipart/report" else None
    if (report is not None and report.group(1) == "disposition-notification") or (
        "message/disposition-notification" in v.msg.body_hints
    ):
        s.add("auto_reply", "read receipt (disposition-notification)")
    m = _AUTO_REPLY_SUBJECT.match(v.subject)
    if m is not None:
        s.add("auto_reply", f"auto-reply subject ({m.group(1)})")


def _calendar(v: _View, s: _Signals) -> None:
    strong: list[str] = []
    if v.mime_type in _CALENDAR_TYPES:
        method = _METHOD.search(v.content_type)
        suffix = f", method={method.group(1).upper()}" if method else ""
        strong.append(f"Content-Type {v.mime_type}{suffix}")
    hinted = [t for t in _CALENDAR_TYPES if t in v.msg.body_hints]
    if hinted:
        strong.append(f"{hinted[0]} part in the body")
    if "calendarmessage" in v.first_lower("content-class"):
        strong.append("Content-Class: calendarmessage")
    subject = _CALENDAR_SUBJECT.match(v.subject)
    sender = v.sender.address if v.sender is not None and _is_calendar_sender(v.sender) else None
    for reason in strong:
        s.add("calendar", reason)
    if subject is not None and (strong or sender):
        s.add("calendar", f"invitation subject ({subject.group(1)}:)")
        if sender:
            s.add("calendar", f"calendar Sender ({sender})")


def _is_calendar_sender(sender: Party) -> bool:
    # Google sends invitations From the organiser with Sender: Google Calendar <calendar-...>.
    local = sender.address.partition("@")[0]
    return _CALENDAR_LOCAL.fullmatch(local) is not None or "calendar" in sender.name.lower()


def _spam(v: _View, s: _Signals) -> None:
    if v.first_lower("x-spam-flag").startswith("yes"):
        s.add("spam", "X-Spam-Flag: YES")
    if v.first_lower("x-spam-status").startswith("yes"):
        s.add("spam", "X-Spam-Status: Yes")
    if v.first_lower("x-spam") in ("yes", "true"):
        s.add("spam", "X-Spam: Yes")
    scl = v.first_lower("x-ms-exchange-organization-scl")
    if scl.isascii() and scl.isdigit() and int(scl[:3]) >= 5:
        s.add("spam", f"Exchange spam confidence level {int(scl[:3])}")
    if v.msg.folder_role == "junk":
        s.add("spam", "in the Junk folder")
    if "SPAM" in v.labels:
        s.add("spam", "label SPAM")


def _platform(v: _View, s: _Signals) -> None:
    names = v.families.platform
    if "x-github-reason" in v.headers:
        reason = _shown(v.headers["x-github-reason"][0])
        s.add("platform", f"X-GitHub-Reason: {reason} (code host notification)")
    elif names:
        s.add("platform", f"{names[0]} header (issue tracker notification)")


def _list_id(v: _View) -> str | None:
    raw = v.first("list-id")
    if raw is None:
        return None
    m = _ANGLE.search(raw[:_SCAN])
    return _shown(m.group(1) if m else raw)


def _announce_only(v: _View) -> bool:
    # RFC 2369: "List-Post: NO" marks a list nobody can post to, i.e. an announcement list.
    return v.first_lower("list-post").startswith("no")


def _discussion_list(v: _View, s: _Signals) -> None:
    list_id = _list_id(v)
    anchored = (
        list_id is not None
        or v.has("list-post")
        or v.has("mailing-list")
        or v.has("x-mailing-list")
    )
    if not anchored or _announce_only(v):
        return
    found: list[str] = []
    if v.has("list-post"):
        found.append("List-Post header present")
    if v.first_lower("precedence") == "list":
        found.append("Precedence: list")
    if any(v.has(name) for name in _MAILMAN):
        found.append("Mailman headers")
    if v.families.sympa:
        found.append("Sympa headers")
    if v.has("x-google-group-id") or "googlegroups" in v.first_lower("mailing-list"):
        found.append("Google Groups headers")
    if v.has("x-mailing-list"):
        found.append("X-Mailing-List header present")
    if found:
        if list_id is not None:
            s.add("list", f"List-Id header present ({list_id})")
        for reason in found:
            s.add("list", reason)


def _bulk(v: _View) -> list[str]:
    """Signs of a mass mailing, whatever its content."""
    found: list[str] = []
    if v.has("list-unsubscribe"):
        found.append("List-Unsubscribe header present")
    if "one-click" in v.first_lower("list-unsubscribe-post"):
        found.append("one-click unsubscribe (RFC 8058)")
    return found


def _marketing(v: _View, s: _Signals, bulk: list[str]) -> None:
    esp = v.families.esp
    campaign = v.families.campaign
    precedence_bulk = v.first_lower("precedence") == "bulk"
    reasons: list[str] = []
    if "CATEGORY_PROMOTIONS" in v.labels:
        reasons.append("label CATEGORY_PROMOTIONS")
    if _PROMO_LOCAL.fullmatch(v.from_local):
        reasons.append(f"promotional sender address ({v.from_local}@)")
    elif _PROMO_WEAK_LOCAL.fullmatch(v.from_local) and (esp or campaign or bulk or precedence_bulk):
        reasons.append(f"promotional sender address ({v.from_local}@) sending in bulk")
    if campaign:
        reasons.append(f"campaign header {campaign[0]}")
    if esp and (bulk or reasons):
        reasons.append(f"bulk mail service header {esp[0]}")
    if reasons:
        for reason in reasons:
            s.add("marketing", reason)
        for reason in bulk:
            s.add("marketing", reason)
    elif esp and not bulk:
        # Transactional mail (receipts, password resets) goes through the same services.
        s.weak.append(f"bulk mail service header {esp[0]}")


def _newsletter(v: _View, s: _Signals, bulk: list[str]) -> None:
    reasons = list(bulk)
    if _announce_only(v):
        reasons.append("announcement-only list (List-Post: NO)")
    elif v.has("list-id") and not v.has("list-post"):
        reasons.append(f"List-Id without List-Post ({_list_id(v)})")
    if _NEWSLETTER_LOCAL.fullmatch(v.from_local):
        reasons.append(f"newsletter sender address ({v.from_local}@)")
    if reasons and v.first_lower("precedence") == "bulk":
        reasons.append("Precedence: bulk")
    for reason in reasons:
        s.add("newsletter", reason)


def _notification(v: _View, s: _Signals, bulk: list[str]) -> None:
    auto = _token(v.first_lower("auto-submitted"))
    if auto and auto not in ("no", "auto-replied"):
        s.add("notification", f"Auto-Submitted: {_shown(auto)}")
    if _NO_REPLY_LOCAL.fullmatch(v.from_local):
        s.add("notification", f"no-reply style sender ({v.from_local}@)")
    precedence = v.first_lower("precedence")
    if precedence == "junk" or (precedence == "bulk" and not bulk):
        s.add("notification", f"Precedence: {precedence} without unsubscribe")
    for label in _PROVIDER_CATEGORIES:
        if label in v.labels:
            s.add("notification", f"label {label}")
    suppress = v.first("x-auto-response-suppress")
    if suppress is not None:
        s.weak.append(f"X-Auto-Response-Suppress: {_shown(suppress)}")
    if v.first_lower("return-path") == "<>":
        s.weak.append("null Return-Path (<>)")


def _signals(v: _View) -> _Signals:
    s = _Signals()
    bulk = _bulk(v)
    _bounce(v, s)
    _auto_reply(v, s)
    _calendar(v, s)
    _spam(v, s)
    _platform(v, s)
    _discussion_list(v, s)
    _marketing(v, s, bulk)
    _newsletter(v, s, bulk)
    _notification(v, s, bulk)
    return s


def _decide(s: _Signals) -> tuple[Kind, list[str]]:
    """The winning kind, and every noise reason with the winner's first."""
    kind: Kind = "human"
    winner: _Slot | None = None
    for slot, slot_kind in _PRIORITY:
        if slot in s.strong:
            kind, winner = slot_kind, slot
            break
    else:
        if len(s.weak) >= 2:
            kind = "notification"
    reasons = list(s.strong.get(winner, ())) if winner is not None else []
    for slot, found in s.strong.items():
        if slot != winner:
            reasons.extend(found)
    if kind == "human" and s.weak:
        reasons.extend(f"{reason} (weak signal, ignored alone)" for reason in s.weak)
    else:
        reasons.extend(s.weak)
    return kind, reasons


# --- parties, direction, counterparts ------------------------------------------------------


def _parties(headers: dict[str, list[str]]) -> tuple[Party, ...]:
    parties: list[Party] = []
    for role, name in _ROLES:
        values = headers.get(name)
        if not values:
            continue
        if len(values) == 1:
            parties.extend(_parties_of(values[0][:_ADDRESS_HEADER_LIMIT], role))
            continue
        capped = [value[:_ADDRESS_HEADER_LIMIT] for value in values[:8]]
        parties.extend(Party(addr, display, role) for display, addr in parse_addresses(capped))
    return tuple(parties)


@lru_cache(maxsize=8192)
def _parties_of(value: str, role: Role) -> tuple[Party, ...]:
    """The parties of one address header value. A mailbox repeats the same few values
    (the owner in To, regular correspondents in From) thousands of times, and parsing
    them was a third of classifying; `Party` is immutable, so sharing is safe."""
    return tuple(Party(addr, display, role) for display, addr in parse_addresses([value]))


def _is_machine(addr: str) -> bool:
    return _MACHINE_LOCAL.fullmatch(addr.partition("@")[0]) is not None


def _direction(
    msg: RawMessage, owner: OwnerIdentity, from_address: str | None, parties: tuple[Party, ...]
) -> tuple[Direction | None, str]:
    if from_address is not None and owner.is_owner(from_address):
        return "out", f"sent by the owner ({from_address})"
    if msg.folder_role == "sent":
        return "out", "in the Sent folder"
    sender = next((p.address for p in parties if p.role == "sender"), None)
    if sender is not None and owner.is_owner(sender):
        return "out", f"Sender is the owner ({sender}), sent on behalf of From"
    if from_address is not None:
        return "in", f"received from {from_address}"
    return None, "no usable From"


def _counterparts(
    direction: Direction | None,
    owner: OwnerIdentity,
    from_address: str | None,
    parties: tuple[Party, ...],
) -> tuple[tuple[str, ...], int]:
    """(counterparts, size of the group the message went to, not counting the owner)."""
    recipients = dict.fromkeys(
        p.address
        for p in parties
        if p.role in ("to", "cc", "bcc") and not owner.is_owner(p.address)
    )
    group = dict(recipients)
    if direction == "in" and from_address is not None and not owner.is_owner(from_address):
        group[from_address] = None
    if direction == "out":
        people = tuple(a for a in recipients if not _is_machine(a))
    elif direction == "in" and from_address is not None and from_address in group:
        people = () if _is_machine(from_address) else (from_address,)
    else:
        people = ()
    return people, len(group)


def _human_reasons(in_reply_to: str | None, references: tuple[str, ...], noisy: bool) -> list[str]:
    reasons: list[str] = [] if noisy else ["no bulk or automation headers"]
    if in_reply_to is not None:
        reasons.append("reply to a message (In-Reply-To)")
    elif references:
        reasons.append(f"part of a thread (References: {len(references)})")
    return reasons


def _occurred_at(date_header: str | None, internal: datetime | None) -> datetime | None:
    parsed = parse_date(date_header)
    if parsed is not None:
        return parsed
    # The same sanity range as parse_date; it also keeps astimezone clear of year overflow.
    if internal is None or not 1970 <= internal.year <= 2100:
        return None
    if internal.tzinfo is None or internal.utcoffset() is None:
        return internal.replace(tzinfo=UTC)
    return internal.astimezone(UTC)


# --- the classifier ------------------------------------------------------------------------


def classify(
    msg: RawMessage, owner: OwnerIdentity, options: ClassifyOptions = ClassifyOptions()
) -> Classification:
    """Classify one message from its headers; never raises, whatever the headers hold."""
    headers = _header_map(msg.headers)
    parties = _parties(headers)
    from_address = next((p.address for p in parties if p.role == "from"), None)
    from_is_owner = from_address is not None and owner.is_owner(from_address)
    raw_subject = _first(headers, "subject")
    subject = decode_words(raw_subject[:_SUBJECT_RAW])[:MAX_SUBJECT_LENGTH] if raw_subject else ""
    content_type = (_first(headers, "content-type") or "")[:_SCAN].lower()
    view = _View(
        headers=headers,
        msg=msg,
        subject=subject.lower(),
        mime_type=content_type.partition(";")[0].strip(),
        content_type=content_type,
        from_local="" if from_address is None or from_is_owner else from_address.partition("@")[0],
        sender=next((p for p in parties if p.role == "sender"), None),
        labels=frozenset(label.upper() for label in msg.labels),
        families=_families(tuple(headers)),
    )
    signals = _signals(view)
    kind, reasons = _decide(signals)

    message_id = normalize_message_id(view.first("message-id"))
    in_reply_to = normalize_message_id(view.first("in-reply-to"))
    references = parse_references(view.first("references"))
    if kind == "human":
        reasons.extend(_human_reasons(in_reply_to, references, bool(signals.weak)))

    direction, direction_reason = _direction(msg, owner, from_address, parties)
    reasons.append(direction_reason)
    counterparts, group = _counterparts(direction, owner, from_address, parties)
    too_large = group > options.max_group_size
    if too_large:
        reasons.append(f"group of {group} people > max_group_size ({options.max_group_size})")
    draft = msg.folder_role == "drafts" or "DRAFT" in view.labels
    if draft:
        reasons.append("draft, not sent")
    if kind == "human" and direction is not None and not counterparts:
        reasons.append("no counterpart besides the owner")

    return Classification(
        kind=kind,
        is_interaction=(
            kind == "human"
            and direction is not None
            and bool(counterparts)
            and not too_large
            and not draft
        ),
        direction=direction,
        counterparts=counterparts,
        reasons=tuple(dict.fromkeys(reasons)),
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        subject=subject or None,
        occurred_at=_occurred_at(view.first("date"), msg.internal_date),
        parties=parties,
        thread_key=msg.thread_id
        or (references[0] if references else None)
        or in_reply_to
        or message_id,
        from_address=from_address,
    )
