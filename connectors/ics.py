"""A calendar source over a folder of .ics files, as vdirsyncer leaves it.

Layout: the files directly in the configured folder form one stream named after that
folder; each subdirectory (one level, vdirsyncer makes one per collection) that holds .ics
files is another stream named after the subdirectory. Hidden files and folders are ignored.

Parsing (`parse_ics`, `read_ics_file`) is pure: bytes in, `RawEvent`s out. Recurring
series are expanded with recurring_ical_events inside the poll window
``[now - lookback, now + horizon]``; every datetime comes out in UTC (all-day events at
midnight UTC of their date, floating times read as UTC). Broken input never stops a poll:
an event with a bad date, an unknown TZID or no UID is skipped and counted in
`IcsBatch.skipped_events`; a file that is not iCalendar at all is skipped and counted in
`IcsBatch.skipped_files`. Both are logged as ``ics.event.skipped`` / ``ics.file.skipped``.

Provider ids are ``"{file path relative to the source folder}#{UID}#{recurrence id}"``,
where the recurrence id is the instance's original start in UTC (ISO 8601) for instances
of a recurring series and empty otherwise.

The cursor is a JSON object, one per stream::

    {"v": 1,
     "files": {"<file name>": {"m": <st_mtime_ns>, "s": <st_size>,
                               "up": [["<provider id>", <start, Unix seconds>], ...],
                               "we": <window end used, Unix seconds>}}}

A file whose size and mtime match its entry is not opened. ``up`` lists the instances
yielded from the file that had not started at the poll that wrote the entry (it is pruned
as they start): when the file disappears, or a changed file no longer holds one of them,
that id is reported in `Batch.removed`; meetings already past stay history. ``we`` is
present only for files that reach beyond the window they were read with (a recurring
series, or an event starting after the window end); such a file is read again once
``now + horizon`` has passed ``we`` by more than a day, so new instances enter the window.

Every batch carries the old cursor updated with the files completely emitted so far, so a
crash after any stored batch costs at most re-reading a few files; a file whose instances
span several batches enters the cursor with its last one. Files vanished from the folder
are reported, and dropped from the cursor, at the end of the poll. A file that turns into
garbage keeps its ``up`` list: a corrupt file is not taken as the meetings being cancelled.
A cursor that cannot be read raises `CursorExpired`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import icalendar
import recurring_ical_events
from icalendar.cal.component import Component

from connectors.base import (
    Attendee,
    Batch,
    CursorExpired,
    EventStatus,
    RawEvent,
    Response,
    SourceInvalid,
    StreamInfo,
)

logger = logging.getLogger(__name__)

CURSOR_VERSION = 1
_REEXPAND_AFTER = timedelta(days=1)
_TIME_PROPS = frozenset(
    {"DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "RRULE", "RDATE", "EXDATE"}
)
_SERIES_PROPS = ("RRULE", "RDATE", "RECURRENCE-ID")
_RESPONSES: dict[str, Response] = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
}
_STATUSES: dict[str, EventStatus] = {"CANCELLED": "cancelled", "TENTATIVE": "tentative"}
_RESOURCE_CUTYPES = frozenset({"RESOURCE", "ROOM"})


class IcsFileError(ValueError):
    """A file that cannot be read as iCalendar at all."""


@dataclass(frozen=True, slots=True)
class IcsBatch(Batch):
    """A `Batch` that also says how much broken input the poll skipped while making it."""

    skipped_files: int = 0
    skipped_events: int = 0


@dataclass(frozen=True, slots=True)
class ParsedIcs:
    """The instances of one .ics file inside a window.

    `reaches_past_window` is true when the file holds a recurring series or an event that
    starts after the window end, so a later, wider window may find more in it.
    """

    events: list[RawEvent]
    skipped_events: int
    reaches_past_window: bool


# ---------------------------------------------------------------------------- parsing


def read_ics_file(
    path: Path,
    *,
    window_start: datetime,
    window_end: datetime,
    calendar: str = "",
    relpath: str | None = None,
) -> list[RawEvent]:
    """Every event instance of the .ics file at `path` inside the window, sorted by start.

    Bad events are skipped (and logged); a file that cannot be read or is not iCalendar
    raises `SourceInvalid`.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceInvalid(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    try:
        parsed = parse_ics(
            data,
            window_start=window_start,
            window_end=window_end,
            calendar=calendar,
            relpath=path.name if relpath is None else relpath,
        )
    except IcsFileError as exc:
        raise SourceInvalid(f"{path}: not an iCalendar file ({exc})") from exc
    return parsed.events


def parse_ics(
    data: bytes,
    *,
    window_start: datetime,
    window_end: datetime,
    calendar: str = "",
    relpath: str = "",
) -> ParsedIcs:
    """Expand the VEVENTs in `data` inside [window_start, window_end] into `RawEvent`s.

    Raises `IcsFileError` when `data` holds no VCALENDAR that can be parsed.
    """
    _require_aware(window_start, "window_start")
    _require_aware(window_end, "window_end")
    start_utc, end_utc = window_start.astimezone(UTC), window_end.astimezone(UTC)
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
        reaches = reaches or any(_reaches_past(c, end_utc) for c in good)
        occurrences, failed = _expand(cal, good, start_utc, end_utc, relpath)
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
    return ParsedIcs(events, skipped, reaches)


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


def _expand(
    cal: Component, events: list[Component], start: datetime, end: datetime, relpath: str
) -> tuple[list[Component], int]:
    """Occurrences of `events` in the window, and how many events had to be skipped.

    The whole calendar is expanded at once; only when that fails is each UID expanded on
    its own, so one broken series costs its own instances and no others.
    """
    timezones = [c for c in cal.subcomponents if c.name == "VTIMEZONE"]
    try:
        return _between(_with_components(cal, timezones + events), start, end), 0
    except Exception:  # recurring_ical_events raises many types on malformed series
        pass
    by_uid: dict[str, list[Component]] = {}
    for event in events:
        by_uid.setdefault(str(event["UID"]), []).append(event)
    occurrences: list[Component] = []
    failed = 0
    for uid, group in by_uid.items():
        try:
            occurrences.extend(_between(_with_components(cal, timezones + group), start, end))
        except Exception as exc:  # as above: skip this series, keep the others
            _log_skipped_event(relpath, uid, str(exc) or type(exc).__name__)
            failed += len(group)
    return occurrences, failed


def _with_components(cal: Component, components: list[Component]) -> Component:
    copy = cal.copy()
    copy.subcomponents = list(components)
    return copy


def _between(cal: Component, start: datetime, end: datetime) -> list[Component]:
    occurrences: list[Component] = recurring_ical_events.of(cal).between(start, end)
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


# ----------------------------------------------------------------------------- cursor


class _FileState(TypedDict):
    m: int
    s: int
    up: list[tuple[str, int]]
    we: NotRequired[int]


def _load_cursor(cursor: str) -> dict[str, _FileState]:
    try:
        raw = json.loads(cursor)
    except ValueError as exc:
        raise CursorExpired(f"ics cursor is not JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("v") != CURSOR_VERSION:
        raise CursorExpired(f"ics cursor is not a version {CURSOR_VERSION} cursor")
    files = raw.get("files")
    if not isinstance(files, dict):
        raise CursorExpired("ics cursor has no file table")
    return {str(name): _file_state(name, entry) for name, entry in files.items()}


def _file_state(name: str, entry: object) -> _FileState:
    if not isinstance(entry, dict):
        raise CursorExpired(f"ics cursor entry for {name!r} is malformed")
    m, s, up, we = entry.get("m"), entry.get("s"), entry.get("up"), entry.get("we")
    if not (isinstance(m, int) and isinstance(s, int) and isinstance(up, list)):
        raise CursorExpired(f"ics cursor entry for {name!r} is malformed")
    upcoming: list[tuple[str, int]] = []
    for item in up:
        if not (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], int)
        ):
            raise CursorExpired(f"ics cursor entry for {name!r} is malformed")
        upcoming.append((item[0], item[1]))
    state: _FileState = {"m": m, "s": s, "up": upcoming}
    if we is not None:
        if not isinstance(we, int):
            raise CursorExpired(f"ics cursor entry for {name!r} is malformed")
        state["we"] = we
    return state


