"""A CalDAV calendar source and hold sink, over the `caldav` library's HTTP client.

Discovery (principal, calendar home, one Depth-1 PROPFIND for the calendars) happens on
first use and is kept. Each calendar is one stream, named after its display name (its URL
path when it has none, or when two calendars share one). With `CalDavSettings.calendar`
set only that calendar (display name or URL path) is read and holds go into it; without
it every calendar is read and holds go to the first one (a calendar "syncd holds" is made
when there is none).

Reading costs a fixed number of requests, never one per event (API-NOTES section 6):

- first sync (no cursor, or ``full``): a PROPFIND of ``DAV:sync-token``, *then* one
  calendar-query REPORT with calendar data for the window ``[now - lookback, now +
  horizon]``; reading the token first means a change made during the query shows up again
  in the next incremental sync instead of being lost;
- incremental: a sync-collection REPORT (sync-level 1) with the stored token gives the
  changed and removed hrefs and a new token; the changed objects are fetched with one
  calendar-multiget REPORT per chunk of at most 500 hrefs. An invalid or expired token
  (403 ``DAV:valid-sync-token``, or 412) raises `CursorExpired`;
- once ``now + horizon`` passes the stored window end by more than a day, one more
  calendar-query for the new stretch brings in instances that entered the window.

Provider ids are ``"{href}#{UID}#{recurrence id}"`` (`connectors.ical.parse_ics` with the
href as relpath), the recurrence id being the instance's original start in UTC (ISO 8601)
for instances of a series and empty otherwise.

The cursor is a JSON object::

    {"v": 1, "token": "<DAV:sync-token>", "window_end": "<ISO 8601, UTC>",
     "upcoming": {"<href>": [["<provider id>", <start, Unix seconds>], ...]}}

``upcoming`` lists, per href, the instances yielded that had not started when the cursor
was written (started ones are pruned at each poll). When an href is removed its upcoming
ids are reported in `Batch.removed`; when it changes, the upcoming ids it no longer holds
are. Past meetings stay history. Only the last batch of a poll carries the new cursor;
earlier batches carry the cursor the poll started from, so a crash replays the poll
(storing is idempotent) rather than skipping a change. An unreadable cursor raises
`CursorExpired`.

Holds: ``PUT {calendar}/{hold_uid(key)}.ics`` with ``If-None-Match: *`` and the body of
`connectors.ics_holds.render_hold`; a 412 means the hold exists already. `find_hold` GETs
that URL; on a 404 it searches the holds' calendar and then the calendars read for the
hold's UID (one calendar-query REPORT each), because a client that renamed the resource
or moved it to another calendar keeps the UID (Radicale then refuses a second PUT of that
UID with 409 ``no-uid-conflict``; other servers would store a duplicate). The
fingerprint is `hold_fingerprint` of the stored VEVENT; `remove_hold` deletes with
``If-Match`` on the ETag read with it, so a hold moved meanwhile stays.
`busy` runs one calendar-query over the range per calendar read and counts every instance
that is neither transparent nor cancelled (tentative ones count).

Errors: 401 raises `AuthFailed`, a 403 that is not about a sync token `SourceInvalid`,
network errors, timeouts, 429 and 5xx `SourceUnavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit
from xml.sax.saxutils import escape

from caldav.davclient import DAVClient
from caldav.lib import error as dav_error

from connectors.base import (
    AuthFailed,
    Batch,
    Created,
    CursorExpired,
    HoldSpec,
    ObjectState,
    RawEvent,
    SourceInvalid,
    SourceUnavailable,
    StreamInfo,
)
from connectors.caldav_reconcile import CalDavReconcile, calendar_of
from connectors.caldav_state import (
    MULTIGET_CHUNK,
    _Calendar,
    _Cursor,
    _load_cursor,
    _parse,
)
from connectors.caldav_state import (
    CalDavSettings as CalDavSettings,  # re-exported: connectors.caldav is where it is used
)
from connectors.caldav_xml import C as _C
from connectors.caldav_xml import D as _D
from connectors.caldav_xml import DavObject as _Object
from connectors.caldav_xml import check_multistatus as _check_multistatus
from connectors.caldav_xml import objects as _objects
from connectors.caldav_xml import responses as _responses
from connectors.ical import (
    _require_aware,
)
from connectors.ics_holds import _matching_fingerprint, hold_uid, merge_intervals, render_hold

logger = logging.getLogger(__name__)

HOLDS_CALENDAR = "syncd holds"
_REEXPAND_AFTER = timedelta(days=1)
_MAX_SYNC_ROUNDS = 100  # truncated sync-collection replies followed at most this often

_XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'
_NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
_DATA_PROPS = "<D:prop><D:getetag/><C:calendar-data/></D:prop>"


def _utc_now() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------------------- the source


class CalDavSource(CalDavReconcile):
    """A calendar `Source` and `HoldSink` over one CalDAV account."""

    def __init__(
        self, settings: CalDavSettings, *, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._dav: DAVClient | None = None
        self._calendars: dict[str, _Calendar] | None = None
        self._holds: _Calendar | None = None

    # ------------------------------------------------------------------ Source

    def streams(self) -> list[StreamInfo]:
        return [StreamInfo(name=name, kind="calendar") for name in self._read_calendars()]

    def poll(
        self, stream: StreamInfo, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Batch]:
        _require_aware(now, "now")
        calendar = calendar_of(self, stream)
        run = _PollRun(self, calendar, stream.name, cursor, now=now)
        if cursor is None or full:
            yield from run.initial()
        else:
            yield from run.incremental(_load_cursor(cursor))

    # ------------------------------------------------------------------ HoldSink

    def find_hold(self, key: str) -> Created | None:
        found = self._fetch_hold(key)
        if found is None:
            return None
        url, fingerprint, _etag = found
        return Created(ref=urlsplit(url).path, fingerprint=fingerprint)

    def create_hold(self, spec: HoldSpec) -> Created:
        existing = self.find_hold(spec.key)
        if existing is not None:
            logger.debug("caldav.hold.exists", extra={"key": spec.key, "ref": existing.ref})
            return existing
        data = render_hold(spec, stamp=self.clock())
        fingerprint = _matching_fingerprint(data, spec.key, hold_uid(spec.key))
        if fingerprint is None:  # pragma: no cover - render_hold writes both identifiers
            raise AssertionError(f"hold {spec.key!r} does not read back")
        url = self._hold_url(spec.key)
        headers = {"If-None-Match": "*", "Content-Type": "text/calendar; charset=utf-8"}
        response = self._request(url, "PUT", data.decode("utf-8"), headers)
        if response.status == 412:  # made by an earlier attempt whose answer was lost
            found = self.find_hold(spec.key)
            if found is not None:
                return found
        elif response.status not in (200, 201, 204):
            raise SourceUnavailable(f"PUT {url}: HTTP {response.status}")
        logger.info("caldav.hold.created", extra={"key": spec.key})
        return Created(ref=urlsplit(url).path, fingerprint=fingerprint)

    def hold_state(self, key: str, fingerprint: str) -> ObjectState:
        found = self._fetch_hold(key)
        if found is None:
            return "gone"
        return "untouched" if found[1] == fingerprint else "changed"

    def remove_hold(self, key: str, fingerprint: str) -> bool:
        found = self._fetch_hold(key)
        if found is None or found[1] != fingerprint:
            return False
        url, _fingerprint, etag = found
        headers = {"If-Match": etag} if etag else {}
        response = self._request(url, "DELETE", "", headers)
        if response.status in (404, 412):  # gone, or changed since we read it
            return False
        if response.status not in (200, 204):
            raise SourceUnavailable(f"DELETE {url}: HTTP {response.status}")
        return True

    def busy(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        _require_aware(start, "start")
        _require_aware(end, "end")
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return []
        urls = {c.url for c in self._read_calendars().values()} | {self._hold_calendar().url}
        intervals: list[tuple[datetime, datetime]] = []
        for url in sorted(urls):
            for obj in self._query(url, start, end):
                intervals.extend(
                    (event.start, event.end)
                    for event in _parse(obj, start, end, "", self.settings)[0]
                    if not event.transparent
                    and event.status != "cancelled"
                    and event.start < end
                    and event.end > start
                    and event.end > event.start
                )
        return merge_intervals(intervals)

    # ------------------------------------------------------------------ discovery

    def _client(self) -> DAVClient:
        if self._dav is None:
            s = self.settings
            self._dav = DAVClient(
                s.url,
                username=s.username,
                password=s.password,
                timeout=s.timeout,  # type: ignore[arg-type]  # typed int, passed to niquests
                ssl_verify_cert=s.ca_file or True,
            )
        return self._dav

    def _all_calendars(self) -> dict[str, _Calendar]:
        if self._calendars is None:
            self._calendars = _name_calendars(self._discover())
        return self._calendars

    def _discover(self) -> list[_Calendar]:
        client = self._client()
        home = _guard(lambda: str(_principal(client).calendar_home_set.url), self.settings.url)
        body = (
            f"{_XML_HEAD}<D:propfind {_NS}><D:prop><D:resourcetype/><D:displayname/>"
            "</D:prop></D:propfind>"
        )
        response = self._request(home, "PROPFIND", body, {"Depth": "1"})
        _check_multistatus(response, home)
        found = []
        for href, _status, props in _responses(response.tree):
            kind = props.get(f"{_D}resourcetype")
            if kind is None or kind.find(f"{_C}calendar") is None:
                continue
            name = props.get(f"{_D}displayname")
            display = (name.text or "").strip() if name is not None else ""
            url = urljoin(home, href)
            found.append(_Calendar(url=url, path=urlsplit(url).path, display_name=display or None))
        return found

    def _read_calendars(self) -> dict[str, _Calendar]:
        calendars = self._all_calendars()
        wanted = self.settings.calendar
        if wanted is None:
            return calendars
        for name, calendar in calendars.items():
            if wanted in (calendar.display_name, name) or _same_path(wanted, calendar.path):
                return {name: calendar}
        raise SourceInvalid(f"{self.settings.url}: no calendar {wanted!r} (name or URL path)")

    def _hold_calendar(self) -> _Calendar:
        if self._holds is None:
            calendars = self._read_calendars()
            if calendars:
                self._holds = next(iter(calendars.values()))
            else:
                client = self._client()
                made = _guard(
                    lambda: _principal(client).make_calendar(name=HOLDS_CALENDAR),
                    self.settings.url,
                )
                url = str(made.url)
                self._holds = _Calendar(url, urlsplit(url).path, HOLDS_CALENDAR)
                self._calendars = None
        return self._holds

    # ------------------------------------------------------------------ requests

    def _request(
        self, url: str, method: str, body: str = "", headers: dict[str, str] | None = None
    ) -> Any:
        """One request through the library's client, its failures mapped to ours."""
        client = self._client()
        response = _guard(lambda: client.request(url, method, body, headers or {}), url)
        if response.status == 401:
            raise AuthFailed(f"{url}: the server refused the credentials")
        if response.status == 429 or response.status >= 500:
            raise SourceUnavailable(f"{method} {url}: HTTP {response.status}")
        return response

    def _report(self, url: str, body: str, depth: int | None) -> Any:
        headers = {"Content-Type": 'application/xml; charset="utf-8"'}
        if depth is not None:
            headers["Depth"] = str(depth)
        return self._request(url, "REPORT", body, headers)

    def _query(self, url: str, start: datetime, end: datetime) -> list[_Object]:
        """Every object of the calendar at `url` with an instance in [start, end)."""
        body = (
            f"{_XML_HEAD}<C:calendar-query {_NS}>{_DATA_PROPS}<C:filter>"
            '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f'<C:time-range start="{_ical_utc(start)}" end="{_ical_utc(end)}"/>'
            "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
        )
        response = self._report(url, body, 1)
        _check_multistatus(response, url)
        return _objects(response.tree)

    def _multiget(self, url: str, hrefs: Sequence[str]) -> list[_Object]:
        refs = "".join(f"<D:href>{escape(h)}</D:href>" for h in hrefs)
        body = f"{_XML_HEAD}<C:calendar-multiget {_NS}>{_DATA_PROPS}{refs}</C:calendar-multiget>"
        response = self._report(url, body, None)
        _check_multistatus(response, url)
        objects = _objects(response.tree)
        missing = set(hrefs) - {o.href for o in objects}
        return objects + [_Object(h, None, None) for h in sorted(missing)]

    def _sync_token(self, url: str) -> str:
        body = f"{_XML_HEAD}<D:propfind {_NS}><D:prop><D:sync-token/></D:prop></D:propfind>"
        response = self._request(url, "PROPFIND", body, {"Depth": "0"})
        _check_multistatus(response, url)
        for _href, _status, props in _responses(response.tree):
            token = props.get(f"{_D}sync-token")
            if token is not None and token.text:
                return str(token.text).strip()
        raise SourceInvalid(f"{url}: the server offers no sync-token (RFC 6578 is required)")

    def _changes(self, url: str, token: str) -> tuple[list[str], list[str], str]:
        """Hrefs changed and removed since `token`, and the token after them."""
        changed: dict[str, None] = {}
        removed: dict[str, None] = {}
        path = urlsplit(url).path
        for _round in range(_MAX_SYNC_ROUNDS):
            body = (
                f"{_XML_HEAD}<D:sync-collection {_NS}><D:sync-token>{escape(token)}"
                "</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>"
                "</D:sync-collection>"
            )
            try:
                response = self._report(url, body, 0)
            except _TokenRefused as exc:
                raise CursorExpired(f"{url}: the sync token was refused") from exc
            if response.status in (403, 409, 412):
                raise CursorExpired(f"{url}: the sync token was refused (HTTP {response.status})")
            _check_multistatus(response, url)
            truncated = False
            for href, status, _props in _responses(response.tree):
                if _same_path(href, path):
                    truncated = truncated or status == 507
                elif status == 404:
                    changed.pop(href, None)
                    removed[href] = None
                else:
                    removed.pop(href, None)
                    changed[href] = None
            new_token = response.tree.findtext(f"{_D}sync-token")
            if not new_token:
                raise SourceUnavailable(f"{url}: sync-collection reply without a sync-token")
            token = new_token.strip()
            if not truncated:
                return list(changed), list(removed), token
        raise SourceUnavailable(f"{url}: sync-collection still truncated after many rounds")

    def _hold_url(self, key: str) -> str:
        base = self._hold_calendar().url
        folder = base if base.endswith("/") else base + "/"
        return urljoin(folder, quote(hold_uid(key), safe="") + ".ics")

    def _fetch_hold(self, key: str) -> tuple[str, str, str | None] | None:
        """(URL, fingerprint, ETag) of the hold for `key`, or None when there is none.

        The hold is looked for where it was put first; a client that renamed it or moved it
        to another calendar keeps its UID, so it is then searched for by UID.
        """
        url = self._hold_url(key)
        response = self._request(url, "GET")
        if response.status in (404, 410):
            return self._search_hold(key)
        if response.status != 200:
            raise SourceUnavailable(f"GET {url}: HTTP {response.status}")
        raw = response.raw
        data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        fingerprint = _matching_fingerprint(data, key, hold_uid(key))
        if fingerprint is None:  # ours by name but unreadable: changed, never gone
            fingerprint = "unreadable"
        etag = response.headers.get("ETag")
        return url, fingerprint, etag

    def _search_hold(self, key: str) -> tuple[str, str, str | None] | None:
        """The hold for `key` under another href: one UID query per calendar, the holds'
        calendar first."""
        uid = hold_uid(key)
        urls = [self._hold_calendar().url]
        urls += [c.url for c in self._read_calendars().values() if c.url not in urls]
        for url in urls:
            for obj in self._by_uid(url, uid):
                if obj.data is None:
                    continue
                fingerprint = _matching_fingerprint(obj.data, key, uid)
                if fingerprint is not None:
                    logger.info("caldav.hold.moved", extra={"key": key, "href": obj.href})
                    return urljoin(url, obj.href), fingerprint, obj.etag
        return None

    def _by_uid(self, url: str, uid: str) -> list[_Object]:
        """The objects of the calendar at `url` with a VEVENT whose UID is `uid`."""
        body = (
            f"{_XML_HEAD}<C:calendar-query {_NS}>{_DATA_PROPS}<C:filter>"
            '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            '<C:prop-filter name="UID">'
            f'<C:text-match collation="i;octet">{escape(uid)}</C:text-match>'
            "</C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
        )
        response = self._report(url, body, 1)
        _check_multistatus(response, url)
        return _objects(response.tree)

    def _baseline(self, calendar: _Calendar, name: str, now: datetime) -> str:
        """A cursor as a first poll at `now` leaves it: the collection's sync-token first,
        then the events still to come (so a later removal of one is reported)."""
        run = _PollRun(self, calendar, name, None, now=now)
        state = _Cursor(token=self._sync_token(calendar.url), window_end=run.window_end)
        objects = self._query(calendar.url, now, run.window_end)
        for _batch in run._take_objects(objects, state):  # fills state.upcoming
            pass
        return state.dump()


