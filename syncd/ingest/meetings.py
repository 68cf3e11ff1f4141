"""When an event is a meeting: a pure decision over one event instance, with reasons.

A meeting is an interaction when it is not cancelled, the owner attends (organises it, or
accepted or tentatively accepted it), and at least one other person (not a room or other
resource, not someone who declined) attends. Whether it has *ended* is a question of the
clock, asked by the queries (`ends_at <= now`), so an upcoming meeting can be stored now and
count once it is over. The key (UID and instance start) makes the same meeting in two
calendars one interaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from connectors.base import RawEvent
from syncd.ingest.addresses import OwnerIdentity, decode_words, normalize_address

ATTENDING = ("accepted", "tentative")


@dataclass(frozen=True)
class MeetingParty:
    address: str
    name: str | None
    role: str  # organizer | attendee
    response: str | None
    is_counterpart: bool


@dataclass(frozen=True)
class Meeting:
    key: str
    start: datetime
    end: datetime
    is_meeting: bool
    reasons: tuple[str, ...]
    attendees: tuple[MeetingParty, ...]


def meeting_key(uid: str, recurrence_id: datetime | None) -> str:
    instance = recurrence_id.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") if recurrence_id else ""
    return f"ical:{uid.strip()}|{instance}"


def meeting_from_event(ev: RawEvent, owner: OwnerIdentity) -> Meeting:
    reasons: list[str] = []
    organizer = normalize_address(ev.organizer) if ev.organizer else None
    owner_organizes = organizer is not None and owner.is_owner(organizer)
    owner_response: str | None = None
    parties: dict[str, MeetingParty] = {}
    for a in ev.attendees:
        addr = normalize_address(a.email)
        if addr is None:
            continue
        is_owner = a.is_self or owner.is_owner(addr)
        if is_owner:
            owner_response = a.response
        counterpart = not is_owner and not a.is_resource and a.response != "declined"
        role = "organizer" if a.is_organizer or addr == organizer else "attendee"
        name = decode_words(a.name) if a.name else None
        parties[addr] = MeetingParty(addr, name, role, a.response, counterpart)
    if organizer and organizer not in parties:
        is_owner = owner.is_owner(organizer)
        parties[organizer] = MeetingParty(organizer, None, "organizer", None, not is_owner)

    if ev.status == "cancelled":
        reasons.append("event is cancelled")
    if ev.event_type != "default":
        reasons.append(f"event type {ev.event_type} is not a meeting")
    if owner_organizes:
        reasons.append("the owner organises it")
        attending = owner_response != "declined"
    elif owner_response in ATTENDING:
        reasons.append(f"the owner's response is {owner_response}")
        attending = True
    elif owner_response is not None:
        reasons.append(f"the owner's response is {owner_response}, not attending")
        attending = False
    else:
        reasons.append("the owner is not among the attendees")
        attending = False
    others = [p for p in parties.values() if p.is_counterpart]
    if others:
        reasons.append(f"{len(others)} other attendee(s)")
    else:
        reasons.append("no other attendee")
    is_meeting = (
        ev.status != "cancelled" and ev.event_type == "default" and attending and bool(others)
    )
    if not is_meeting:
        parties = {
            k: MeetingParty(p.address, p.name, p.role, p.response, False)
            for k, p in parties.items()
        }
    return Meeting(
        key=meeting_key(ev.uid, ev.recurrence_id),
        start=ev.start,
        end=ev.end,
        is_meeting=is_meeting,
        reasons=tuple(reasons),
        attendees=tuple(parties.values()),
    )
