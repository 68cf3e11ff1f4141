"""An Outlook / Microsoft 365 calendar (Microsoft Graph v1.0) as a calendar source and a
hold sink.

One stream, ``calendar``: the mailbox's default calendar, read with
``GET {mailbox}/calendarView/delta`` over a rolling window from ``lookback`` before now to
``horizon`` after now plus a month of slack. The window is frozen into the delta token,
so the cursor keeps it: ``{"v": 1, "link": <nextLink or deltaLink>, "start", "end"}``.
When ``now + horizon`` passes the window's end, the poll first finishes a round on the
old token (its changes and removals) and then reads the new window in full: one full
read a month. Series arrive as instances (``occurrence``, ``exception``); times come in
UTC (``Prefer: outlook.timezone="UTC"``), pages up to ``Prefer: odata.maxpagesize``.
``@removed`` rows are `Batch.removed`; rows outside the window are passed over; a 410 or
a sync-state error raises `CursorExpired` and the core reads the window again.

Each event becomes a `RawEvent` with its attendees and their answers; the owner's own
answer (``responseStatus``) is put on the owner's entry (``is_self``), added when Graph
leaves the owner out of the list. ``iCalUId`` is the uid and, for an instance of a
series, ``originalStart`` the recurrence id. Holds syncd made are not read back (they
carry its ``transactionId`` prefix).

Holds (``Calendars.ReadWrite``): ``POST {mailbox}/events`` with no attendees (no
invitation goes out), ``showAs: tentative``, no reminder, a ``transactionId`` derived
from the action key and the key in a single-value extended property, which `find_hold`
looks up with ``$filter=singleValueExtendedProperties/Any``. The key is looked up before
every attempt, the first and each retry: what Graph answers to a repeated
``transactionId`` is not documented, so exactly once never rests on it.
The fingerprint is the hold's start, end (UTC) and subject, as for the other hold sinks.
`busy` asks ``getSchedule`` (work and school accounts), or reads the calendar view
(personal Outlook.com accounts, where getSchedule is not offered, and wherever
getSchedule is refused).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.base import (
    Attendee,
    Batch,
    Created,
    CursorExpired,
    HoldSpec,
    ObjectState,
    RawEvent,
    Response,
    SourceUnavailable,
    StreamInfo,
    object_state,
)
from connectors.graph_delta import delta_page, following_link, read_to_delta_link
from connectors.graph_drafts import KEY_PROPERTY, key_filter
from connectors.graph_reconcile import GraphCalendarReconcile
from connectors.outlook_http import GraphApi, GraphError

logger = logging.getLogger(__name__)

CURSOR_VERSION = 1
STREAM = StreamInfo(name="calendar", kind="calendar")
TRANSACTION_PREFIX = "syncd-"
_NAMESPACE = uuid.UUID("5b2f8c1e-6d0a-4c1f-9a53-3f0d8e7b6a41")
_RESPONSES: dict[str, Response] = {
    "accepted": "accepted",
    "organizer": "accepted",
    "tentativelyAccepted": "tentative",
    "declined": "declined",
    "notResponded": "needs_action",
    "none": "needs_action",
}
BUSY_STATES = frozenset({"busy", "tentative", "oof"})
EVENT_FIELDS = "id,subject,start,end,isCancelled,showAs"
_NO_LINK = "Graph: a calendar delta page without nextLink or deltaLink"


@dataclass(frozen=True)
class OutlookCalendarSettings:
    lookback: timedelta = timedelta(days=365)
    horizon: timedelta = timedelta(days=90)
    slack: timedelta = timedelta(days=30)  # how far the window reaches past the horizon
    page_size: int = 1000
    items: int = 500
    owner_addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Cursor:
    link: str
    start: datetime
    end: datetime

    def dump(self) -> str:
        return json.dumps(
            {
                "v": CURSOR_VERSION,
                "link": self.link,
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
            },
            separators=(",", ":"),
        )


def load_cursor(cursor: str) -> _Cursor:
    try:
        doc = json.loads(cursor)
        if not isinstance(doc, dict) or doc.get("v") != CURSOR_VERSION or not doc.get("link"):
            raise ValueError("unknown version")
        start, end = datetime.fromisoformat(doc["start"]), datetime.fromisoformat(doc["end"])
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("window without a UTC offset")
        return _Cursor(str(doc["link"]), start, end)
    except (ValueError, TypeError, KeyError) as exc:
        raise CursorExpired(f"unreadable Outlook calendar cursor: {exc}") from None


def transaction_id(key: str) -> str:
    """The hold's transactionId: the same for every attempt at the same action."""
    return TRANSACTION_PREFIX + str(uuid.uuid5(_NAMESPACE, key))


