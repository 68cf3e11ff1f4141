"""Tell a human conversation from noise, using header fields only.

`classify` is a pure function of one `RawMessage` and the owner's identity. The rules in
`syncd.ingest.classify_rules` look at every signal they know (see API-NOTES §7 and
docs/classify.md) with the sender data of `syncd.ingest.classify_data`; the strongest kind wins,
and `reasons` explain it, so that a surprising result can be understood from the stored
row alone.

It must never raise and stays cheap (it runs over whole backfills), so it reads each header
once into a dict, caps what it scans, and uses no MIME parser beyond address parsing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal, get_args

from connectors.base import RawMessage
from syncd.ingest.addresses import (
    OwnerIdentity,
    decode_words,
    normalize_message_id,
    parse_addresses,
    parse_date,
    parse_references,
)
from syncd.ingest.classify_data import SenderData, default_sender_data
from syncd.ingest.classify_families import families_of
from syncd.ingest.classify_rules import (
    SCAN,
    Kind,
    View,
    decide,
    is_soft,
    is_templated,
    signals,
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

KINDS: tuple[Kind, ...] = get_args(Kind)
Role = Literal["from", "sender", "reply_to", "to", "cc", "bcc"]
Direction = Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class ClassifyOptions:
    max_group_size: int = 10
    senders: SenderData = field(default_factory=default_sender_data)


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
    # For the owner's history (syncd.ingest.owner_history): noise that rests only on the sender's
    # looks, human mail that looks templated, and whether the message would be an
    # interaction with its sender were it human.
    soft: bool = False
    templated: bool = False
    interaction_if_human: bool = False


# --- limits --------------------------------------------------------------------------------

MAX_SUBJECT_LENGTH = 1000
_SUBJECT_RAW = 8 * MAX_SUBJECT_LENGTH
# Addresses past this many characters of one header are ignored: the message is a mass
# mailing long before that, and parsing is pure Python.
_ADDRESS_HEADER_LIMIT = 64 * 1024
_ROLES: tuple[tuple[Role, str], ...] = (
    ("from", "from"),
    ("sender", "sender"),
    ("reply_to", "reply-to"),
    ("to", "to"),
    ("cc", "cc"),
    ("bcc", "bcc"),
)
# Kinds with a person behind them: their sender (or recipients) are counterparts. The others
# come from machines, whatever address they use.
_PERSON_KINDS = frozenset({"human", "list", "auto_reply", "calendar"})
_RECIPIENT_ROLES = frozenset({"to", "cc", "bcc"})


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


def _is_machine(addr: str, data: SenderData) -> bool:
    return data.is_machine_local(addr.partition("@")[0])


def _roles(parties: tuple[Party, ...]) -> tuple[Party | None, Party | None, Party | None]:
    """The first From, Sender and Reply-To party, in one pass."""
    from_party = sender = reply_to = None
    for p in parties:
        role = p.role
        if role == "from":
            if from_party is None:
                from_party = p
        elif role == "sender":
            if sender is None:
                sender = p
        elif role == "reply_to":
            if reply_to is None:
                reply_to = p
        else:
            break  # parties come in _ROLES order: the recipients follow
    return from_party, sender, reply_to


def _direction(
    msg: RawMessage, owner: OwnerIdentity, from_address: str | None, sender: Party | None
) -> tuple[Direction | None, str]:
    if from_address is not None and owner.is_owner(from_address):
        return "out", f"sent by the owner ({from_address})"
    if msg.folder_role == "sent":
        return "out", "in the Sent folder"
    if sender is not None and owner.is_owner(sender.address):
        return "out", f"Sender is the owner ({sender.address}), sent on behalf of From"
    if from_address is not None:
        return "in", f"received from {from_address}"
    return None, "no usable From"


def _counterparts(
    direction: Direction | None,
    owner: OwnerIdentity,
    from_address: str | None,
    from_machine: bool,
    parties: tuple[Party, ...],
    data: SenderData,
) -> tuple[tuple[str, ...], int]:
    """(counterparts, size of the group the message went to, not counting the owner)."""
    owners = owner.addresses
    recipients: dict[str, None] = {}
    for p in parties:
        if p.role in _RECIPIENT_ROLES and p.address not in owners:
            recipients[p.address] = None
    group = dict(recipients)
    if direction == "in" and from_address is not None and not owner.is_owner(from_address):
        group[from_address] = None
    if direction == "out":
        people = tuple(a for a in recipients if not _is_machine(a, data))
    elif direction == "in" and from_address is not None and from_address in group:
        people = () if from_machine else (from_address,)
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
    from_party, sender, reply_to = _roles(parties)
    from_address = from_party.address if from_party is not None else None
    from_is_owner = from_address is not None and owner.is_owner(from_address)
    raw_subject = _first(headers, "subject")
    subject = decode_words(raw_subject[:_SUBJECT_RAW])[:MAX_SUBJECT_LENGTH] if raw_subject else ""
    content_type = (_first(headers, "content-type") or "")[:SCAN].lower()
    data = options.senders
    view = View(
        headers=headers,
        msg=msg,
        subject=subject.lower(),
        mime_type=content_type.partition(";")[0].strip(),
        content_type=content_type,
        from_local="" if from_address is None or from_is_owner else from_address.partition("@")[0],
        from_domain="" if from_address is None else from_address.rpartition("@")[2],
        from_address=from_address,
        from_name=from_party.name.lower() if from_party is not None else "",
        sender_address=sender.address if sender is not None else None,
        sender_name=sender.name if sender is not None else "",
        reply_to=reply_to.address if reply_to is not None else None,
        labels=frozenset(map(str.upper, msg.labels)),
        data=data,
        families=families_of(tuple(headers), data),
        lowered={},
    )
    found = signals(view)
    kind, reasons = decide(found)

    message_id = normalize_message_id(view.first("message-id"))
    in_reply_to = normalize_message_id(view.first("in-reply-to"))
    references = parse_references(view.first("references"))
    if kind == "human":
        reasons.extend(_human_reasons(in_reply_to, references, bool(found.weak)))

    direction, direction_reason = _direction(msg, owner, from_address, sender)
    reasons.append(direction_reason)
    from_machine = from_address is not None and data.is_machine_local(
        from_address.partition("@")[0]
    )
    counterparts, group = _counterparts(direction, owner, from_address, from_machine, parties, data)
    if kind not in _PERSON_KINDS:
        counterparts = ()
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
        soft=is_soft(found, kind),
        templated=is_templated(found, kind),
        interaction_if_human=(
            direction == "in"
            and from_address is not None
            and not from_machine
            and not too_large
            and not draft
        ),
    )
