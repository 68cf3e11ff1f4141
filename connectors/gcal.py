"""Google Calendar (API v3) as a calendar source and a hold sink.

One stream per configured calendar (``primary`` by default). Its cursor is ``{"v": 1,
"sync": "<nextSyncToken>", "end": "<timeMax of the full sync, UTC>"}``.

- **Full sync** (no cursor, ``full``, or a resync): `events.list` with
  ``singleEvents=true`` (series arrive as instances), ``timeMin`` at the look-back window
  and ``timeMax`` at ``horizon`` after today plus a month of slack (without it an
  endless series would be expanded without end), page after page, until the last page
  hands out ``nextSyncToken``. When ``now + horizon`` passes the stored ``end``, the poll
  first finishes an incremental round on the old token (its changes and removals) and
  then reads the new window in full: one full read a month. (Google does not say whether
  a sync token reports changes outside the window of its full sync; either way is fine.)
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
retried gets 409 ``duplicate``, which means "made already", unless the event with that id
is cancelled (deleted: Google keeps deleted ids): then it is restored with `events.update`
(status tentative, the hold as specified now), or, should Google refuse to update it, made
anew under a second id derived from the key.

Reconciliation (`connectors.base.Reconcilable`): `recent_ids` lists the events from
``since`` to the window's end (the ids `poll` yields), `fetch` reads each with
`events.get`, `baseline` is a full read's token. The fingerprint is the
hold's start, end (UTC) and summary, as for the .ics and CalDAV holds. `busy` asks
`freebusy.query` (``calendar.freebusy``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
from collections.abc import Collection, Iterator
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
    SourceInvalid,
    SourceUnavailable,
    StreamInfo,
    object_state,
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
    horizon: timedelta = timedelta(days=90)  # how far ahead events are read
    slack: timedelta = timedelta(days=30)  # how far the window reaches past the horizon
    page_size: int = 2500  # events per page (Google's maximum)
    items: int = 500  # events per yielded Batch


def hold_event_id(key: str) -> str:
    """The Google event id of the hold made for `key` (base32hex, as Google requires)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return base64.b32hexencode(digest).decode("ascii").rstrip("=").lower()


@dataclass(frozen=True, slots=True)
class GcalCursor:
    sync: str
    end: datetime | None = None  # the full sync's timeMax (None: a cursor from before it)

    def dump(self) -> str:
        doc: dict[str, Any] = {"v": CURSOR_VERSION, "sync": self.sync}
        if self.end is not None:
            doc["end"] = _rfc3339(self.end)
        return json.dumps(doc, separators=(",", ":"))


def load_cursor(cursor: str) -> GcalCursor:
    try:
        doc = json.loads(cursor)
        if not isinstance(doc, dict) or doc.get("v") != CURSOR_VERSION or not doc.get("sync"):
            raise ValueError("unknown version")
        end = _parse_dt(str(doc["end"])) if doc.get("end") else None
        return GcalCursor(str(doc["sync"]), end)
    except (ValueError, TypeError) as exc:
        raise CursorExpired(f"unreadable Google Calendar cursor: {exc}") from None


