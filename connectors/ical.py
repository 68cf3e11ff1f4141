"""The iCalendar parser: bytes in, `RawEvent`s out, never a file or a socket.

Used by the .ics folder source (`connectors.ics`), `syncd import ics` and the CalDAV
connector. Recurring series are expanded with recurring_ical_events inside a window
``[window_start, window_end]``; every datetime comes out in UTC (all-day events at midnight
UTC of their date, floating times read as UTC). Broken input never stops a parse: an event
with a bad date, an unknown TZID or no UID is skipped, counted in `ParsedIcs.skipped_events`
and logged as ``ics.event.skipped``.

Anyone can put an invitation into the owner's calendar, so expansion is bounded by
`RecurrenceLimits`, and what a parse costs follows the limits, not the rule:

* A series that can recur more than once a day (``FREQ=SECONDLY``, ``MINUTELY``,
  ``HOURLY``, several BYHOUR/BYMINUTE/BYSECOND values, several RRULEs) is refused before
  anything is expanded: it yields no instances (its single modified instances, if any,
  still count), is logged as ``ics.series.refused`` with the reason and counted as skipped.
  What is left yields at most one instance a day, so a window of N days costs at most
  about N instances per series.
* A series yields at most `RecurrenceLimits.per_event` instances (the latest ones in the
  window; ``ics.series.capped``), and all the series of one parse together at most the
  ``budget`` the caller passes (default `RecurrenceLimits.per_calendar`;
  ``ics.calendar.budget_spent``). Events that do not recur are not counted.
* A series the owner was invited to and has not accepted (their PARTSTAT is NEEDS-ACTION,
  DECLINED or absent, and they do not organise it) is not expanded at all
  (``ics.series.unaccepted``): whoever sends an invitation cannot fill the store. When the
  owner accepts, the changed event is read again and expanded. The owner's addresses come
  from the caller (`owner`); without them every series counts as accepted.

Provider ids are ``"{relpath}#{UID}#{recurrence id}"``, where the recurrence id is the
instance's original start in UTC (ISO 8601) for instances of a recurring series and empty
otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import icalendar
import recurring_ical_events
from icalendar.cal.component import Component

from connectors.base import Attendee, EventStatus, RawEvent, Response

logger = logging.getLogger("connectors.ics")

_TIME_PROPS = frozenset(
    {"DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "RRULE", "RDATE", "EXDATE"}
)
_SERIES_PROPS = ("RRULE", "RDATE", "RECURRENCE-ID")
_RESPONSES: dict[str, Response] = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
}
_ACCEPTED = frozenset({"ACCEPTED", "TENTATIVE"})
_STATUSES: dict[str, EventStatus] = {"CANCELLED": "cancelled", "TENTATIVE": "tentative"}
_RESOURCE_CUTYPES = frozenset({"RESOURCE", "ROOM"})
_SUB_DAILY = frozenset({"SECONDLY", "MINUTELY", "HOURLY"})


class IcsFileError(ValueError):
    """A file that cannot be read as iCalendar at all."""


@dataclass(frozen=True, slots=True)
class RecurrenceLimits:
    """How far recurring series are expanded (see the module docstring)."""

    per_event: int = 1000
    per_calendar: int = 20_000

    def __post_init__(self) -> None:
        if self.per_event < 1 or self.per_calendar < 1:
            raise ValueError(f"recurrence limits must be at least 1, got {self}")


DEFAULT_LIMITS = RecurrenceLimits()


@dataclass(frozen=True, slots=True)
class ParsedIcs:
    """The instances of one .ics file inside a window.

    `reaches_past_window` is true when the file holds a recurring series or an event that
    starts after the window end, so a later, wider window may find more in it.
    `expanded` counts the instances of recurring series, for the caller's budget.
    """

    events: list[RawEvent]
    skipped_events: int
    reaches_past_window: bool
    expanded: int = 0


def parse_ics(
    data: bytes,
    *,
    window_start: datetime,
    window_end: datetime,
    calendar: str = "",
    relpath: str = "",
    limits: RecurrenceLimits = DEFAULT_LIMITS,
    owner: frozenset[str] = frozenset(),
    budget: int | None = None,
) -> ParsedIcs:
    """Expand the VEVENTs in `data` inside [window_start, window_end] into `RawEvent`s.

    `owner` holds the owner's addresses (lower case); `budget` is how many instances of
    recurring series this parse may still yield (default `limits.per_calendar`).
    Raises `IcsFileError` when `data` holds no VCALENDAR that can be parsed.
    """
    _require_aware(window_start, "window_start")
    _require_aware(window_end, "window_end")
    window = _Window(
        window_start.astimezone(UTC),
        window_end.astimezone(UTC),
        relpath,
        limits.per_event,
        limits.per_calendar if budget is None else max(0, budget),
    )
    events: list[RawEvent] = []
    seen: set[str] = set()
    skipped = 0
    reaches = False
    for cal in _parse_calendars(data):
        good, bad = _valid_events(cal, relpath)
        skipped += bad
        if not good:
            continue
        in_series = {str(c["UID"]) for c in good if any(p in c for p in _SERIES_PROPS)}
        reaches = reaches or any(_reaches_past(c, window.end) for c in good)
        good, refused = _police(good, owner, relpath)
        skipped += refused
        occurrences, failed = _expand(cal, good, window)
        skipped += failed
        for occurrence in occurrences:
            try:
                event = _to_raw_event(occurrence, in_series, calendar, relpath)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                _log_skipped_event(relpath, occurrence.get("UID"), str(exc))
                skipped += 1
                continue
            if event.provider_id not in seen:
                seen.add(event.provider_id)
                events.append(event)
    events.sort(key=lambda e: (e.start, e.provider_id))
    return ParsedIcs(events, skipped, reaches, window.used)


def _parse_calendars(data: bytes) -> list[Component]:
    text = _decode(data)
    try:
        components = icalendar.Calendar.from_ical(text, multiple=True)
    except Exception as exc:  # the parser's failure modes on arbitrary bytes are open-ended
        raise IcsFileError(str(exc) or type(exc).__name__) from exc
    calendars: list[Component] = [c for c in components if c.name == "VCALENDAR"]
    if not calendars:
        raise IcsFileError("no VCALENDAR in the file")
    return calendars


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _valid_events(cal: Component, relpath: str) -> tuple[list[Component], int]:
    """The VEVENTs of `cal` that can be expanded, and how many were not."""
    good: list[Component] = []
    bad = 0
    for component in cal.subcomponents:
        if component.name != "VEVENT":
            continue
        problem = _event_problem(component)
        if problem is None:
            good.append(component)
        else:
            _log_skipped_event(relpath, component.get("UID"), problem)
            bad += 1
    return good, bad


def _event_problem(component: Component) -> str | None:
    """Why a VEVENT cannot be used, or None when it can."""
    uid = component.get("UID")
    if uid is None or isinstance(uid, list) or not str(uid).strip():
        return "no UID"
    for name, message in component.errors:
        if name in _TIME_PROPS:
            return f"{name}: {message}"
    if component.get("DTSTART") is None:
        return "no DTSTART"
    for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
        prop = component.get(name)
        if prop is None:
            continue
        if isinstance(prop, list):
            return f"several {name}"
        if not isinstance(prop.dt, date):
            return f"{name} is not a date or date-time"
        if _unknown_tzid(prop.params, [prop.dt]):
            return f"{name}: unknown TZID {prop.params['TZID']}"
    for name in ("EXDATE", "RDATE"):
        for prop in _as_list(component.get(name)):
            if _unknown_tzid(prop.params, [value.dt for value in prop.dts]):
                return f"{name}: unknown TZID {prop.params['TZID']}"
    return None


def _unknown_tzid(params: Any, values: Iterable[object]) -> bool:
    """icalendar leaves a time naive when its TZID names no zone it can find."""
    if "TZID" not in params:
        return False
    return any(isinstance(v, datetime) and v.tzinfo is None for v in values)


def _reaches_past(component: Component, window_end: datetime) -> bool:
    if "RRULE" in component or "RDATE" in component:
        return True
    return _to_utc(_date_prop(component, "DTSTART")) > window_end


def _police(
    events: list[Component], owner: frozenset[str], relpath: str
) -> tuple[list[Component], int]:
    """Drop the series masters that must not be expanded; how many were refused."""
    kept: list[Component] = []
    refused = 0
    for event in events:
        if "RRULE" not in event and "RDATE" not in event:
            kept.append(event)
            continue
        uid = str(event["UID"])
        reason = _too_frequent(event)
        if reason is not None:
            logger.warning(
                "ics.series.refused", extra={"path": relpath, "uid": uid, "reason": reason}
            )
            refused += 1
            continue
        response = _owner_response(event, owner)
        if response is not None and response not in _ACCEPTED:
            logger.info(
                "ics.series.unaccepted",
                extra={"path": relpath, "uid": uid, "partstat": response},
            )
            continue
        kept.append(event)
    return kept, refused


def _too_frequent(event: Component) -> str | None:
    """Why a series can recur more than once a day, or None when it cannot."""
    rules = _as_list(event.get("RRULE"))
    if len(rules) > 1:
        return f"{len(rules)} RRULEs: more than one instance a day is not expanded"
    for rule in rules:
        freq = str(_first(rule.get("FREQ")) or "").upper()
        if freq in _SUB_DAILY:
            return f"FREQ={freq}: more than one instance a day is not expanded"
        per_day = 1
        for key in ("BYHOUR", "BYMINUTE", "BYSECOND"):
            per_day *= max(1, len(_as_list(rule.get(key))))
        if per_day > 1:
            return f"{per_day} instances a day (BYHOUR/BYMINUTE/BYSECOND) are not expanded"
    return None


def _owner_response(event: Component, owner: frozenset[str]) -> str | None:
    """The owner's PARTSTAT when the event invites them, None when not invited or organiser."""
    if not owner or _email(event.get("ORGANIZER")) in owner:
        return None
    for prop in _as_list(event.get("ATTENDEE")):
        if _email(prop) in owner:
            params = getattr(prop, "params", {})
            return str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    return None