class OutlookCalendarSource(GraphCalendarReconcile):
    """A calendar `Source` and `HoldSink` over the default calendar of one mailbox."""

    def __init__(self, api: GraphApi, settings: OutlookCalendarSettings | None = None) -> None:
        self.api = api
        self.settings = settings or OutlookCalendarSettings()
        self._no_schedule = False
        self._baseline_window: tuple[datetime, datetime] | None = None

    @property
    def _base(self) -> str:
        return self.api.settings.base

    def _prefer(self, paged: bool = True) -> dict[str, str]:
        prefs = ['outlook.timezone="UTC"']
        if paged:
            prefs.insert(0, f"odata.maxpagesize={self.settings.page_size}")
        return {"Prefer": ", ".join(prefs)}

    # ------------------------------------------------------------------ Source

    def streams(self) -> list[StreamInfo]:
        return [STREAM]

    def poll(
        self, stream: StreamInfo, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Batch]:
        if cursor is not None and not full:
            state = load_cursor(cursor)
            if now + self.settings.horizon <= state.end:
                yield from self._round(state, None, stream, last=True)
                return
            # The window must move: the old round's changes first, then the new window.
            yield from self._round(state, None, stream, last=False)
        start, end = self._window(now)
        params = {"startDateTime": _iso(start), "endDateTime": _iso(end)}
        fresh = _Cursor(f"{self._base}/calendarView/delta", start, end)
        yield from self._round(fresh, params, stream, last=True)

    def _window(self, now: datetime) -> tuple[datetime, datetime]:
        s = self.settings
        day = datetime.combine(now.astimezone(UTC).date(), time(0, 0), UTC)
        return day - s.lookback, day + s.horizon + s.slack

    def _round(
        self,
        state: _Cursor,
        params: dict[str, str] | None,
        stream: StreamInfo,
        *,
        last: bool,
    ) -> Iterator[Batch]:
        link = state.link
        items: list[RawEvent] = []
        removed: list[str] = []
        read = 0
        owners = self._owners()
        while True:
            page = self._page(link, params, resumed=params is None)
            params = None
            for row in page.get("value", []):
                read += 1
                if "@removed" in row:
                    removed.append(str(row["id"]))
                    continue
                if str(row.get("transactionId") or "").startswith(TRANSACTION_PREFIX):
                    continue  # our own hold, read back: not an interaction
                event = parse_event(row, stream.name, owners)
                if event is None or event.end < state.start or event.start > state.end:
                    continue
                items.append(event)
            nxt, following = following_link(page, _NO_LINK)
            after = _Cursor(following, state.start, state.end).dump()
            if not nxt:
                yield Batch(items, after, removed, read, done=last)
                return
            if len(items) + len(removed) >= self.settings.items:
                yield Batch(items, after, removed, read)
                items, removed, read = [], [], 0
            link = nxt

    def _page(self, link: str, params: dict[str, str] | None, *, resumed: bool) -> dict[str, Any]:
        return delta_page(
            self.api,
            link,
            params,
            what="Graph calendarView delta",
            headers=self._prefer(),
            resumed=resumed,
            token="calendar delta token",
            again="the window is read again",
        )

    # ------------------------------------------------------------------ reconcile hooks

    def _window_for(self, cursor: str | None) -> tuple[datetime, datetime]:
        """The window `poll` reads: the cursor's, or the one a fresh round reads now."""
        if cursor is not None:
            state = load_cursor(cursor)
            return state.start, state.end
        if self._baseline_window is not None:  # a resync: the window its baseline took
            return self._baseline_window
        return self._window(datetime.now(UTC))

    def _event(self, doc: dict[str, Any], calendar: str) -> RawEvent | None:
        """A row as `poll` yields it; None for the holds syncd made and unusable rows."""
        if str(doc.get("transactionId") or "").startswith(TRANSACTION_PREFIX):
            return None
        return parse_event(doc, calendar, self._owners())

    def _fresh_round(self, now: datetime) -> str:
        """A delta cursor valid now over the window for `now` (a whole round read)."""
        start, end = self._baseline_window = self._window(now)
        delta = read_to_delta_link(
            lambda link, params: self._page(link, params, resumed=False),
            f"{self._base}/calendarView/delta",
            {"startDateTime": _iso(start), "endDateTime": _iso(end)},
            _NO_LINK,
        )
        return _Cursor(delta, start, end).dump()

    def _owners(self) -> frozenset[str]:
        owners = {a.lower() for a in self.settings.owner_addresses}
        mailbox = self.api.username()
        if mailbox and "@" in mailbox:
            owners.add(mailbox.lower())
        return frozenset(owners)

    # ------------------------------------------------------------------ HoldSink

    def find_hold(self, key: str) -> Created | None:
        found = self._find(key)
        return None if found is None else Created(str(found["id"]), _fingerprint(found))

    def _find(self, key: str, *, retry: bool = True) -> dict[str, Any] | None:
        path = f"{self._base}/events"
        params = {"$filter": key_filter(key), "$select": EVENT_FIELDS, "$top": "10"}
        headers = self._prefer(paged=False)
        if retry:
            doc = self.api.call(
                "GET", path, "Graph events (hold lookup)", params=params, headers=headers
            )
        else:
            doc = self.api.once("GET", path, params=params, headers=headers)
        for event in (doc or {}).get("value", []):
            if not event.get("isCancelled"):
                found: dict[str, Any] = event
                return found
        return None

    def create_hold(self, spec: HoldSpec) -> Created:
        existing = self.find_hold(spec.key)
        if existing is not None:
            logger.debug("outlook.hold.exists", extra={"key": spec.key, "ref": existing.ref})
            return existing
        zone = _zone(spec.timezone)
        body = {
            "subject": spec.summary,
            "body": {"contentType": "text", "content": spec.description},
            "start": _local(spec.start, zone),
            "end": _local(spec.end, zone),
            "showAs": "tentative",
            "isReminderOn": False,
            "transactionId": transaction_id(spec.key),
            "singleValueExtendedProperties": [{"id": KEY_PROPERTY, "value": spec.key}],
        }
        made = self.api.run(lambda: self._attempt(spec.key, body), "Graph create event")
        if not isinstance(made, dict) or "id" not in made:
            raise SourceUnavailable("Graph create event: the answer carries no event id")
        logger.info("outlook.hold.created", extra={"key": spec.key, "ref": made["id"]})
        return Created(str(made["id"]), _fingerprint(made))

    def _attempt(self, key: str, body: dict[str, Any]) -> Any:
        """One attempt, the first or a retry: the key is looked up before every POST.

        What Graph answers to a repeated ``transactionId`` is not documented (the event
        made the first time, an error, or a second event), so a retry after a lost answer
        never relies on it: the lookup finds the event the lost attempt made. A 4xx on the
        POST is looked up once more (a repeat refused as a duplicate) before it counts.
        """
        found = self._find(key, retry=False)
        if found is not None:
            return found
        try:
            return self.api.once(
                "POST", f"{self._base}/events", body=body, headers=self._prefer(paged=False)
            )
        except GraphError as exc:
            if exc.status in (400, 409):
                found = self._find(key, retry=False)
                if found is not None:
                    return found
            raise

    def hold_state(self, key: str, fingerprint: str) -> ObjectState:
        found = self._find(key)
        return object_state(_fingerprint(found) if found is not None else None, fingerprint)

    def remove_hold(self, key: str, fingerprint: str) -> bool:
        found = self._find(key)
        if found is None or _fingerprint(found) != fingerprint:
            return False
        # A 404: deleted already by an attempt whose answer was lost.
        with contextlib.suppress(GraphError):
            self.api.call(
                "DELETE",
                f"{self._base}/events/{quote(str(found['id']), safe='')}",
                "Graph delete event",
                handles=(404,),
            )
        return True

    def busy(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("busy(): start and end must be timezone-aware")
        if end <= start:
            return []
        mailbox = self.api.username()
        if not self._no_schedule and not self.api.personal and mailbox:
            found = self._schedule(mailbox, start, end)
            if found is not None:
                return found
            self._no_schedule = True
        return self._view(start, end)

    def _schedule(
        self, mailbox: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]] | None:
        body = {
            "schedules": [mailbox],
            "startTime": {"dateTime": _naive_utc(start), "timeZone": "UTC"},
            "endTime": {"dateTime": _naive_utc(end), "timeZone": "UTC"},
            "availabilityViewInterval": 15,
        }
        try:
            doc = self.api.call(
                "POST",
                f"{self._base}/calendar/getSchedule",
                "Graph getSchedule",
                body=body,
                headers=self._prefer(paged=False),
                handles=(400, 403, 404, 405, 501),  # 403: that feature only, not the grant
            )
        except GraphError as exc:
            logger.info("outlook.busy.no_schedule", extra={"code": exc.code, "status": exc.status})
            return None
        values = (doc or {}).get("value") or []
        if not values or values[0].get("error"):
            return None
        out = []
        for item in values[0].get("scheduleItems") or []:
            if str(item.get("status")) in BUSY_STATES:
                s, e = _when(item.get("start")), _when(item.get("end"))
                if s is not None and e is not None:
                    out.append((s, e))
        return sorted(out)

    def _view(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        out = []
        link = f"{self._base}/calendarView"
        params: dict[str, str] | None = {
            "startDateTime": _iso(start),
            "endDateTime": _iso(end),
            "$select": "start,end,showAs,isCancelled",
            "$top": str(self.settings.page_size),
        }
        while True:
            doc = self.api.call(
                "GET", link, "Graph calendarView", params=params, headers=self._prefer()
            )
            params = None
            for event in (doc or {}).get("value", []):
                if event.get("isCancelled") or str(event.get("showAs")) not in BUSY_STATES:
                    continue
                s, e = _when(event.get("start")), _when(event.get("end"))
                if s is not None and e is not None:
                    out.append((s, e))
            nxt = (doc or {}).get("@odata.nextLink")
            if not nxt:
                return sorted(out)
            link = str(nxt)

    def close(self) -> None:
        self.api.close()


# ----------------------------------------------------------------------------- parsing


def parse_event(doc: dict[str, Any], calendar: str, owners: frozenset[str]) -> RawEvent | None:
    """A calendarView delta row as a RawEvent; None for one without usable times."""
    start, end = _when(doc.get("start")), _when(doc.get("end"))
    if start is None or end is None:
        logger.warning("outlook.event.skipped", extra={"id": doc.get("id"), "reason": "no times"})
        return None
    organizer = _email(doc.get("organizer"))
    own = str((doc.get("responseStatus") or {}).get("response") or "none")
    is_organizer = bool(doc.get("isOrganizer")) or own == "organizer"
    own_response: Response = "accepted" if is_organizer else _RESPONSES.get(own, "needs_action")
    attendees: list[Attendee] = []
    seen_self = False
    for a in doc.get("attendees") or []:
        addr = _email(a)
        if addr is None:
            continue
        name = ((a.get("emailAddress") or {}).get("name")) or None
        response = _RESPONSES.get(str((a.get("status") or {}).get("response")), "needs_action")
        is_self = addr in owners
        seen_self = seen_self or is_self
        attendees.append(
            Attendee(
                email=addr,
                name=str(name) if name else None,
                response=own_response if is_self else response,
                is_organizer=addr == organizer,
                is_self=is_self,
                is_resource=str(a.get("type")) == "resource",
            )
        )
    if not seen_self:
        me = organizer if is_organizer and organizer else next(iter(sorted(owners)), None)
        if me is not None and (is_organizer or own not in ("none", "")):
            attendees.append(
                Attendee(email=me, response=own_response, is_organizer=is_organizer, is_self=True)
            )
    recurrence_id = None
    if doc.get("type") in ("occurrence", "exception") and doc.get("originalStart"):
        recurrence_id = _parse(str(doc["originalStart"]))
    return RawEvent(
        provider_id=str(doc["id"]),
        uid=str(doc.get("iCalUId") or doc["id"]),
        start=start,
        end=end,
        calendar=calendar,
        recurrence_id=recurrence_id,
        all_day=bool(doc.get("isAllDay")),
        summary=doc.get("subject"),
        status="cancelled" if doc.get("isCancelled") else "confirmed",
        transparent=doc.get("showAs") == "free",
        organizer=organizer,
        attendees=tuple(attendees),
    )


def _email(party: Any) -> str | None:
    addr = ((party or {}).get("emailAddress") or {}).get("address")
    return str(addr).strip().lower() if addr and "@" in str(addr) else None


def _when(value: Any) -> datetime | None:
    """A Graph dateTimeTimeZone (UTC when asked for; an IANA zone otherwise) as aware UTC."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        return None
    parsed = _parse(str(value["dateTime"]))
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        zone = _zone(str(value.get("timeZone") or "UTC"))
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _parse(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(value: datetime, zone: ZoneInfo) -> dict[str, str]:
    local = value.astimezone(zone).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": zone.key}


def _naive_utc(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fingerprint(event: dict[str, Any]) -> str:
    """sha256 over start|end|subject (UTC), as `connectors.ics_holds.hold_fingerprint`."""
    start, end = _when(event.get("start")), _when(event.get("end"))
    parts = [
        start.isoformat() if start else json.dumps(event.get("start"), sort_keys=True),
        end.isoformat() if end else json.dumps(event.get("end"), sort_keys=True),
        str(event.get("subject") or ""),
    ]
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()


__all__ = [
    "OutlookCalendarSettings",
    "OutlookCalendarSource",
    "load_cursor",
    "parse_event",
    "transaction_id",
]
