"""Tentative holds in a folder of .ics files: the write side of `connectors.ics`.

Each hold is one file ``<uid>.ics`` holding one VEVENT, with ``STATUS:TENTATIVE`` and the
idempotency key twice, as in API-NOTES section 6: the UID is derived from the key
(`hold_uid`) and ``X-SYNC-KEY`` carries the key itself. A tool that renames the file (or
keeps the UID but drops the X- property, or the reverse) does not hide the hold from
`find_hold`. Files are written to a hidden temporary file in the same folder and moved
into place with `os.replace`, so a reader never sees half a file.

The fingerprint of a hold is its start, end (both in UTC) and summary as read back from
the file: a user who moves or renames the hold changes it, one who only re-saves it in a
tool that writes TZID forms or DURATION instead of DTEND does not.

Busy time comes from the holds folder and from the owner's calendar folders (read-only
here; each folder's files and those of its direct subfolders, the layout
`connectors.ics.IcsFolderSource` reads). Every instance counts that is neither
``TRANSP:TRANSPARENT`` nor ``STATUS:CANCELLED``; all-day events block their whole day in
UTC. Files that are not iCalendar are skipped and logged as ``ics.file.skipped``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar

from connectors.base import Created, HoldSpec, ObjectState, SourceInvalid, object_state
from connectors.ical import IcsFileError, _require_aware, _to_utc, parse_ics

logger = logging.getLogger(__name__)

PRODID = "-//syncd//EN"
CATEGORY = "syncd"

_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # TEXT allows no controls but HTAB
_TEXT_ESCAPE = re.compile(r"\\([\\;,nN])")
_FOLD = re.compile(rb"\r?\n[ \t]")


def hold_uid(key: str) -> str:
    """The iCalendar UID of the hold made for `key`; the file is named ``<uid>.ics``."""
    return f"syncd-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@syncd.invalid"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class IcsHolds:
    """A `HoldSink` writing holds into `holds_dir`, with busy time from `calendars` too.

    `clock` gives the DTSTAMP of new holds (the only time a sink needs to know).
    """

    def __init__(
        self,
        holds_dir: Path,
        *,
        calendars: Sequence[Path] = (),
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.holds_dir = Path(holds_dir)
        self.calendars = tuple(Path(c) for c in calendars)
        self.clock = clock

    # ------------------------------------------------------------------ the HoldSink verbs

    def find_hold(self, key: str) -> Created | None:
        found = self._locate(key)
        if found is None:
            return None
        path, fingerprint = found
        return Created(ref=path.name, fingerprint=fingerprint)

    def create_hold(self, spec: HoldSpec) -> Created:
        existing = self.find_hold(spec.key)
        if existing is not None:
            logger.debug("ics.hold.exists", extra={"key": spec.key, "ref": existing.ref})
            return existing
        data = render_hold(spec, stamp=self.clock())
        fingerprint = matching_fingerprint(data, spec.key, hold_uid(spec.key))
        if fingerprint is None:  # pragma: no cover - render_hold writes both identifiers
            raise AssertionError(f"hold {spec.key!r} does not read back")
        self.holds_dir.mkdir(parents=True, exist_ok=True)
        path = self.holds_dir / f"{hold_uid(spec.key)}.ics"
        _write_atomically(path, data)
        return Created(ref=path.name, fingerprint=fingerprint)

    def hold_state(self, key: str, fingerprint: str) -> ObjectState:
        found = self._locate(key)
        return object_state(found[1] if found is not None else None, fingerprint)

    def remove_hold(self, key: str, fingerprint: str) -> bool:
        found = self._locate(key)
        if found is None or found[1] != fingerprint:
            return False
        try:
            found[0].unlink()
        except FileNotFoundError:
            return False
        return True

    def busy(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        _require_aware(start, "start")
        _require_aware(end, "end")
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return []
        intervals: list[tuple[datetime, datetime]] = []
        for path in self._calendar_files():
            try:
                data = path.read_bytes()
                parsed = parse_ics(data, window_start=start, window_end=end, relpath=str(path))
            except (OSError, IcsFileError) as exc:
                logger.warning("ics.file.skipped", extra={"path": str(path), "reason": str(exc)})
                continue
            intervals.extend(
                (event.start, event.end)
                for event in parsed.events
                if not event.transparent
                and event.status != "cancelled"
                and event.start < end
                and event.end > start
                and event.end > event.start
            )
        return merge_intervals(intervals)

    # ------------------------------------------------------------------ files

    def _locate(self, key: str) -> tuple[Path, str] | None:
        """The file holding the hold for `key`, and the hold's current fingerprint."""
        uid = hold_uid(key)
        named = self.holds_dir / f"{uid}.ics"
        try:
            data = named.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            pass
        else:
            fingerprint = matching_fingerprint(data, key, uid)
            # A file under our name that no longer parses is still ours: report it as
            # changed (its digest differs from any fingerprint), never as gone.
            return named, fingerprint or hashlib.sha256(data).hexdigest()
        # Renamed by a tool: look for either identifier in the other files, parsing only
        # those that mention one (the folder may be a whole calendar).
        markers = {uid.encode("ascii"), key.encode("utf-8"), _escape(key).encode("utf-8")}
        for path in _ics_files(self.holds_dir, missing_ok=True):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            unfolded = _FOLD.sub(b"", data)
            if not any(marker in unfolded for marker in markers):
                continue
            fingerprint = matching_fingerprint(data, key, uid)
            if fingerprint is not None:
                return path, fingerprint
        return None

    def _calendar_files(self) -> Iterator[Path]:
        seen: set[Path] = set()
        folders = [(self.holds_dir, True)] + [(c, False) for c in self.calendars]
        for folder, missing_ok in folders:
            for path in _ics_files(folder, missing_ok=missing_ok, depth=0 if missing_ok else 1):
                real = path.resolve()
                if real not in seen:
                    seen.add(real)
                    yield path