def _first(value: object) -> object:
    return value[0] if isinstance(value, list) and value else value


@dataclass(slots=True)
class _Window:
    start: datetime
    end: datetime
    relpath: str
    per_event: int
    budget: int
    used: int = 0


def _expand(
    cal: Component, events: list[Component], window: _Window
) -> tuple[list[Component], int]:
    """Occurrences of `events` in the window, and how many events had to be skipped.

    Events that do not recur are expanded together; only when that fails is each UID
    expanded on its own, so one broken event costs its own instances and no others. Each
    recurring series is expanded on its own, within the caps.
    """
    timezones = [c for c in cal.subcomponents if c.name == "VTIMEZONE"]
    by_uid: dict[str, list[Component]] = {}
    for event in events:
        by_uid.setdefault(str(event["UID"]), []).append(event)
    singles = [g for g in by_uid.values() if not any(_recurs(c) for c in g)]
    series = [(uid, g) for uid, g in by_uid.items() if any(_recurs(c) for c in g)]
    occurrences: list[Component] = []
    failed = 0
    try:
        flat = [c for group in singles for c in group]
        occurrences.extend(_between(_with_components(cal, timezones + flat), window))
    except Exception:  # recurring_ical_events raises many types on malformed input
        series = [(str(g[0]["UID"]), g) for g in singles] + series
    for uid, group in series:
        if window.used >= window.budget and any(_recurs(c) for c in group):
            logger.warning(
                "ics.calendar.budget_spent",
                extra={"path": window.relpath, "uid": uid, "budget": window.budget},
            )
            continue
        try:
            found = _between(_with_components(cal, timezones + group), window)
        except Exception as exc:  # as above: skip this series, keep the others
            _log_skipped_event(window.relpath, uid, str(exc) or type(exc).__name__)
            failed += len(group)
            continue
        if any(_recurs(c) for c in group):
            found = _capped(found, uid, window)
        occurrences.extend(found)
    return occurrences, failed


