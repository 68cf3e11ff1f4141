"""Proof of completeness (`connectors.base.Reconcilable`) for CalDAV calendars.

Mixed into `connectors.caldav.CalDavSource`, reusing its requests and parsing, and as
cheap as a poll: a fixed number of REPORTs, never one request per event.

- `recent_ids`: one calendar-query REPORT with calendar data from `since` to the end of
  the window `poll` reads (the cursor's ``window_end``, or ``now + horizon``); the ids
  are those `poll` gives the instances (``{href}#{UID}#{recurrence id}``).
- `fetch`: the hrefs of the ids, read with calendar-multiget (500 a REPORT) and parsed
  over the window `poll` reads; only the instances asked for are yielded.
- `baseline`: the collection's ``DAV:sync-token`` first, then one calendar-query from now
  to ``now + horizon`` for the cursor's ``upcoming`` list (so a later removal of an event
  still to come is reported), as a first poll leaves its cursor.

What both modules need (the cursor, the parse of an object) is in `connectors.caldav_state`;
the baseline's first poll is the source's own (`CalDavSource._baseline`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, cast

from connectors.base import Batch, RawEvent, SourceInvalid, StreamInfo
from connectors.caldav_state import MULTIGET_CHUNK, _Calendar, _load_cursor, _parse

if TYPE_CHECKING:
    from connectors.caldav import CalDavSource


def calendar_of(source: CalDavSource, stream: StreamInfo) -> _Calendar:
    """The calendar a stream reads."""
    calendar = source._read_calendars().get(stream.name)
    if calendar is None:
        raise SourceInvalid(f"{source.settings.url}: no calendar {stream.name!r}")
    return calendar


class CalDavReconcile:
    """`Reconcilable` for `CalDavSource`."""

    def recent_ids(
        self, stream: StreamInfo, since: datetime, *, cursor: str | None = None
    ) -> set[str]:
        source = cast("CalDavSource", self)
        end = source.clock() + source.settings.horizon
        if cursor is not None:
            end = _load_cursor(cursor).window_end
        if end <= since:
            return set()
        calendar = calendar_of(source, stream)
        found: set[str] = set()
        for obj in source._query(calendar.url, since, end):
            if obj.data is not None:
                events, _expanded = _parse(obj, since, end, stream.name, source.settings)
                found.update(e.provider_id for e in events)
        return found

    def fetch(self, stream: StreamInfo, ids: Collection[str]) -> Iterator[Batch]:
        source = cast("CalDavSource", self)
        calendar = calendar_of(source, stream)
        wanted = set(ids)
        hrefs = sorted({i.partition("#")[0] for i in wanted})
        now = source.clock()
        start, end = now - source.settings.lookback, now + source.settings.horizon
        items: list[RawEvent] = []
        for i in range(0, len(hrefs), MULTIGET_CHUNK):
            for obj in source._multiget(calendar.url, hrefs[i : i + MULTIGET_CHUNK]):
                if obj.data is None:
                    continue  # gone since
                events, _expanded = _parse(obj, start, end, stream.name, source.settings)
                items.extend(e for e in events if e.provider_id in wanted)
                if len(items) >= source.settings.batch_size:
                    yield Batch(items=items, cursor=None, read=len(items))
                    items = []
        yield Batch(items=items, cursor=None, read=len(items), done=True)

    def baseline(self, stream: StreamInfo, *, now: datetime) -> str:
        source = cast("CalDavSource", self)
        return source._baseline(calendar_of(source, stream), stream.name, now)


__all__ = ["CalDavReconcile", "calendar_of"]
