"""The classifier's rules: each reads one message's headers and adds what it sees.

`signals(view)` runs every rule over a `View` (the message, read once) and returns the
reasons found per slot plus weak hints; `decide` picks the kind. Kinds, strongest first:
bounce, auto_reply, calendar, spam, then service-specific notification headers (they
outrank the list headers those tools also send), list, then bulk mail (marketing or
newsletter, see docs/classify.md), then notification. Weak hints (a shared role address,
X-Auto-Response-Suppress, a null Return-Path...) make a notification only two together and
only when nothing shows a person's own mail client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from connectors.base import RawMessage
from syncd.ingest.classify_data import SenderData, domain_in
from syncd.ingest.classify_families import Families

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
Slot = Literal[
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
PRIORITY: tuple[tuple[Slot, Kind], ...] = (
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

SCAN = 1000  # only the head of a value is scanned: every signal sits at its start
_SHOWN = 80  # longest header value quoted in a reason

_REPORT_TYPE = re.compile(r"report-type\s*=\s*\"?([a-z0-9-]+)")
_METHOD = re.compile(r"method\s*=\s*\"?([a-z-]+)")
_ANGLE = re.compile(r"<([^<>]*)>")
_BOUNCE_SUBJECT = re.compile(
    r"\s*(undeliverable|undelivered mail|delivery status notification|mail delivery failed"
    r"|returned mail|delivery failure|failure notice"
    r"|unzustellbar|non remis|non recapitabile|no se puede entregar)\b"
)
# Responders' subjects in common languages. A form must open the subject and be closed by
# ":", "]", " - ", " (" or the end: "Out of office next week?" is a person writing.
_AUTO_REPLY_SUBJECT = re.compile(
    r"\s*\[?(automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|automatische antwort"
    r"|out of (?:the )?office(?: auto[- ]?reply)?|abwesenheitsnotiz|abwesend bis [0-9.]+"
    r"|réponse automatique|respuesta automática|risposta automatica|automatisch antwoord"
    r"|afwezigheidsmelding|resposta automática|odpowiedź automatyczna|autosvar|frånvaro"
    r"|automaattinen vastaus|fraværsmelding|automatisk svar)\s*(?:[:\]]|\s[-–]\s|\s\(|$)"
)
_CALENDAR_SUBJECT = re.compile(
    r"\s*(invitation|updated invitation(?: with note)?|accepted|declined"
    r"|tentatively accepted|tentative|canceled event|cancelled event|canceled|cancelled"
    r"|new event|event canceled|updated event|notification|reminder)\s*:"
)
_CALENDAR_LOCAL = re.compile(r"calendar(?:-notification|-server|-invite|-noreply)?")
_BOUNCE_LOCAL = frozenset({"mailer-daemon", "postmaster"})
# Not news@: shops send their promotions from it as often as publications do.
_NEWSLETTER_LOCAL = re.compile(r"(?:newsletters?|digest|weekly)(?:[+-].*)?")
_PROMO_LOCAL = re.compile(r"(?:marketing|offers?|deals?|promos?|promotions?)(?:[+-].*)?")
# Shops' addresses that people answer from too: promotional only in bulk mail.
_PROMO_BULK_LOCAL = re.compile(r"(?:sales?|specials|shop|store)(?:[+-].*)?")
_PUBLICATION_DOMAIN = re.compile(r"(?:newsletters?|digest)\.")
# Subject words of a sales pitch, and of a publication's issue (docs/classify.md).
_PROMO_SUBJECT = re.compile(
    r"\d\s?%|[$€£]\s?\d|\d\s?[$€£]|\b(?:sale|deals?|offers?|discount|coupon|save|free"
    r" shipping|last chance|only today|flash|rabatt|angebote?|sparen|nur heute|tiefpreise?"
    r"|new arrivals|for free|free for)\b"
)
_ISSUE_SUBJECT = re.compile(
    r"\b(?:issue|edition|weekly|daily|digest|newsletter|no\.\s?\d|#\d+|vol\.|this week"
    r"|brief|the morning)\b"
)
# Literals that every alternative of the two patterns above needs (keep them in step): a
# failing search of those tries each alternative at each position, several µs a subject.
_PROMO_HINT = re.compile(
    r"sale|deal|offer|discount|coupon|save|free|last chance|only today|flash|rabatt"
    r"|angebot|sparen|nur heute|tiefpreis|new arrivals"
)
_DIGIT_OR_MONEY = re.compile(r"[\d$€£]")
_ISSUE_HINT = re.compile(
    r"issue|edition|weekly|daily|digest|newsletter|no\.|#|vol\.|this week|brief|the morning"
)
_PERSONAL_CLIENT = re.compile(
    r"apple mail|iphone mail|ipad mail|microsoft outlook|thunderbird|roundcube|k-9 mail"
    r"|ymailnorrin|evolution|mutt|claws|em client|airmail|spark|gmail"
)
_AUTH = re.compile(r"\b(spf|dkim|dmarc|compauth)=([a-z]+)")
_SCL = re.compile(r"\bscl:(-?\d{1,3})\b")
_SCL_VALUE = re.compile(r"-?[0-9]{1,3}")
_CALENDAR_TYPES = ("text/calendar", "application/ics")
_MAILMAN = ("x-mailman-version", "x-beenthere")
_PROVIDER_CATEGORIES = ("CATEGORY_UPDATES", "CATEGORY_SOCIAL", "CATEGORY_FORUMS")
_WORDS = re.compile(r"[a-z]+")
_KEYWORD = re.compile(r"[a-z0-9_-]+")
_LOCAL_PARTS = re.compile(r"[-_.+]")
_VIA = re.compile(r"\bvia\s+\S|\((?:via )?[^()]*\)\s*$")


@dataclass(slots=True)
class View:
    """What the rules read, computed once per message (not frozen: its __init__ is hot)."""

    headers: dict[str, list[str]]
    msg: RawMessage
    subject: str  # decoded, lowercased
    mime_type: str
    content_type: str  # lowercased, capped
    from_local: str  # "" when the From is the owner's: owner aliases like info@ are no signal
    from_domain: str
    from_address: str | None
    from_name: str  # lowercased display name
    sender_address: str | None
    sender_name: str
    reply_to: str | None
    labels: frozenset[str]
    data: SenderData
    families: Families
    lowered: dict[str, str]

    def first(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    def first_lower(self, name: str) -> str:
        values = self.headers.get(name)  # most asked-for headers are absent: no cache then
        if not values:
            return ""
        found = self.lowered.get(name)
        if found is None:
            found = self.lowered[name] = values[0][:SCAN].strip().lower()
        return found


def shown(value: str) -> str:
    text = " ".join(value[: _SHOWN * 2].split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _token(value: str) -> str:
    """The keyword a lowercased value opens with: ``auto-replied; x=y``, ``auto-replied (z``."""
    m = _KEYWORD.match(value) if value else None  # mostly absent: no regex then
    return m.group(0) if m else ""


@dataclass(slots=True)
class Signals:
    """Reasons found for each slot, and weak hints that only count together."""

    strong: dict[Slot, list[str]] = field(default_factory=dict)
    weak: list[str] = field(default_factory=list)
    personal: list[str] = field(default_factory=list)
    # Slots with evidence the owner's history cannot overturn (headers only machines write);
    # the others rest on what the sender looks like (a service's domain, an ESP, a label).
    firm: set[Slot] = field(default_factory=set)

    def add(self, slot: Slot, reason: str, *, soft: bool = False) -> None:
        self.strong.setdefault(slot, []).append(reason)
        if not soft:
            self.firm.add(slot)


def _report_type(v: View) -> str | None:
    if v.mime_type != "multipart/report":
        return None
    m = _REPORT_TYPE.search(v.content_type)
    return m.group(1) if m else None


def _bounce(v: View, s: Signals) -> None:
    if _report_type(v) == "delivery-status":
        s.add("bounce", "multipart/report delivery-status (DSN)")
    elif "message/delivery-status" in v.msg.body_hints:
        s.add("bounce", "message/delivery-status part (DSN)")
    if v.from_local in _BOUNCE_LOCAL:
        s.add("bounce", f"From {v.from_local}@")
    if "x-failed-recipients" in v.headers:
        s.add("bounce", "X-Failed-Recipients header present")
    m = _BOUNCE_SUBJECT.match(v.subject)
    if m is not None:
        s.add("bounce", f"bounce subject ({m.group(1)})")


def _auto_reply(v: View, s: Signals) -> None:
    if _token(v.first_lower("auto-submitted")) == "auto-replied":
        s.add("auto_reply", "Auto-Submitted: auto-replied")
    autoreply = v.first_lower("x-autoreply")
    if autoreply and autoreply not in ("no", "false", "0"):
        s.add("auto_reply", "X-Autoreply header present")
    if "x-autorespond" in v.headers:
        s.add("auto_reply", "X-Autorespond header present")
    if "reply" in v.first_lower("x-autogenerated"):
        s.add("auto_reply", "X-AutoGenerated: Reply")
    if v.first_lower("precedence") == "auto_reply":
        s.add("auto_reply", "Precedence: auto_reply")
    if _report_type(v) == "disposition-notification" or (
        "message/disposition-notification" in v.msg.body_hints
    ):
        s.add("auto_reply", "read receipt (disposition-notification)")
    m = _AUTO_REPLY_SUBJECT.match(v.subject)
    if m is not None:
        s.add("auto_reply", f"auto-reply subject ({m.group(1)})")


def _calendar(v: View, s: Signals) -> None:
    strong: list[str] = []
    if v.mime_type in _CALENDAR_TYPES:
        method = _METHOD.search(v.content_type)
        suffix = f", method={method.group(1).upper()}" if method else ""
        strong.append(f"Content-Type {v.mime_type}{suffix}")
    if "calendarmessage" in v.first_lower("content-class"):
        strong.append("Content-Class: calendarmessage")
    hints = v.msg.body_hints  # most bodies hold no calendar: one set operation says so
    hinted = (
        None
        if hints.isdisjoint(_CALENDAR_TYPES)
        else next(t for t in _CALENDAR_TYPES if t in hints)
    )
    subject = _CALENDAR_SUBJECT.match(v.subject)
    sender = _calendar_sender(v) if hinted or subject else None
    if hinted and (v.mime_type != "multipart/mixed" or subject or sender or strong):
        # An invitation carries its calendar as an alternative of the text (Graph marks it
        # without any Content-Type), or comes with an invitation subject or from a calendar
        # service; a person's note with an .ics file attached (multipart/mixed) does not.
        strong.append(f"{hinted} part in the body")
    for reason in strong:
        s.add("calendar", reason)
    if subject is not None and (strong or sender):
        s.add("calendar", f"invitation subject ({subject.group(1)}:)")
        if sender:
            s.add("calendar", f"calendar service sender ({sender})")
    elif hinted and not strong:
        s.personal.append(f"{hinted} file attached to a note (no invitation signals)")


def _calendar_sender(v: View) -> str | None:
    # Google sends invitations From the organiser with Sender: Google Calendar <calendar-...>,
    # and reminders From calendar-notification@ itself.
    for address, name in ((v.sender_address, v.sender_name), (v.from_address, v.from_name)):
        if address is None:
            continue
        local = address.partition("@")[0]
        if _CALENDAR_LOCAL.fullmatch(local) or name.lower().startswith("google calendar"):
            return address
    return None


def _spam(v: View, s: Signals) -> None:
    if v.families.verdicts:
        _verdicts(v, s)
    if v.msg.folder_role == "junk":
        s.add("spam", "in the Junk folder")
    if "SPAM" in v.labels:
        s.add("spam", "label SPAM")
    brand = v.data.look_alike(v.from_domain) if v.from_local else None
    if brand is not None:
        s.add("spam", f"look-alike sender domain ({v.from_domain} imitates {brand})")
    failed = _auth_failures(v)
    if failed and not _is_list(v):
        s.add("spam", f"authentication failed ({', '.join(failed)})")
    undisclosed = v.first_lower("to").startswith("undisclosed-recipients")
    if undisclosed and _diverted_reply(v):
        s.add("spam", "to undisclosed recipients, replies diverted to another domain")


def _verdicts(v: View, s: Signals) -> None:
    if v.first_lower("x-spam-flag").startswith("yes"):
        s.add("spam", "X-Spam-Flag: YES")
    if v.first_lower("x-spam-status").startswith("yes"):
        s.add("spam", "X-Spam-Status: Yes")
    if v.first_lower("x-spam") in ("yes", "true"):
        s.add("spam", "X-Spam: Yes")
    scl = _scl(v)
    if scl is not None and scl >= 5:
        s.add("spam", f"Exchange spam confidence level {scl}")


def _scl(v: View) -> int | None:
    scl = v.first_lower("x-ms-exchange-organization-scl")
    if _SCL_VALUE.fullmatch(scl):
        return int(scl)
    m = _SCL.search(v.first_lower("x-forefront-antispam-report"))
    return int(m.group(1)) if m else None


def _auth_failures(v: View) -> list[str]:
    """What the receiving server's Authentication-Results say failed: DMARC, or SPF with no
    passing DKIM, or Microsoft's composite authentication."""
    results = v.first_lower("authentication-results")
    if "fail" not in results:
        return []  # the usual case: scanning the whole value was a tenth of classifying
    found = dict(_AUTH.findall(results))
    failed: list[str] = []
    if found.get("dmarc") == "fail":
        failed.append("dmarc=fail")
    if found.get("spf") == "fail" and found.get("dkim") != "pass":
        failed.append("spf=fail")
    if found.get("compauth") == "fail":
        failed.append("compauth=fail")
    return failed


def _diverted_reply(v: View) -> bool:
    return v.reply_to is not None and v.reply_to.partition("@")[2] != v.from_domain


def _platform(v: View, s: Signals) -> None:
    names = v.families.platform
    if "x-github-reason" in v.headers:
        reason = shown(v.headers["x-github-reason"][0])
        s.add("platform", f"X-GitHub-Reason: {reason} (code host notification)")
    elif names:
        s.add("platform", f"{names[0]} header (service notification)")


def _list_id(v: View) -> str | None:
    raw = v.first("list-id")
    if raw is None:
        return None
    m = _ANGLE.search(raw[:SCAN])
    return shown(m.group(1) if m else raw)


def _announce_only(v: View) -> bool:
    # RFC 2369: "List-Post: NO" marks a list nobody can post to, i.e. an announcement list.
    return v.first_lower("list-post").startswith("no")


def _is_list(v: View) -> bool:
    return "list-id" in v.headers or "list-post" in v.headers or "x-mailing-list" in v.headers


def _discussion_list(v: View, s: Signals) -> None:
    list_id = _list_id(v)
    anchored = list_id is not None or "list-post" in v.headers or "mailing-list" in v.headers
    if not (anchored or "x-mailing-list" in v.headers) or _announce_only(v):
        return
    found: list[str] = []
    if "list-post" in v.headers:
        found.append("List-Post header present")
    if v.first_lower("precedence") == "list":
        found.append("Precedence: list")
    if any(name in v.headers for name in _MAILMAN):
        found.append("Mailman headers")
    if v.families.sympa:
        found.append("Sympa headers")
    if "x-google-group-id" in v.headers or "googlegroups" in v.first_lower("mailing-list"):
        found.append("Google Groups headers")
    if "x-mailing-list" in v.headers:
        found.append("X-Mailing-List header present")
    if found:
        if list_id is not None:
            s.add("list", f"List-Id header present ({list_id})")
        for reason in found:
            s.add("list", reason)


def _bulk(v: View) -> list[str]:
    """Signs of a mass mailing, whatever its content."""
    found: list[str] = []
    if "list-unsubscribe" in v.headers:
        found.append("List-Unsubscribe header present")
    if "one-click" in v.first_lower("list-unsubscribe-post"):
        found.append("one-click unsubscribe (RFC 8058)")
    return found


def _promotion(v: View) -> list[str]:
    reasons: list[str] = []
    if "CATEGORY_PROMOTIONS" in v.labels:
        reasons.append("label CATEGORY_PROMOTIONS")
    if _PROMO_LOCAL.fullmatch(v.from_local) or _PROMO_BULK_LOCAL.fullmatch(v.from_local):
        reasons.append(f"promotional sender address ({v.from_local}@)")
    if v.families.commerce:
        reasons.append("shop marketing tool headers")
    hinted = _DIGIT_OR_MONEY.search(v.subject) or _PROMO_HINT.search(v.subject)
    m = _PROMO_SUBJECT.search(v.subject) if hinted else None
    if m is not None:
        reasons.append(f"sales subject ({m.group(0).strip()})")
    return reasons


def _publication(v: View) -> list[str]:
    reasons: list[str] = []
    if _announce_only(v):
        reasons.append("announcement-only list (List-Post: NO)")
    elif "list-id" in v.headers and "list-post" not in v.headers:
        reasons.append(f"List-Id without List-Post ({_list_id(v)})")
    if _NEWSLETTER_LOCAL.fullmatch(v.from_local) or _PUBLICATION_DOMAIN.match(v.from_domain):
        reasons.append(f"newsletter sender address ({v.from_local}@{v.from_domain})")
    if v.families.newsletter or domain_in(v.from_domain, v.data.newsletter_domains):
        reasons.append("newsletter platform")
    m = _issue(v.subject) or _issue(v.from_name)
    if m is not None:
        reasons.append(f"publication subject or name ({m.group(0).strip()})")
    return reasons


def _issue(text: str) -> re.Match[str] | None:
    return _ISSUE_SUBJECT.search(text) if _ISSUE_HINT.search(text) else None


def _bulk_kind(v: View, s: Signals, bulk: list[str]) -> None:
    """Bulk mail is marketing when it sells, a newsletter when it is a publication."""
    campaign = v.families.campaign
    is_bulk = (
        bool(bulk)
        or bool(campaign)
        or (v.first_lower("precedence") == "bulk" and bool(v.families.esp))
        or ("list-id" in v.headers and "list-post" not in v.headers)
        or _announce_only(v)
    )
    if not is_bulk and "CATEGORY_PROMOTIONS" not in v.labels:
        if _PROMO_LOCAL.fullmatch(v.from_local):
            s.add("marketing", f"promotional sender address ({v.from_local}@)", soft=True)
        return
    promotion = _promotion(v)
    publication = _publication(v)
    name = (campaign or v.families.esp or ("",))[0]
    why = "List-Id, no List-Post" if "list-id" in v.headers else "Gmail's Promotions"
    why = "an announcement list, List-Post: NO" if _announce_only(v) else why
    reasons = bulk or [f"bulk mail header {name}" if name else f"bulk mail ({why})"]
    if promotion:
        for reason in (*promotion, *reasons):
            s.add("marketing", reason)
    elif publication:
        for reason in (*publication, *reasons):
            s.add("newsletter", reason)
    elif v.from_local and (
        v.data.is_machine_local(v.from_local) or domain_in(v.from_domain, v.data.sending_domains)
    ):
        s.add(
            "notification",
            f"machine sender {v.from_local}@{v.from_domain} with an unsubscribe link",
        )
    else:
        for reason in (*reasons, "bulk mail that is no publication"):
            s.add("marketing", reason)


def _machine_sender(v: View) -> str | None:
    if not v.from_local:
        return None
    return _machine_sender_of(v.data, v.from_local, v.from_domain, v.from_name)


@lru_cache(maxsize=8192)  # a mailbox has few distinct senders; the answer is theirs alone
def _machine_sender_of(data: SenderData, local: str, domain: str, name: str) -> str | None:
    if data.is_machine_local(local):
        return f"no-reply style sender ({local}@)"
    if domain_in(domain, data.sending_domains):
        return f"service sending domain ({domain})"
    if domain_in(domain, data.service_domains) and not _named_person(local, domain, name):
        return f"service domain ({domain})"
    return None


def _named_person(local: str, domain: str, name: str) -> bool:
    """Whether the local part is the person the display name names (jane.doe, "Jane Doe"),
    not the service itself (ebay@ebay.com, "eBay")."""
    if any(len(p) >= 3 and p in name and p not in domain for p in _LOCAL_PARTS.split(local)):
        return True
    return any(len(w) >= 3 and w in local and w not in domain for w in _WORDS.findall(name))


def _notification(v: View, s: Signals) -> None:
    auto = _token(v.first_lower("auto-submitted"))
    if auto and auto not in ("no", "auto-replied"):
        s.add("notification", f"Auto-Submitted: {shown(auto)}")
    machine = _machine_sender(v)
    if machine is not None:
        s.add("notification", machine, soft=machine.startswith("service domain"))
    relayed = _relayed(v) if machine or v.families.esp else None
    if relayed is not None:
        s.add("notification", relayed)
    precedence = v.first_lower("precedence")
    if precedence == "junk" or precedence == "bulk":
        s.add("notification", f"Precedence: {precedence}")
    for label in _PROVIDER_CATEGORIES:
        if label in v.labels:
            s.add("notification", f"label {label}", soft=True)
    if "INFERENCE:OTHER" in v.labels:
        s.add("notification", "Outlook files it under Other (inferenceClassification)", soft=True)
    if v.families.esp:
        s.add("notification", f"bulk mail service header {v.families.esp[0]}", soft=True)
    mailer = v.data.bulk_mailer(v.first_lower("x-mailer"))
    if mailer is not None:
        s.add("notification", f"sent by a mass mailer ({mailer})", soft=True)


def _relayed(v: View) -> str | None:
    """A service writing in a person's name: "X via Docusign", "X (Google Docs)", or a
    Reply-To that leads to someone else than the sender."""
    if _relays_name(v.from_name):
        return f"relays a person ({shown(v.from_name)})"
    if v.reply_to is not None and v.reply_to.partition("@")[2] != v.from_domain:
        return f"relays a person (Reply-To {v.reply_to})"
    return None


@lru_cache(maxsize=8192)  # per sender name, like the machine-sender verdict
def _relays_name(name: str) -> bool:
    return _VIA.search(name) is not None


def _weak(v: View, s: Signals) -> None:
    if v.from_local in v.data.role_local:
        s.weak.append(f"shared role address ({v.from_local}@)")
    suppress = v.first("x-auto-response-suppress")
    if suppress is not None:
        s.weak.append(f"X-Auto-Response-Suppress: {shown(suppress)}")
    if v.first_lower("return-path") == "<>":
        s.weak.append("null Return-Path (<>)")
    if not s.weak or s.strong:
        return  # a personal client only matters against weak hints
    client = v.first_lower("x-mailer") or v.first_lower("user-agent")
    m = _PERSONAL_CLIENT.search(client) or _PERSONAL_CLIENT.search(v.first_lower("message-id"))
    if m is not None:
        s.personal.append(f"written with a personal mail client ({m.group(0)})")


def signals(v: View) -> Signals:
    s = Signals()
    _bounce(v, s)
    _auto_reply(v, s)
    _calendar(v, s)
    _spam(v, s)
    _platform(v, s)
    _discussion_list(v, s)
    _bulk_kind(v, s, _bulk(v))
    _notification(v, s)
    _weak(v, s)
    return s


def decide(s: Signals) -> tuple[Kind, list[str]]:
    """The winning kind, and every reason with the winner's first (`is_soft` says whether
    the owner's history may overturn it)."""
    kind: Kind = "human"
    winner: Slot | None = None
    for slot, slot_kind in PRIORITY:
        if slot in s.strong:
            kind, winner = slot_kind, slot
            break
    else:
        if len(s.weak) >= 2 and not s.personal:
            kind = "notification"
    reasons = list(s.strong.get(winner, ())) if winner is not None else []
    for slot, found in s.strong.items():
        if slot != winner:
            reasons.extend(found)
    if kind == "human" and s.weak:
        reasons.extend(f"{reason} (weak signal, ignored alone)" for reason in s.weak)
    else:
        reasons.extend(s.weak)
    reasons.extend(s.personal)
    return kind, reasons


def is_soft(s: Signals, kind: Kind) -> bool:
    """Whether a noise kind rests only on what the sender looks like, never on headers only
    machines write: then mail from someone the owner writes to is a person after all."""
    if kind in ("human", "bounce", "auto_reply", "calendar", "spam", "list"):
        return False
    return not any(slot in s.firm for slot in s.strong)


def is_templated(s: Signals, kind: Kind) -> bool:
    """Human mail with a hint of automation and no sign of a person's own mail client."""
    return kind == "human" and bool(s.weak) and not s.personal
