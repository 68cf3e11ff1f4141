"""Google Calendar (API v3) as a calendar source and a hold sink.

One stream per configured calendar (``primary`` by default). Its cursor is ``{"v": 1,
"sync": "<nextSyncToken>"}``.

- **Full sync** (no cursor, ``full``, or a resync): `events.list` with
  ``singleEvents=true`` (series arrive as instances) and ``timeMin`` at the look-back
  window, page after page, until the last page hands out ``nextSyncToken``.
- **Incremental**: `events.list` with the same ``singleEvents`` and the ``syncToken``
  (Google forbids ``timeMin`` beside it); one request when nothing changed. Deleted events
  and instances come back as ``status: cancelled`` with their id only and are reported in
  `Batch.removed`. A token Google refuses (410 ``fullSyncRequired``) raises
  `CursorExpired`, and the core reads the calendar again in full.
- Only the last batch of a poll carries the new token; earlier ones carry the cursor the
  poll started from, so a crash replays the poll (storing is idempotent).

Holds syncd made (they carry its private key) are not read back as events. Each event
becomes a `RawEvent` with its attendees' response status (``self`` marks the
owner's own entry, and so the owner's own answer), organizer, transparency and status;
all-day events start at midnight in the calendar's time zone.

Holds (`calendar.events.owned`): `events.insert` with ``sendUpdates=none``, no attendees,
``status: tentative``, the key in ``extendedProperties.private.syncKey`` and an event id
derived from the key (base32hex). `find_hold` looks the key up with
``privateExtendedProperty=syncKey=<key>``; an insert whose answer was lost and that is
retried gets 409 ``duplicate``, which means "made already". The fingerprint is the
hold's start, end (UTC) and summary, as for the .ics and CalDAV holds. `busy` asks
`freebusy.query` (``calendar.freebusy``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.base import (
    Attendee,
    Batch,
    Created,
    CursorExpired,
    EventStatus,
    HoldSpec,
    ObjectState,
    RawEvent,
    Response,
    SourceUnavailable,
    StreamInfo,
)
from connectors.google_auth import CALENDAR_FREEBUSY, CALENDAR_OWNED, CALENDAR_READ
from connectors.google_http import ApiStatus, GoogleApi

logger = logging.getLogger(__name__)

CURSOR_VERSION = 1
KEY_PROPERTY = "syncKey"
_RESPONSES: dict[str, Response] = {
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentative",
    "needsAction": "needs_action",
}
_STATUSES: dict[str, EventStatus] = {
    "confirmed": "confirmed",
    "tentative": "tentative",
    "cancelled": "cancelled",
}


@dataclass(frozen=True)
class GoogleCalendarSettings:
    calendar_id: str = "primary"
    lookback: timedelta = timedelta(days=365)
    page_size: int = 2500  # events per page (Google's maximum)
    items: int = 500  # events per yielded Batch


def hold_event_id(key: str) -> str:
    """The Google event id of the hold made for `key` (base32hex, as Google requires)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return base64.b32hexencode(digest).decode("ascii").rstrip("=").lower()


def load_cursor(cursor: str) -> str:
    try:
        doc = json.loads(cursor)
        if not isinstance(doc, dict) or doc.get("v") != CURSOR_VERSION or not doc.get("sync"):
            raise ValueError("unknown version")
        return str(doc["sync"])
    except (ValueError, TypeError) as exc:
        raise CursorExpired(f"unreadable Google Calendar cursor: {exc}") from None


def dump_cursor(token: str) -> str:
    return json.dumps({"v": CURSOR_VERSION, "sync": token}, separators=(",", ":"))