def dump_cursor(token: str, end: datetime | None = None) -> str:
    return GcalCursor(token, end).dump()


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
        if cursor is not None and not full:
            state = load_cursor(cursor)
            if state.end is None or now + self.settings.horizon <= state.end:
                yield from self._round(stream, cursor, state, None, last=True)
                return
            # The window must move: the old token's changes first, then the new window.
            yield from self._round(stream, cursor, state, None, last=False)
        start, end = self._window(now)
        yield from self._round(stream, cursor, None, (start, end), last=True)

    def _window(self, now: datetime) -> tuple[datetime, datetime]:
        s = self.settings
        day = datetime.combine(now.astimezone(UTC).date(), time(0, 0), UTC)
        return now - s.lookback, day + s.horizon + s.slack

    def _params(self) -> dict[str, Any]:
        return {
            "calendarId": self.settings.calendar_id,
            "singleEvents": True,
            "maxResults": self.settings.page_size,
        }

    def _round(
        self,
        stream: StreamInfo,
        cursor: str | None,
        state: GcalCursor | None,
        window: tuple[datetime, datetime] | None,
        *,
        last: bool,
    ) -> Iterator[Batch]:
        """An incremental round on `state`'s token, or a full read of `window`. Batches
        before the last carry `cursor` (a crash replays the poll); the last one carries
        the new token when `last`."""
        params = self._params()
        incremental = state is not None
        if state is not None:
            params["syncToken"] = state.sync
            end = state.end
        else:
            assert window is not None
            params["timeMin"], params["timeMax"] = _rfc3339(window[0]), _rfc3339(window[1])
            end = window[1]
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
                parsed = _yielded(event, stream.name, zone)
                if parsed is not None:
                    items.append(parsed)
            page = doc.get("nextPageToken")
            if not page:
                token = doc.get("nextSyncToken")
                if not token:
                    raise SourceUnavailable("Google Calendar: the last page has no nextSyncToken")
                after = dump_cursor(str(token), end) if last else cursor
                yield Batch(items, after, removed, read, done=last)
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

    # ------------------------------------------------------------------ Reconcilable

    def recent_ids(
        self, stream: StreamInfo, since: datetime, *, cursor: str | None = None
    ) -> set[str]:
        """The ids `poll` yields of events ending after `since`, up to the window's end."""
        self.api.require(CALENDAR_READ, "reading the calendar")
        params = self._params()
        params["timeMin"] = _rfc3339(since)
        end = load_cursor(cursor).end if cursor is not None else None
        if end is not None:
            params["timeMax"] = _rfc3339(end)
        ids: set[str] = set()
        page: str | None = None
        while True:
            doc = self._list(params, page, False)
            zone = _zone(doc.get("timeZone"))
            for event in doc.get("items", []):
                if event.get("status") != "cancelled":
                    parsed = _yielded(event, stream.name, zone)
                    if parsed is not None:
                        ids.add(parsed.provider_id)
            page = doc.get("nextPageToken")
            if not page:
                return ids

    def fetch(self, stream: StreamInfo, ids: Collection[str]) -> Iterator[Batch]:
        self.api.require(CALENDAR_READ, "reading the calendar")
        items: list[RawEvent] = []
        for event_id in sorted(ids):
            try:
                event: dict[str, Any] = self.api.execute(
                    lambda eid=event_id: self._events.get(  # type: ignore[misc]
                        calendarId=self.settings.calendar_id, eventId=eid
                    ),
                    "Google Calendar events.get",
                    handles=(404, 410),
                )
            except ApiStatus:
                continue  # gone meanwhile
            if event.get("status") != "cancelled":
                parsed = _yielded(event, stream.name, None)
                if parsed is not None:
                    items.append(parsed)
        yield Batch(items, None, (), len(items), done=True)

    def baseline(self, stream: StreamInfo, *, now: datetime) -> str:
        """A full read's token: the events of the window are read and dropped (the window
        is what the reconciliation reads anyway)."""
        last = None
        for batch in self.poll(stream, None, now=now, full=True):
            last = batch.cursor
        assert last is not None
        return last

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
        made = self._insert(spec, hold_event_id(spec.key), again=True)
        logger.info("gcal.hold.created", extra={"key": spec.key, "ref": made["id"]})
        return Created(ref=str(made["id"]), fingerprint=_fingerprint(made))

    def _insert(self, spec: HoldSpec, event_id: str, *, again: bool) -> dict[str, Any]:
        """events.insert under `event_id`; on 409 the event with that id (restored when
        deleted; `again`: made under a second id if Google will not restore it)."""
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
        except ApiStatus:  # made by an attempt whose answer was lost, or deleted since
            made = self._existing(spec, body, again=again)
        return made

    def _existing(self, spec: HoldSpec, body: dict[str, Any], *, again: bool) -> dict[str, Any]:
        """The event a 409 names: itself, or restored when it is cancelled (deleted)."""
        cal = self.settings.calendar_id
        event_id = str(body["id"])
        found: dict[str, Any] = self.api.execute(
            lambda: self._events.get(calendarId=cal, eventId=event_id),
            "Google Calendar events.get",
        )
        if found.get("status") != "cancelled":
            return found
        logger.info("gcal.hold.restored", extra={"key": spec.key, "ref": event_id})
        try:
            restored: dict[str, Any] = self.api.execute(
                lambda: self._events.update(
                    calendarId=cal, eventId=event_id, body=body, sendUpdates="none"
                ),
                "Google Calendar events.update (restoring a deleted hold)",
                handles=(403, 404, 410),
            )
        except ApiStatus as exc:  # Google would not bring it back: a second id of the key
            if not again:
                raise SourceInvalid(
                    f"Google Calendar: the hold {spec.key!r} was deleted twice and cannot be"
                    f" restored ({exc})"
                ) from None
            return self._insert(spec, hold_event_id(spec.key + "#2"), again=False)
        return restored

    def hold_state(self, key: str, fingerprint: str) -> ObjectState:
        found = self._find(key)
        return object_state(_fingerprint(found) if found is not None else None, fingerprint)

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


def _yielded(event: dict[str, Any], calendar: str, zone: ZoneInfo | None) -> RawEvent | None:
    """What `poll` yields of a listed, not cancelled event: None for syncd's own holds
    (they carry its private key) and for events without usable times."""
    if KEY_PROPERTY in event.get("extendedProperties", {}).get("private", {}):
        return None
    return parse_event(event, calendar, zone)


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
    "GcalCursor",
    "GoogleCalendarSettings",
    "GoogleCalendarSource",
    "dump_cursor",
    "hold_event_id",
    "load_cursor",
    "parse_event",
]