# ------------------------------------------------------------------------- building


def render_hold(spec: HoldSpec, *, stamp: datetime) -> bytes:
    """The VCALENDAR for `spec`: one tentative, opaque VEVENT with times in UTC.

    Raises ValueError for naive datetimes or an end that is not after the start.
    """
    for value, name in ((spec.start, "start"), (spec.end, "end"), (stamp, "stamp")):
        _require_aware(value, name)
    start = spec.start.astimezone(UTC).replace(microsecond=0)
    end = spec.end.astimezone(UTC).replace(microsecond=0)
    if end <= start:
        raise ValueError(f"hold {spec.key!r}: end {spec.end} is not after start {spec.start}")
    event = icalendar.Event()
    event.add("uid", hold_uid(spec.key))
    event.add("dtstamp", stamp.astimezone(UTC).replace(microsecond=0))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", _text(spec.summary))
    event.add("description", _text(spec.description))
    event.add("status", "TENTATIVE")
    event.add("transp", "OPAQUE")
    event.add("categories", [CATEGORY])
    # X- properties default to an unescaped type; as TEXT the key cannot break the line.
    event.add("x-sync-key", icalendar.vText(_text(spec.key)))
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def _escape(text: str) -> str:
    """`text` escaped as an iCalendar TEXT value (RFC 5545 section 3.3.11)."""
    escaped = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return escaped.replace("\n", "\\n")


def _text(value: str) -> str:
    return _TEXT_CONTROLS.sub(" ", value.replace("\r\n", "\n").replace("\r", "\n"))


def _write_atomically(path: Path, data: bytes) -> None:
    # A hidden name: readers of the folder skip it while it is being written.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".syncd-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------- reading


def matching_fingerprint(data: bytes, key: str, uid: str) -> str | None:
    """The fingerprint of the VEVENT in `data` that carries `uid` or `key`, if any."""
    try:
        calendars = icalendar.Calendar.from_ical(data, multiple=True)
    except Exception:  # the parser's failure modes on arbitrary bytes are open-ended
        return None
    for calendar in calendars:
        for event in calendar.walk("VEVENT"):
            if str(event.get("UID", "")) == uid or _sync_key(event) == key:
                return hold_fingerprint(event)
    return None


# The name connectors/caldav.py imports (kept until that module moves to the public one).
_matching_fingerprint = matching_fingerprint


def _sync_key(event: icalendar.cal.component.Component) -> str | None:
    value = event.get("X-SYNC-KEY")
    if value is None or isinstance(value, list):
        return None
    # icalendar reads X- properties without unescaping them.
    return _TEXT_ESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), str(value))


def hold_fingerprint(event: icalendar.cal.component.Component) -> str:
    """sha256 over DTSTART|DTEND|SUMMARY of `event`, times in UTC."""
    start = _utc(getattr(event.get("DTSTART"), "dt", None))
    end = _utc(getattr(event.get("DTEND"), "dt", None))
    duration = getattr(event.get("DURATION"), "dt", None)
    if end is None and start is not None and isinstance(duration, timedelta):
        end = start + duration
    summary = event.get("SUMMARY")
    parts = [
        start.isoformat() if start else "?",
        end.isoformat() if end else "?",
        "" if summary is None else str(summary),
    ]
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()


def _utc(value: object) -> datetime | None:
    return _to_utc(value) if isinstance(value, date) else None


def _ics_files(folder: Path, *, missing_ok: bool, depth: int = 0) -> Iterator[Path]:
    """The .ics files in `folder` (and its subfolders, `depth` levels down), sorted."""
    try:
        with os.scandir(folder) as it:
            entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except FileNotFoundError:
        if missing_ok:
            return
        raise SourceInvalid(f"{folder}: no such folder (expected a folder of .ics files)") from None
    except OSError as exc:
        raise SourceInvalid(f"{folder}: cannot list the folder ({exc.strerror})") from exc
    for entry in entries:
        if entry.is_dir():
            if depth > 0:
                yield from _ics_files(Path(entry.path), missing_ok=True, depth=depth - 1)
        elif entry.name.lower().endswith(".ics") and entry.is_file():
            yield Path(entry.path)


def merge_intervals(
    intervals: Sequence[tuple[datetime, datetime]],
) -> list[tuple[datetime, datetime]]:
    """Sorted intervals with overlapping and touching ones joined."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