# ----------------------------------------------------------------------------- one poll


class _PollRun:
    def __init__(
        self,
        source: CalDavSource,
        calendar: _Calendar,
        name: str,
        cursor: str | None,
        *,
        now: datetime,
    ) -> None:
        self.source = source
        self.calendar = calendar
        self.name = name
        self.old_cursor = cursor
        self.now_ts = now.timestamp()
        self.window_start = (now - source.settings.lookback).astimezone(UTC)
        self.window_end = (now + source.settings.horizon).astimezone(UTC).replace(microsecond=0)
        self.items: list[RawEvent] = []
        self.removed: list[str] = []
        self.read = 0
        self.budget = source.settings.limits.per_calendar

    def initial(self) -> Iterator[Batch]:
        token = self.source._sync_token(self.calendar.url)
        state = _Cursor(token=token, window_end=self.window_end)
        objects = self.source._query(self.calendar.url, self.window_start, self.window_end)
        yield from self._take_objects(objects, state)
        yield self._batch(state.dump(), done=True)

    def incremental(self, state: _Cursor) -> Iterator[Batch]:
        state.upcoming = {h: self._upcoming(up) for h, up in state.upcoming.items()}
        changed, removed, token = self.source._changes(self.calendar.url, state.token)
        for href in removed:
            for provider_id, _start in state.upcoming.pop(href, []):
                yield from self._remove(provider_id)
        for i in range(0, len(changed), MULTIGET_CHUNK):
            objects = self.source._multiget(self.calendar.url, changed[i : i + MULTIGET_CHUNK])
            yield from self._take_objects(objects, state)
        if self.window_end - state.window_end > _REEXPAND_AFTER:
            objects = self.source._query(self.calendar.url, state.window_end, self.window_end)
            yield from self._take_objects(objects, state)
            state.window_end = self.window_end
        state.token = token
        yield self._batch(state.dump(), done=True)

    def _take_objects(self, objects: list[_Object], state: _Cursor) -> Iterator[Batch]:
        s = self.source.settings
        for obj in objects:
            previous = state.upcoming.pop(obj.href, [])
            events, expanded = (
                ([], 0)
                if obj.data is None
                else _parse(obj, self.window_start, self.window_end, self.name, s, self.budget)
            )
            self.budget -= expanded
            self.read += obj.data is not None
            present = {e.provider_id for e in events}
            for provider_id, _start in previous:
                if provider_id not in present:
                    yield from self._remove(provider_id)
            for event in events:
                self.items.append(event)
                if self._full():
                    yield self._batch(self.old_cursor, done=False)
            state.upcoming[obj.href] = self._upcoming(
                [(e.provider_id, int(e.start.timestamp())) for e in events]
            )

    def _upcoming(self, entries: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
        return [(pid, start) for pid, start in entries if start > self.now_ts]

    def _remove(self, provider_id: str) -> Iterator[Batch]:
        self.removed.append(provider_id)
        if self._full():
            yield self._batch(self.old_cursor, done=False)

    def _full(self) -> bool:
        return len(self.items) + len(self.removed) >= self.source.settings.batch_size

    def _batch(self, cursor: str | None, *, done: bool) -> Batch:
        batch = Batch(
            items=self.items, cursor=cursor, removed=self.removed, read=self.read, done=done
        )
        self.items, self.removed, self.read = [], [], 0
        return batch


# ----------------------------------------------------------------------------- helpers


class _TokenRefused(Exception):
    """A 403 carrying DAV:valid-sync-token: the token is no good, not the account."""


def _principal(client: DAVClient) -> Any:
    return client.principal()  # type: ignore[no-untyped-call]  # caldav leaves it untyped


def _guard(call: Callable[[], Any], url: str) -> Any:
    """Run a library call, turning its exceptions into the connector's."""
    try:
        return call()
    except dav_error.AuthorizationError as exc:
        if f"{_D}valid-sync-token" in exc.preconditions:
            raise _TokenRefused(url) from exc
        if exc.status == 403:
            raise SourceInvalid(f"{url}: the server forbids this ({exc.reason})") from exc
        raise AuthFailed(f"{url}: the server refused the credentials") from exc
    except dav_error.RateLimitError as exc:
        raise SourceUnavailable(f"{url}: throttled", exc.retry_after_seconds) from exc
    except dav_error.NotFoundError as exc:
        raise SourceInvalid(f"{url}: not found ({exc.reason})") from exc
    except dav_error.DAVError as exc:
        raise SourceUnavailable(f"{url}: {exc}") from exc
    except OSError as exc:  # niquests' RequestException, timeouts and resets included
        raise SourceUnavailable(f"{url}: {exc}") from exc


def _name_calendars(calendars: list[_Calendar]) -> dict[str, _Calendar]:
    counts: dict[str, int] = {}
    for c in calendars:
        if c.display_name:
            counts[c.display_name] = counts.get(c.display_name, 0) + 1
    named = {}
    for c in sorted(calendars, key=lambda c: c.path):
        unique = c.display_name is not None and counts[c.display_name] == 1
        named[c.display_name if unique and c.display_name else c.path] = c
    return named


def _same_path(a: str, b: str) -> bool:
    return unquote(urlsplit(a).path).rstrip("/") == unquote(urlsplit(b).path).rstrip("/")


def _ical_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