class GoogleCalendarSource:
    """A calendar `Source` and `HoldSink` over one Google calendar."""

    def __init__(self, api: GoogleApi, settings: GoogleCalendarSettings | None = None) -> None:
        self.api = api
        self.settings = settings or GoogleCalendarSettings()

    @property
    def _events(self) -> Any:
        return self.api.service("calendar").events()

    # ------------------------------------------------------------------ Source

    def streams(self) -> list[StreamInfo]:
        return [StreamInfo(name=self.settings.calendar_id, kind="calendar")]

    def poll(
        self, stream: StreamInfo, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Batch]:
        self.api.require(CALENDAR_READ, "reading the calendar")
        params: dict[str, Any] = {
            "calendarId": self.settings.calendar_id,
            "singleEvents": True,
            "maxResults": self.settings.page_size,
        }
        incremental = cursor is not None and not full
        if incremental:
            assert cursor is not None
            params["syncToken"] = load_cursor(cursor)
        else:
            params["timeMin"] = _rfc3339(now - self.settings.lookback)
        items: list[RawEvent] = []
        removed: list[str] = []
        read = 0
        page: str | None = None
        while True:
            doc = self._list(params, page, incremental)
            zone = _zone(doc.get("timeZone"))
            for event in doc.get("items", []):
                read += 1
                if event.get("status") == "cancelled":
                    if incremental:
                        removed.append(str(event["id"]))
                    continue
                if KEY_PROPERTY in event.get("extendedProperties", {}).get("private", {}):
                    continue  # our own hold, read back: not an interaction
                parsed = parse_event(event, stream.name, zone)
                if parsed is not None:
                    items.append(parsed)
            page = doc.get("nextPageToken")
            if not page:
                token = doc.get("nextSyncToken")
                if not token:
                    raise SourceUnavailable("Google Calendar: the last page has no nextSyncToken")
                yield Batch(items, dump_cursor(str(token)), removed, read, done=True)
                return
            if len(items) + len(removed) >= self.settings.items:
                yield Batch(items, cursor, removed, read)
                items, removed, read = [], [], 0

    def _list(self, params: dict[str, Any], page: str | None, incremental: bool) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self.api.execute(
                lambda: self._events.list(**params, pageToken=page),
                "Google Calendar events.list",
                handles=(410,) if incremental else (),
            )
        except ApiStatus as exc:
            raise CursorExpired(
                f"Google Calendar refused the sync token ({exc.reason}: {exc.message});"
                " a full sync follows"
            ) from None
        return result

    # ------------------------------------------------------------------ HoldSink

    def find_hold(self, key: str) -> Created | None:
        found = self._find(key)
        return None if found is None else Created(ref=found["id"], fingerprint=_fingerprint(found))

    def _find(self, key: str) -> dict[str, Any] | None:
        self.api.require(CALENDAR_OWNED, "calendar holds")
        doc = self.api.execute(
            lambda: self._events.list(
                calendarId=self.settings.calendar_id,
                privateExtendedProperty=f"{KEY_PROPERTY}={key}",
                showDeleted=False,
                maxResults=10,
            ),
            "Google Calendar events.list (hold lookup)",
        )
        for event in doc.get("items", []):
            if event.get("status") != "cancelled":
                found: dict[str, Any] = event
                return found
        return None

    def create_hold(self, spec: HoldSpec) -> Created:
        existing = self.find_hold(spec.key)
        if existing is not None:
            logger.debug("gcal.hold.exists", extra={"key": spec.key, "ref": existing.ref})
            return existing
        event_id = hold_event_id(spec.key)
        body = {
            "id": event_id,
            "summary": spec.summary,
            "description": spec.description,
            "start": {"dateTime": spec.start.isoformat(), "timeZone": spec.timezone},
            "end": {"dateTime": spec.end.isoformat(), "timeZone": spec.timezone},
            "status": "tentative",
            "transparency": "opaque",
            "extendedProperties": {"private": {KEY_PROPERTY: spec.key}},
            "reminders": {"useDefault": False},
        }
        try:
            made: dict[str, Any] = self.api.execute(
                lambda: self._events.insert(
                    calendarId=self.settings.calendar_id, body=body, sendUpdates="none"
                ),
                "Google Calendar events.insert",
                handles=(409,),
            )
        except ApiStatus:  # made by an attempt whose answer was lost
            made = self.api.execute(
                lambda: self._events.get(calendarId=self.settings.calendar_id, eventId=event_id),
                "Google Calendar events.get",
            )
        logger.info("gcal.hold.created", extra={"key": spec.key, "ref": event_id})
        return Created(ref=str(made["id"]), fingerprint=_fingerprint(made))

    def hold_state(self, key: str, fingerprint: str) -> ObjectState:
        found = self._find(key)
        if found is None:
            return "gone"
        return "untouched" if _fingerprint(found) == fingerprint else "changed"

    def remove_hold(self, key: str, fingerprint: str) -> bool:
        found = self._find(key)
        if found is None or _fingerprint(found) != fingerprint:
            return False
        # 404 or 410: deleted already (a retried delete whose first answer was lost).
        with contextlib.suppress(ApiStatus):
            self.api.execute(
                lambda: self._events.delete(
                    calendarId=self.settings.calendar_id, eventId=found["id"], sendUpdates="none"
                ),
                "Google Calendar events.delete",
                handles=(404, 410),
            )
        return True

    def busy(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("busy(): start and end must be timezone-aware")
        if end <= start:
            return []
        self.api.require(CALENDAR_FREEBUSY, "free/busy time for holds")
        cal = self.settings.calendar_id
        body = {"timeMin": _rfc3339(start), "timeMax": _rfc3339(end), "items": [{"id": cal}]}
        doc = self.api.execute(
            lambda: self.api.service("calendar").freebusy().query(body=body),
            "Google Calendar freeBusy",
        )
        entry = doc.get("calendars", {}).get(cal, {})
        if entry.get("errors"):
            reason = entry["errors"][0].get("reason", "?")
            raise SourceUnavailable(f"Google Calendar freeBusy: calendar {cal!r}: {reason}")
        return [
            (_parse_dt(b["start"]).astimezone(UTC), _parse_dt(b["end"]).astimezone(UTC))
            for b in entry.get("busy", [])
        ]

    def close(self) -> None:
        self.api.close()


# ----------------------------------------------------------------------------- parsing


def parse_event(
    doc: dict[str, Any], calendar: str, zone: ZoneInfo | None = None
) -> RawEvent | None:
    """An `events.list` item as a RawEvent; None for one without usable times."""
    zone = zone or ZoneInfo("UTC")
    try:
        start, all_day = _when(doc["start"], zone)
        end, _ = _when(doc["end"], zone)
    except (KeyError, ValueError):
        logger.warning("gcal.event.skipped", extra={"id": doc.get("id"), "reason": "no times"})
        return None
    original = doc.get("originalStartTime")
    recurrence_id = None
    if doc.get("recurringEventId") and original:
        try:
            recurrence_id = _when(original, zone)[0].astimezone(UTC)
        except (KeyError, ValueError):
            recurrence_id = None
    organizer = (doc.get("organizer") or {}).get("email")
    attendees = tuple(
        Attendee(
            email=str(a["email"]).lower(),
            name=a.get("displayName"),
            response=_RESPONSES.get(str(a.get("responseStatus")), "needs_action"),
            is_organizer=bool(a.get("organizer")),
            is_self=bool(a.get("self")),
            is_resource=bool(a.get("resource")),
        )
        for a in doc.get("attendees", ())
        if a.get("email")
    )
    return RawEvent(
        provider_id=str(doc["id"]),
        uid=str(doc.get("iCalUID") or doc["id"]),
        start=start,
        end=end,
        calendar=calendar,
        recurrence_id=recurrence_id,
        all_day=all_day,
        summary=doc.get("summary"),
        status=_STATUSES.get(str(doc.get("status", "confirmed")), "confirmed"),
        transparent=doc.get("transparency") == "transparent",
        organizer=str(organizer).lower() if organizer else None,
        attendees=attendees,
        event_type=str(doc.get("eventType") or "default"),
    )


def _when(value: dict[str, Any], zone: ZoneInfo) -> tuple[datetime, bool]:
    if "dateTime" in value:
        return _parse_dt(value["dateTime"]), False
    day = date.fromisoformat(value["date"])
    return datetime.combine(day, time(0, 0), zone), True


def _parse_dt(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return value


def _zone(name: Any) -> ZoneInfo | None:
    try:
        return ZoneInfo(str(name)) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fingerprint(event: dict[str, Any]) -> str:
    """sha256 over start|end|summary (UTC), as `connectors.ics_holds.hold_fingerprint`."""
    try:
        start = _parse_dt(event["start"]["dateTime"]).astimezone(UTC).isoformat()
        end = _parse_dt(event["end"]["dateTime"]).astimezone(UTC).isoformat()
    except (KeyError, ValueError):
        start = json.dumps(event.get("start"), sort_keys=True)
        end = json.dumps(event.get("end"), sort_keys=True)
    parts = [start, end, str(event.get("summary") or "")]
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()


__all__ = [
    "GoogleCalendarSettings",
    "GoogleCalendarSource",
    "dump_cursor",
    "hold_event_id",
    "load_cursor",
    "parse_event",
]