def _dump_cursor(files: dict[str, _FileState]) -> str:
    return json.dumps({"v": CURSOR_VERSION, "files": files}, separators=(",", ":"))


# ----------------------------------------------------------------------------- source


class IcsFolderSource:
    """A calendar source over a folder of .ics files (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        lookback: timedelta = timedelta(days=365),
        horizon: timedelta = timedelta(days=90),
        batch_size: int = 500,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.path = Path(path)
        self.lookback = lookback
        self.horizon = horizon
        self.batch_size = batch_size

    def streams(self) -> list[StreamInfo]:
        """One stream for the folder itself when it holds .ics files, one per subfolder."""
        root = self._root()
        names: list[str] = []
        if _holds_ics(root):
            names.append(_folder_name(root))
        for sub in sorted(_subfolders(root)):
            if _holds_ics(root / sub):
                if sub in names:
                    raise SourceInvalid(
                        f"{root}: the folder and its subfolder {sub!r} would both be the "
                        f"calendar {sub!r}; move the .ics files of one of them"
                    )
                names.append(sub)
        return [StreamInfo(name=name, kind="calendar") for name in names]

    def poll(
        self, stream: StreamInfo, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[IcsBatch]:
        """Yield the instances of new and changed files, and what vanished, since `cursor`."""
        _require_aware(now, "now")
        directory = self._stream_dir(stream.name)
        files: dict[str, _FileState] = {}
        if cursor is not None:
            try:
                files = _load_cursor(cursor)
            except CursorExpired:
                if not full:
                    raise
        run = _PollRun(self, directory, stream.name, files, now=now, full=full)
        return run.batches()

    def _root(self) -> Path:
        if not self.path.exists():
            raise SourceInvalid(f"{self.path}: no such folder (expected a folder of .ics files)")
        if not self.path.is_dir():
            raise SourceInvalid(f"{self.path}: is a file, but a folder of .ics files is expected")
        return self.path

    def _stream_dir(self, name: str) -> Path:
        root = self._root()
        is_root_name = name == _folder_name(root)
        if is_root_name and _holds_ics(root):
            return root
        if name in set(_subfolders(root)):
            return root / name
        if is_root_name:
            return root
        raise SourceInvalid(f"{root}: no calendar folder named {name!r}")


def _folder_name(path: Path) -> str:
    return path.name or path.resolve().name or str(path)


def _is_ics_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(".ics")


def _holds_ics(directory: Path) -> bool:
    try:
        with os.scandir(directory) as entries:
            return any(_is_ics_name(e.name) and e.is_file() for e in entries)
    except OSError as exc:
        raise SourceInvalid(f"{directory}: cannot list the folder ({exc.strerror})") from exc


def _subfolders(root: Path) -> list[str]:
    try:
        with os.scandir(root) as entries:
            return [e.name for e in entries if not e.name.startswith(".") and e.is_dir()]
    except OSError as exc:
        raise SourceInvalid(f"{root}: cannot list the folder ({exc.strerror})") from exc


class _PollRun:
    """One poll of one stream: walks the folder once, emitting batches as they fill."""

    def __init__(
        self,
        source: IcsFolderSource,
        directory: Path,
        calendar: str,
        files: dict[str, _FileState],
        *,
        now: datetime,
        full: bool,
    ) -> None:
        self.source = source
        self.directory = directory
        self.calendar = calendar
        self.files = files
        self.full = full
        self.window_start = (now - source.lookback).astimezone(UTC)
        self.window_end = (now + source.horizon).astimezone(UTC)
        self.now_ts = now.timestamp()
        self.window_end_ts = int(self.window_end.timestamp())
        self.reexpand_before = int((self.window_end - _REEXPAND_AFTER).timestamp())
        self.seen: set[str] = set()
        self._reset()

    def _reset(self) -> None:
        self.items: list[RawEvent] = []
        self.removed: list[str] = []
        self.read = 0
        self.skipped_files = 0
        self.skipped_events = 0

    def batches(self) -> Iterator[IcsBatch]:
        for entry in _ics_entries(self.directory):
            yield from self._visit(entry)
        vanished = [name for name in self.files if name not in self.seen]
        for name in vanished:
            for provider_id, _start in self.files[name]["up"]:
                yield from self._add_removed(provider_id)
            del self.files[name]
        yield self._take(done=True)

    def _visit(self, entry: os.DirEntry[str]) -> Iterator[IcsBatch]:
        try:
            stat = entry.stat()
        except FileNotFoundError:
            return
        name = entry.name
        self.seen.add(name)
        previous = self.files.get(name)
        if previous is not None and not self.full and not self._must_read(previous, stat):
            previous["up"] = self._upcoming(previous)
            return
        yield from self._read(name, stat, previous)

    def _upcoming(self, state: _FileState) -> list[tuple[str, int]]:
        return [(pid, start) for pid, start in state["up"] if start > self.now_ts]

    def _must_read(self, previous: _FileState, stat: os.stat_result) -> bool:
        if previous["m"] != stat.st_mtime_ns or previous["s"] != stat.st_size:
            return True
        return "we" in previous and previous["we"] < self.reexpand_before

    def _read(
        self, name: str, stat: os.stat_result, previous: _FileState | None
    ) -> Iterator[IcsBatch]:
        path = self.directory / name
        relpath = path.relative_to(self.source.path).as_posix()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self.seen.discard(name)
            return
        except OSError as exc:
            self._skip_file(relpath, f"cannot read: {exc.strerror or exc}")
            return
        self.read += 1
        try:
            parsed = parse_ics(
                data,
                window_start=self.window_start,
                window_end=self.window_end,
                calendar=self.calendar,
                relpath=relpath,
            )
        except IcsFileError as exc:
            self._skip_file(relpath, f"not iCalendar: {exc}")
            kept = [] if previous is None else self._upcoming(previous)
            self.files[name] = {"m": stat.st_mtime_ns, "s": stat.st_size, "up": kept}
            return
        self.skipped_events += parsed.skipped_events
        for event in parsed.events:
            self.items.append(event)
            if self._full():
                yield self._take(done=False)
        if previous is not None:
            present = {event.provider_id for event in parsed.events}
            for provider_id, _start in previous["up"]:
                if provider_id not in present:
                    yield from self._add_removed(provider_id)
        state: _FileState = {
            "m": stat.st_mtime_ns,
            "s": stat.st_size,
            "up": [
                (e.provider_id, int(e.start.timestamp()))
                for e in parsed.events
                if e.start.timestamp() > self.now_ts
            ],
        }
        if parsed.reaches_past_window:
            state["we"] = self.window_end_ts
        self.files[name] = state

    def _skip_file(self, relpath: str, reason: str) -> None:
        logger.warning("ics.file.skipped", extra={"path": relpath, "reason": reason})
        self.skipped_files += 1

    def _add_removed(self, provider_id: str) -> Iterator[IcsBatch]:
        self.removed.append(provider_id)
        if self._full():
            yield self._take(done=False)

    def _full(self) -> bool:
        return len(self.items) + len(self.removed) >= self.source.batch_size

    def _take(self, *, done: bool) -> IcsBatch:
        batch = IcsBatch(
            items=self.items,
            cursor=_dump_cursor(self.files),
            removed=self.removed,
            read=self.read,
            done=done,
            skipped_files=self.skipped_files,
            skipped_events=self.skipped_events,
        )
        self._reset()
        return batch


def _ics_entries(directory: Path) -> Iterator[os.DirEntry[str]]:
    """The .ics files of `directory`, streamed so that a huge folder is never listed whole."""
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if _is_ics_name(entry.name) and entry.is_file():
                    yield entry
    except OSError as exc:
        raise SourceInvalid(f"{directory}: cannot list the folder ({exc.strerror})") from exc
