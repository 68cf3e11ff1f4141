"""The Google Calendar v3 part of the fake Google (tests/fake_google.py).

What it keeps as Google Calendar does (API-NOTES section 2):

- events with a change counter; `events.list` pages (``maxResults`` ≤ 2500) and hands out
  ``nextSyncToken`` on the last page only; a ``syncToken`` returns what changed since,
  deleted events included in their minimal form (``id``, ``status: cancelled``), refuses
  the parameters Google forbids beside it (400) and, once `expire_sync_tokens` was called,
  answers 410 ``fullSyncRequired``;
- ``singleEvents=true`` expands RRULE series into instances (``recurringEventId``,
  ``originalStartTime``, ids ``<series>_<UTC start>``); ``timeMin``/``timeMax``,
  ``privateExtendedProperty`` (``name=value``, all must match), ``iCalUID``;
- `events.insert` with a client id (base32hex, 5–1024 characters) answers 409 ``duplicate``
  when the id exists, deleted events included; `events.delete` marks an event cancelled
  (410 ``deleted`` the second time); `events.update` replaces an event, and one that was
  deleted comes back with the status the body gives. (Google's reference does not say
  whether a deleted event can be updated back: `restore_refused` makes the fake answer
  410 ``deleted`` instead, the least helpful reading.) `events.get` reads instances of
  a series by their instance id, as Google's does;
- `freebusy.query`: opaque, not cancelled events (tentative ones count) merged per calendar.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dateutil.rrule import rrulestr

from tests.fake_google import Answer, ApiError, Call

if TYPE_CHECKING:
    from tests.fake_google import FakeGoogle

FORBIDDEN_WITH_SYNC = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
_ID = re.compile(r"^[a-v0-9]{5,1024}$")
BASE = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Stored:
    doc: dict[str, Any]
    seq: int


@dataclass
class Calendar:
    id: str
    events: dict[str, Stored] = field(default_factory=dict)
    overrides: dict[str, Stored] = field(default_factory=dict)  # instance id -> exception


def parse_time(value: dict[str, Any]) -> datetime:
    if "dateTime" in value:
        return datetime.fromisoformat(value["dateTime"]).astimezone(UTC)
    return datetime.combine(date.fromisoformat(value["date"]), datetime.min.time(), UTC)


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CalendarState:
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.calendars: dict[str, Calendar] = {owner: Calendar(owner)}
        self.seq = 0
        self.tokens: dict[str, tuple[str, int, bool, bool]] = {}
        self.expired: set[str] = set()
        self.restore_refused = False

    def register(self, fake: FakeGoogle) -> None:
        for method_id, handler in {
            "calendar.events.list": self.list_events,
            "calendar.events.get": self.get_event,
            "calendar.events.insert": self.insert_event,
            "calendar.events.update": self.update_event_call,
            "calendar.events.delete": self.delete_event,
            "calendar.freebusy.query": self.freebusy,
        }.items():
            fake.route(method_id, handler)

    # ------------------------------------------------------------------ test helpers

    def _cal(self, cal_id: str) -> Calendar:
        cal_id = self.owner if cal_id == "primary" else cal_id
        cal = self.calendars.get(cal_id)
        if cal is None:
            raise ApiError(404, "Not Found", "notFound")
        return cal

    def _tick(self) -> int:
        self.seq += 1
        return self.seq

    def add_event(
        self,
        summary: str,
        start: datetime,
        end: datetime,
        *,
        attendees: list[tuple[str, str]] = (),  # type: ignore[assignment]
        organizer: str | None = None,
        recurrence: list[str] | None = None,
        transparency: str | None = None,
        status: str = "confirmed",
        event_id: str | None = None,
        event_type: str = "default",
        calendar: str = "primary",
    ) -> str:
        cal = self._cal(calendar)
        eid = event_id or hashlib.sha1(f"{summary}{start}{self.seq}".encode()).hexdigest()[:26]
        organizer = organizer or self.owner
        doc: dict[str, Any] = {
            "kind": "calendar#event",
            "id": eid,
            "status": status,
            "summary": summary,
            "start": {"dateTime": rfc3339(start), "timeZone": "UTC"},
            "end": {"dateTime": rfc3339(end), "timeZone": "UTC"},
            "iCalUID": f"{eid}@google.com",
            "organizer": {
                "email": organizer,
                **({"self": True} if organizer == self.owner else {}),
            },
            "creator": {"email": organizer},
            "eventType": event_type,
            "sequence": 0,
        }
        if attendees:
            doc["attendees"] = [
                {
                    "email": email,
                    "responseStatus": response,
                    **({"self": True} if email == self.owner else {}),
                    **({"organizer": True} if email == organizer else {}),
                }
                for email, response in attendees
            ]
        if recurrence:
            doc["recurrence"] = recurrence
        if transparency:
            doc["transparency"] = transparency
        self._save(cal, eid, doc)
        return eid

    def _save(self, cal: Calendar, eid: str, doc: dict[str, Any]) -> None:
        seq = self._tick()
        doc["updated"] = rfc3339(BASE + timedelta(seconds=seq))
        doc["etag"] = f'"{seq}"'
        cal.events[eid] = Stored(doc, seq)

    def update_event(self, eid: str, calendar: str = "primary", **changes: Any) -> None:
        cal = self._cal(calendar)
        doc = copy.deepcopy(cal.events[eid].doc)
        doc.update(changes)
        doc["sequence"] = doc.get("sequence", 0) + 1
        self._save(cal, eid, doc)

    def set_response(self, eid: str, email: str, response: str, calendar: str = "primary") -> None:
        cal = self._cal(calendar)
        doc = copy.deepcopy(cal.events[eid].doc)
        for a in doc.get("attendees", []):
            if a["email"] == email:
                a["responseStatus"] = response
        self._save(cal, eid, doc)

    def delete(self, eid: str, calendar: str = "primary") -> None:
        self.update_event(eid, calendar, status="cancelled")

    def cancel_instance(self, series: str, start: datetime, calendar: str = "primary") -> None:
        cal = self._cal(calendar)
        iid = f"{series}_{start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        doc = {
            "kind": "calendar#event",
            "id": iid,
            "status": "cancelled",
            "recurringEventId": series,
            "originalStartTime": {"dateTime": rfc3339(start)},
        }
        cal.overrides[iid] = Stored(doc, self._tick())

    def expire_sync_tokens(self) -> None:
        self.expired |= set(self.tokens)

    def holds(self, calendar: str = "primary") -> list[dict[str, Any]]:
        """Events that carry syncd's private key and are not deleted."""
        return [
            s.doc
            for s in self._cal(calendar).events.values()
            if s.doc.get("status") != "cancelled"
            and s.doc.get("extendedProperties", {}).get("private")
        ]

    # ------------------------------------------------------------------ expansion

    def _instances(
        self, cal: Calendar, stored: Stored, lo: datetime | None, hi: datetime | None
    ) -> list[tuple[dict[str, Any], int]]:
        """A series as its instances (a deleted series as deleted instances)."""
        doc = stored.doc
        if "recurrence" not in doc:
            return [(doc, stored.seq)]
        start, end = parse_time(doc["start"]), parse_time(doc["end"])
        rule = rrulestr("\n".join(doc["recurrence"]), dtstart=start)
        out = []
        for when in rule.between(
            start - timedelta(seconds=1), hi or start + timedelta(days=730), inc=True
        ):
            if lo is not None and when + (end - start) <= lo:
                continue
            iid = f"{doc['id']}_{when:%Y%m%dT%H%M%SZ}"
            override = cal.overrides.get(iid)
            if override is not None:
                out.append((override.doc, max(override.seq, stored.seq)))
                continue
            inst = {k: v for k, v in doc.items() if k != "recurrence"}
            inst["id"] = iid
            inst["recurringEventId"] = doc["id"]
            inst["originalStartTime"] = {"dateTime": rfc3339(when)}
            inst["start"] = {"dateTime": rfc3339(when), "timeZone": "UTC"}
            inst["end"] = {"dateTime": rfc3339(when + (end - start)), "timeZone": "UTC"}
            out.append((inst, stored.seq))
        return out

    def _all(
        self, cal: Calendar, single: bool, lo: datetime | None, hi: datetime | None
    ) -> list[tuple[dict[str, Any], int]]:
        out: list[tuple[dict[str, Any], int]] = []
        for stored in cal.events.values():
            if single:
                out.extend(self._instances(cal, stored, lo, hi))
            else:
                out.append((stored.doc, stored.seq))
        return out

    # ------------------------------------------------------------------ handlers

    def list_events(self, call: Call) -> Answer:
        cal = self._cal(call.params["calendarId"])
        single = call.flag("singleEvents")
        show_deleted = call.flag("showDeleted")
        token = call.arg("syncToken")
        page_token = call.arg("pageToken")
        if token is not None:
            bad = [p for p in FORBIDDEN_WITH_SYNC if call.arg(p) is not None]
            if bad:
                raise ApiError(
                    400,
                    f"Sync token cannot be used with {bad[0]}.",
                    "invalid",
                    location="syncToken",
                    locationType="parameter",
                )
            known = self.tokens.get(token)
            if known is None or token in self.expired:
                raise ApiError(
                    410,
                    "Sync token is no longer valid, a full sync is required.",
                    "fullSyncRequired",
                    domain="calendar",
                    location="syncToken",
                    locationType="parameter",
                )
            if known[0] != cal.id or known[2] != single:
                raise ApiError(
                    400, "Sync token parameters do not match the first request.", "invalid"
                )
            since = known[1]
        else:
            since = None
        snapshot = int(page_token.split(".")[1]) if page_token else self.seq
        offset = int(page_token.split(".")[0].removeprefix("p")) if page_token else 0
        lo = datetime.fromisoformat(call.arg("timeMin") or "1970-01-01T00:00:00+00:00")
        hi_text = call.arg("timeMax")
        hi = datetime.fromisoformat(hi_text) if hi_text else None
        props = [p.partition("=") for p in call.args("privateExtendedProperty")]
        uid = call.arg("iCalUID")
        items = []
        for doc, seq in self._all(cal, single, lo if since is None else None, hi):
            if seq > snapshot:
                continue
            if since is not None:
                if seq <= since:
                    continue
                if doc.get("status") == "cancelled":
                    items.append(_minimal(doc))
                    continue
                items.append(doc)
                continue
            if doc.get("status") == "cancelled" and not show_deleted:
                continue
            outside = "start" in doc and (
                parse_time(doc["end"]) <= lo or (hi is not None and parse_time(doc["start"]) >= hi)
            )
            if doc.get("status") != "cancelled" and outside:
                continue
            private = doc.get("extendedProperties", {}).get("private", {})
            if any(private.get(k) != v for k, _, v in props):
                continue
            if uid is not None and doc.get("iCalUID") != uid:
                continue
            items.append(doc)
        items.sort(key=lambda d: (d.get("start", {}).get("dateTime", ""), d["id"]))
        try:
            size = min(int(call.arg("maxResults", "250") or 250), 2500)
        except ValueError:
            raise ApiError(400, "Invalid maxResults", "invalid") from None
        page = items[offset : offset + size]
        doc: dict[str, Any] = {
            "kind": "calendar#events",
            "summary": cal.id,
            "timeZone": "UTC",
            "items": page,
        }
        if offset + size < len(items):
            doc["nextPageToken"] = f"p{offset + size}.{snapshot}"
        else:
            new = f"sync{len(self.tokens) + 1}x{snapshot}"
            self.tokens[new] = (cal.id, snapshot, single, show_deleted)
            doc["nextSyncToken"] = new
        return Answer.json(200, doc)

    def get_event(self, call: Call) -> Answer:
        cal = self._cal(call.params["calendarId"])
        eid = call.params["eventId"]
        stored = cal.events.get(eid) or cal.overrides.get(eid)
        if stored is None and "_" in eid:  # an instance of a series
            series = cal.events.get(eid.rsplit("_", 1)[0])
            if series is not None:
                for doc, _seq in self._instances(cal, series, None, None):
                    if doc["id"] == eid:
                        return Answer.json(200, doc)
        if stored is None:
            raise ApiError(404, "Not Found", "notFound")
        return Answer.json(200, stored.doc)

    def update_event_call(self, call: Call) -> Answer:
        cal = self._cal(call.params["calendarId"])
        eid = call.params["eventId"]
        stored = cal.events.get(eid)
        if stored is None:
            raise ApiError(404, "Not Found", "notFound")
        if stored.doc.get("status") == "cancelled" and self.restore_refused:
            raise ApiError(410, "Resource has been deleted", "deleted")
        body = call.json()
        for key in ("start", "end"):
            if key not in body:
                raise ApiError(400, f"Missing {key} time.", "required")
        doc = {
            "kind": "calendar#event",
            "status": "confirmed",
            "eventType": "default",
            **body,
            "id": eid,
            "iCalUID": stored.doc.get("iCalUID", f"{eid}@google.com"),
            "organizer": stored.doc.get("organizer"),
            "creator": stored.doc.get("creator"),
            "sequence": stored.doc.get("sequence", 0) + 1,
        }
        self._save(cal, eid, doc)
        return Answer.json(200, doc)

    def insert_event(self, call: Call) -> Answer:
        cal = self._cal(call.params["calendarId"])
        body = call.json()
        eid = body.get("id")
        if eid is not None:
            if not _ID.match(eid):
                raise ApiError(400, "Invalid resource id value.", "invalid")
            if eid in cal.events:
                raise ApiError(409, "The requested identifier already exists.", "duplicate")
        else:
            eid = hashlib.sha1(f"{cal.id}{self.seq}".encode()).hexdigest()[:26]
        for key in ("start", "end"):
            if key not in body:
                raise ApiError(
                    400, "Missing end time." if key == "end" else "Missing start time.", "required"
                )
        if parse_time(body["end"]) < parse_time(body["start"]):
            raise ApiError(400, "The specified time range is empty.", "timeRangeEmpty")
        doc = {
            "kind": "calendar#event",
            "status": "confirmed",
            "eventType": "default",
            "sequence": 0,
            **body,
            "id": eid,
            "iCalUID": f"{eid}@google.com",
            "organizer": {"email": self.owner, "self": True},
            "creator": {"email": self.owner, "self": True},
        }
        self._save(cal, eid, doc)
        return Answer.json(200, doc)

    def delete_event(self, call: Call) -> Answer:
        cal = self._cal(call.params["calendarId"])
        stored = cal.events.get(call.params["eventId"])
        if stored is None:
            raise ApiError(404, "Not Found", "notFound")
        if stored.doc.get("status") == "cancelled":
            raise ApiError(410, "Resource has been deleted", "deleted")
        self.delete(call.params["eventId"], cal.id)
        return Answer(204)

    def freebusy(self, call: Call) -> Answer:
        body = call.json()
        try:
            lo = datetime.fromisoformat(body["timeMin"])
            hi = datetime.fromisoformat(body["timeMax"])
        except (KeyError, ValueError):
            raise ApiError(400, "Bad Request", "badRequest") from None
        out: dict[str, Any] = {}
        for item in body.get("items", []):
            cid = item.get("id", "")
            try:
                cal = self._cal(cid)
            except ApiError:
                out[cid] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
                continue
            spans = []
            for doc, _seq in self._all(cal, True, lo, hi):
                if doc.get("status") == "cancelled" or doc.get("transparency") == "transparent":
                    continue
                s, e = parse_time(doc["start"]), parse_time(doc["end"])
                if s < hi and e > lo:
                    spans.append((max(s, lo), min(e, hi)))
            spans.sort()
            merged: list[list[datetime]] = []
            for s, e in spans:
                if merged and s <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], e)
                else:
                    merged.append([s, e])
            out[cid] = {"busy": [{"start": rfc3339(s), "end": rfc3339(e)} for s, e in merged]}
        return Answer.json(
            200,
            {
                "kind": "calendar#freeBusy",
                "timeMin": body["timeMin"],
                "timeMax": body["timeMax"],
                "calendars": out,
            },
        )


def _minimal(doc: dict[str, Any]) -> dict[str, Any]:
    out = {"kind": "calendar#event", "id": doc["id"], "status": "cancelled"}
    for key in ("recurringEventId", "originalStartTime", "etag"):
        if key in doc:
            out[key] = doc[key]
    return out