def _recurs(component: Component) -> bool:
    return "RRULE" in component or "RDATE" in component


def _capped(found: list[Component], uid: str, window: _Window) -> list[Component]:
    """The latest instances of one series that fit its cap and the budget left."""
    room = min(window.per_event, window.budget - window.used)
    if len(found) > room:
        logger.warning(
            "ics.series.capped",
            extra={"path": window.relpath, "uid": uid, "instances": len(found), "kept": room},
        )
        found.sort(key=lambda c: _to_utc(_date_prop(c, "DTSTART")))
        found = found[len(found) - room :]
    window.used += len(found)
    return found


def _with_components(cal: Component, components: list[Component]) -> Component:
    copy = cal.copy()
    copy.subcomponents = list(components)
    return copy


def _between(cal: Component, window: _Window) -> list[Component]:
    occurrences: list[Component] = recurring_ical_events.of(cal).between(window.start, window.end)
    return occurrences


def _to_raw_event(
    occurrence: Component, in_series: set[str], calendar: str, relpath: str
) -> RawEvent:
    uid = str(occurrence["UID"])
    raw_start = _date_prop(occurrence, "DTSTART")
    raw_end = _date_prop(occurrence, "DTEND") if "DTEND" in occurrence else raw_start
    start, end = _to_utc(raw_start), _to_utc(raw_end)
    recurrence_id: datetime | None = None
    if uid in in_series and "RECURRENCE-ID" in occurrence:
        recurrence_id = _to_utc(_date_prop(occurrence, "RECURRENCE-ID"))
    organizer = _email(occurrence.get("ORGANIZER"))
    return RawEvent(
        provider_id=f"{relpath}#{uid}#{recurrence_id.isoformat() if recurrence_id else ''}",
        uid=uid,
        start=start,
        end=max(start, end),
        calendar=calendar,
        recurrence_id=recurrence_id,
        all_day=not isinstance(raw_start, datetime),
        summary=_text(occurrence.get("SUMMARY")),
        status=_STATUSES.get((_text(occurrence.get("STATUS")) or "").upper(), "confirmed"),
        transparent=(_text(occurrence.get("TRANSP")) or "").upper() == "TRANSPARENT",
        organizer=organizer,
        attendees=_attendees(occurrence.get("ATTENDEE"), organizer),
    )


