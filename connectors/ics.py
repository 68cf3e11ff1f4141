"""A calendar source over a folder of .ics files, as vdirsyncer leaves it.

Layout: the files directly in the configured folder form one stream named after that
folder; each subdirectory (one level, vdirsyncer makes one per collection) that holds .ics
files is another stream named after the subdirectory. Hidden files and folders are ignored.

Parsing is `connectors.ical.parse_ics`, pure: bytes in, `RawEvent`s out, recurring series
expanded inside the poll window ``[now - lookback, now + horizon]`` within
`RecurrenceLimits` (instances per series; the per-calendar budget is spent across all the
files one poll reads). Broken input never stops a poll:
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

`IcsFolderSource` is `connectors.base.Reconcilable` through
`connectors.ics_reconcile.IcsReconcile`, reading the folder at its `clock`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from connectors.base import Batch, CursorExpired, RawEvent, SourceInvalid, StreamInfo
from connectors.ical import (
    DEFAULT_LIMITS,
    IcsFileError,
    ParsedIcs,
    RecurrenceLimits,
    _require_aware,
    parse_ics,
)
from connectors.ics_reconcile import IcsReconcile

__all__ = [
    "IcsBatch",
    "IcsFileError",
    "IcsFileSource",
    "IcsFolderSource",
    "ParsedIcs",
    "RecurrenceLimits",
    "parse_ics",
    "read_ics_file",
]

logger = logging.getLogger(__name__)

CURSOR_VERSION = 1
_REEXPAND_AFTER = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class IcsBatch(Batch):
    """A `Batch` that also says how much broken input the poll skipped while making it."""

    skipped_files: int = 0
    skipped_events: int = 0


# ---------------------------------------------------------------------------- parsing


def read_ics_file(
    path: Path,
    *,
    window_start: datetime,
    window_end: datetime,
    calendar: str = "",
    relpath: str | None = None,
    limits: RecurrenceLimits = DEFAULT_LIMITS,
    owner: frozenset[str] = frozenset(),
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
            limits=limits,
            owner=owner,
        )
    except IcsFileError as exc:
        raise SourceInvalid(f"{path}: not an iCalendar file ({exc})") from exc
    return parsed.events


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


def _utc_now() -> datetime:
    return datetime.now(UTC)


class IcsFolderSource(IcsReconcile):
    """A calendar source over a folder of .ics files (see the module docstring);
    `Reconcilable` through `connectors.ics_reconcile.IcsReconcile`, reading at `clock`."""

    def __init__(
        self,
        path: Path,
        *,
        lookback: timedelta = timedelta(days=365),
        horizon: timedelta = timedelta(days=90),
        batch_size: int = 500,
        limits: RecurrenceLimits = DEFAULT_LIMITS,
        owner: frozenset[str] = frozenset(),
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.path = Path(path)
        self.lookback = lookback
        self.horizon = horizon
        self.batch_size = batch_size
        self.limits = limits
        self.owner = owner
        self.clock = clock

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

    def _check_cursor(self, cursor: str | None) -> None:
        """Raise `CursorExpired` when `cursor` is given and cannot be read."""
        if cursor is not None:
            _load_cursor(cursor)

    def _entries(self, directory: Path) -> Iterator[os.DirEntry[str]]:
        return _ics_entries(directory)

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


class IcsFileSource(IcsFolderSource):
    """`syncd import ics` takes one .ics file as well as a folder of them."""

    def __init__(self, path: Path, **settings: Any) -> None:
        self.file = path if path.is_file() else None
        super().__init__(path.parent if self.file else path, **settings)

    def streams(self) -> list[StreamInfo]:
        if self.file is None:
            return super().streams()
        return [StreamInfo(name=self.file.name, kind="calendar")]

    def poll(
        self, stream: StreamInfo, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[IcsBatch]:
        if self.file is None:
            yield from super().poll(stream, cursor, now=now, full=full)
            return
        events = read_ics_file(
            self.file,
            window_start=now - self.lookback,
            window_end=now + self.horizon,
            calendar=self.file.name,
            limits=self.limits,
            owner=self.owner,
        )
        for i in range(0, len(events), self.batch_size):
            yield IcsBatch(items=events[i : i + self.batch_size], cursor=None, read=1)
        yield IcsBatch(items=(), cursor=None, read=0, done=True)


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
        self.budget = source.limits.per_calendar
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
                limits=self.source.limits,
                owner=self.source.owner,
                budget=self.budget,
            )
        except IcsFileError as exc:
            self._skip_file(relpath, f"not iCalendar: {exc}")
            kept = [] if previous is None else self._upcoming(previous)
            self.files[name] = {"m": stat.st_mtime_ns, "s": stat.st_size, "up": kept}
            return
        self.skipped_events += parsed.skipped_events
        self.budget -= parsed.expanded
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