def _date_prop(component: Component, name: str) -> date:
    value = getattr(component.get(name), "dt", None)
    if not isinstance(value, date):
        raise ValueError(f"{name} is not a date or date-time")
    return value


def _attendees(value: object, organizer: str | None) -> tuple[Attendee, ...]:
    attendees: list[Attendee] = []
    seen: set[str] = set()
    for prop in _as_list(value):
        email = _email(prop)
        if email is None or email in seen:
            continue
        seen.add(email)
        params = getattr(prop, "params", {})
        name = str(params.get("CN", "")).strip()
        cutype = str(params.get("CUTYPE", "")).upper()
        attendees.append(
            Attendee(
                email=email,
                name=name or None,
                response=_RESPONSES.get(str(params.get("PARTSTAT", "")).upper(), "needs_action"),
                is_organizer=email == organizer,
                is_resource=cutype in _RESOURCE_CUTYPES,
            )
        )
    return tuple(attendees)


def _email(value: object) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    address = str(value).strip()
    if address.lower().startswith("mailto:"):
        address = address[len("mailto:") :]
    return address.strip().lower() or None


def _text(value: object) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _to_utc(value: date) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=UTC)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


def _log_skipped_event(relpath: str, uid: object, reason: str) -> None:
    logger.warning(
        "ics.event.skipped",
        extra={"path": relpath, "uid": None if uid is None else str(uid), "reason": reason},
    )
