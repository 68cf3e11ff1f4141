"""The .ics folder source: parsing, streams, the incremental cursor and batching."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import Attendee, CursorExpired, RawEvent, SourceInvalid, StreamInfo
from connectors.ics import IcsBatch, IcsFolderSource, read_ics_file

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)

BERLIN = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
"""


def vevent(uid: str | None, *lines: str) -> str:
    head = "" if uid is None else f"UID:{uid}\n"
    return "BEGIN:VEVENT\n" + head + "".join(f"{line}\n" for line in lines) + "END:VEVENT\n"


def vcalendar(*parts: str) -> bytes:
    text = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//syncd tests//EN\n"
    text += "".join(parts) + "END:VCALENDAR\n"
    return text.replace("\n", "\r\n").encode()


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def stamp(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ")


def single(uid: str, start: datetime, *lines: str) -> bytes:
    end = start + timedelta(hours=1)
    return vcalendar(vevent(uid, f"DTSTART:{stamp(start)}", f"DTEND:{stamp(end)}", *lines))


def poll(
    source: IcsFolderSource,
    cursor: str | None,
    *,
    now: datetime = NOW,
    full: bool = False,
    stream: str | None = None,
) -> list[IcsBatch]:
    info = StreamInfo(stream or source.path.name, "calendar")
    return list(source.poll(info, cursor, now=now, full=full))


def items(batches: Iterable[IcsBatch]) -> list[RawEvent]:
    found: list[RawEvent] = []
    for batch in batches:
        found.extend(i for i in batch.items if isinstance(i, RawEvent))
    return found


def ids(batches: Iterable[IcsBatch]) -> set[str]:
    return {e.provider_id for e in items(batches)}


def removed(batches: Iterable[IcsBatch]) -> list[str]:
    return [r for b in batches for r in b.removed]


def read(batches: Iterable[IcsBatch]) -> int:
    return sum(b.read for b in batches)


# --------------------------------------------------------------------------- parsing


def test_single_event_with_attendees(tmp_path: Path) -> None:
    write(
        tmp_path / "work" / "meeting.ics",
        vcalendar(
            vevent(
                "meeting-1@example.com",
                "DTSTART:20240322T140000Z",
                "DTEND:20240322T150000Z",
                "SUMMARY:Quarterly review",
                "STATUS:TENTATIVE",
                "TRANSP:TRANSPARENT",
                "ORGANIZER;CN=Alice Doe:MAILTO:Alice@Example.COM",
                "ATTENDEE;CN=Alice Doe;PARTSTAT=ACCEPTED:mailto:alice@example.com",
                'ATTENDEE;CN="Roe, Bob";PARTSTAT=DECLINED:mailto:Bob.Roe@example.org',
                "ATTENDEE;PARTSTAT=TENTATIVE:mailto:carol@example.net",
                "ATTENDEE:mailto:dave@example.com",
                "ATTENDEE;CN=Room 4;CUTYPE=ROOM;PARTSTAT=ACCEPTED:mailto:room4@example.com",
                "ATTENDEE;CN=Projector;CUTYPE=RESOURCE:mailto:beamer@example.com",
            )
        ),
    )
    batches = poll(IcsFolderSource(tmp_path), None, stream="work")
    [event] = items(batches)
    assert event.provider_id == "work/meeting.ics#meeting-1@example.com#"
    assert event.uid == "meeting-1@example.com"
    assert event.recurrence_id is None
    assert event.calendar == "work"
    assert (event.start, event.end) == (utc(2024, 3, 22, 14), utc(2024, 3, 22, 15))
    assert event.all_day is False
    assert event.summary == "Quarterly review"
    assert event.status == "tentative"
    assert event.transparent is True
    assert event.organizer == "alice@example.com"
    assert event.attendees == (
        Attendee("alice@example.com", "Alice Doe", "accepted", is_organizer=True),
        Attendee("bob.roe@example.org", "Roe, Bob", "declined"),
        Attendee("carol@example.net", None, "tentative"),
        Attendee("dave@example.com", None, "needs_action"),
        Attendee("room4@example.com", "Room 4", "accepted", is_resource=True),
        Attendee("beamer@example.com", "Projector", "needs_action", is_resource=True),
    )
    assert batches[-1].done


def test_weekly_series_with_moved_override_and_exdate(tmp_path: Path) -> None:
    write(
        tmp_path / "cal" / "standup.ics",
        vcalendar(
            vevent(
                "standup@example.com",
                "DTSTART:20240304T100000Z",
                "DTEND:20240304T103000Z",
                "RRULE:FREQ=WEEKLY;COUNT=6",
                "EXDATE:20240318T100000Z",
                "SUMMARY:Standup",
            ),
            vevent(
                "standup@example.com",
                "RECURRENCE-ID:20240325T100000Z",
                "DTSTART:20240327T150000Z",
                "DTEND:20240327T153000Z",
                "SUMMARY:Standup (moved)",
            ),
        ),
    )
    events = items(poll(IcsFolderSource(tmp_path / "cal"), None))
    by_rid = {e.recurrence_id: e for e in events if e.recurrence_id is not None}
    assert len(events) == len(by_rid)
    assert sorted(by_rid) == [
        utc(2024, 3, 4, 10),
        utc(2024, 3, 11, 10),
        utc(2024, 3, 25, 10),
        utc(2024, 4, 1, 10),
        utc(2024, 4, 8, 10),
    ]
    moved = by_rid[utc(2024, 3, 25, 10)]
    assert (moved.start, moved.end) == (utc(2024, 3, 27, 15), utc(2024, 3, 27, 15, 30))
    assert moved.summary == "Standup (moved)"
    assert moved.provider_id == "standup.ics#standup@example.com#2024-03-25T10:00:00+00:00"
    plain = by_rid[utc(2024, 4, 1, 10)]
    assert (plain.start, plain.summary) == (utc(2024, 4, 1, 10), "Standup")
    assert {e.uid for e in events} == {"standup@example.com"}
    assert len({e.provider_id for e in events}) == 5


def test_tzid_events_across_dst_changes_in_berlin(tmp_path: Path) -> None:
    write(
        tmp_path / "cal" / "berlin.ics",
        vcalendar(
            BERLIN,
            vevent(
                "spring@example.com",
                "DTSTART;TZID=Europe/Berlin:20240325T100000",
                "DTEND;TZID=Europe/Berlin:20240325T110000",
                "RRULE:FREQ=WEEKLY;COUNT=2",
            ),
            vevent(
                "before-autumn@example.com",
                "DTSTART;TZID=Europe/Berlin:20241021T100000",
                "DTEND;TZID=Europe/Berlin:20241021T110000",
            ),
            vevent(
                "after-autumn@example.com",
                "DTSTART;TZID=Europe/Berlin:20241028T100000",
                "DTEND;TZID=Europe/Berlin:20241028T110000",
            ),
        ),
    )
    source = IcsFolderSource(tmp_path / "cal", horizon=timedelta(days=365))
    events = {(e.uid, e.recurrence_id): e for e in items(poll(source, None))}
    spring1 = events["spring@example.com", utc(2024, 3, 25, 9)]
    spring2 = events["spring@example.com", utc(2024, 4, 1, 8)]
    assert (spring1.start, spring1.end) == (utc(2024, 3, 25, 9), utc(2024, 3, 25, 10))
    assert (spring2.start, spring2.end) == (utc(2024, 4, 1, 8), utc(2024, 4, 1, 9))
    assert events["before-autumn@example.com", None].start == utc(2024, 10, 21, 8)
    assert events["after-autumn@example.com", None].start == utc(2024, 10, 28, 9)
    assert spring2.start.utcoffset() == timedelta(0)


def test_all_day_floating_duration_and_missing_end(tmp_path: Path) -> None:
    write(
        tmp_path / "cal" / "mixed.ics",
        vcalendar(
            vevent("day@example.com", "DTSTART;VALUE=DATE:20240322"),
            vevent("trip@example.com", "DTSTART;VALUE=DATE:20240322", "DTEND;VALUE=DATE:20240325"),
            vevent("floating@example.com", "DTSTART:20240322T090000", "DTEND:20240322T100000"),
            vevent("duration@example.com", "DTSTART:20240322T090000Z", "DURATION:PT45M"),
            vevent("instant@example.com", "DTSTART:20240322T090000Z"),
        ),
    )
    events = {e.uid: e for e in items(poll(IcsFolderSource(tmp_path / "cal"), None))}
    day = events["day@example.com"]
    assert (day.start, day.end, day.all_day) == (utc(2024, 3, 22), utc(2024, 3, 23), True)
    trip = events["trip@example.com"]
    assert (trip.start, trip.end, trip.all_day) == (utc(2024, 3, 22), utc(2024, 3, 25), True)
    floating = events["floating@example.com"]
    assert (floating.start, floating.end) == (utc(2024, 3, 22, 9), utc(2024, 3, 22, 10))
    assert floating.start.tzinfo is not None and floating.all_day is False
    duration = events["duration@example.com"]
    assert duration.end == utc(2024, 3, 22, 9, 45)
    instant = events["instant@example.com"]
    assert instant.end == instant.start == utc(2024, 3, 22, 9)


def test_status_mapping_and_cancelled_event(tmp_path: Path) -> None:
    start = "DTSTART:20240322T090000Z"
    write(
        tmp_path / "cal" / "status.ics",
        vcalendar(
            vevent("cancelled@example.com", start, "STATUS:CANCELLED", "SUMMARY:Off"),
            vevent("tentative@example.com", start, "STATUS:TENTATIVE"),
            vevent("confirmed@example.com", start, "STATUS:CONFIRMED"),
            vevent("plain@example.com", start),
        ),
    )
    events = {e.uid: e for e in items(poll(IcsFolderSource(tmp_path / "cal"), None))}
    assert {uid: e.status for uid, e in events.items()} == {
        "cancelled@example.com": "cancelled",
        "tentative@example.com": "tentative",
        "confirmed@example.com": "confirmed",
        "plain@example.com": "confirmed",
    }
    assert events["cancelled@example.com"].summary == "Off"


def test_broken_files_and_events_are_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cal = tmp_path / "cal"
    write(cal / "good.ics", single("good@example.com", utc(2024, 3, 22, 9)))
    write(cal / "garbage.ics", "this is not a calendar\nat all\n")
    write(cal / "binary.ics", b"\x00\xff\xfe\x00garbage")
    write(cal / "empty.ics", b"")
    write(
        cal / "mixed.ics",
        vcalendar(
            vevent("bad-date@example.com", "DTSTART:20241345T100000Z"),
            vevent("mars@example.com", "DTSTART;TZID=Mars/Olympus_Mons:20240322T100000"),
            vevent(None, "DTSTART:20240322T100000Z", "SUMMARY:no uid"),
            vevent("bad-rule@example.com", "DTSTART:20240322T100000Z", "RRULE:FREQ=SOMETIMES"),
            vevent(
                "count-and-until@example.com",
                "DTSTART:20240322T100000Z",
                "RRULE:FREQ=DAILY;COUNT=3;UNTIL=20240330T000000Z",
            ),
            vevent("fine@example.com", "DTSTART:20240323T100000Z"),
        ),
    )
    source = IcsFolderSource(cal)
    with caplog.at_level(logging.WARNING, logger="connectors.ics"):
        batches = poll(source, None)
    assert {e.uid for e in items(batches)} == {"good@example.com", "fine@example.com"}
    assert sum(b.skipped_files for b in batches) == 3
    assert sum(b.skipped_events for b in batches) == 5
    assert read(batches) == 5
    skipped_files = {
        getattr(r, "path", None) for r in caplog.records if r.msg == "ics.file.skipped"
    }
    assert skipped_files == {"garbage.ics", "binary.ics", "empty.ics"}
    skipped_uids = {getattr(r, "uid", None) for r in caplog.records if r.msg == "ics.event.skipped"}
    assert "mars@example.com" in skipped_uids and "count-and-until@example.com" in skipped_uids

    again = poll(source, batches[-1].cursor)
    assert read(again) == 0 and items(again) == []
    assert sum(b.skipped_files for b in again) == 0


def test_read_ics_file_on_an_exported_calendar(tmp_path: Path) -> None:
    events = [
        vevent(
            f"export-{n}@example.com", f"DTSTART:{stamp(utc(2024, 1, 1, 9) + timedelta(days=n))}"
        )
        for n in range(120)
    ]
    series = vevent("series@example.com", "DTSTART:20240301T080000Z", "RRULE:FREQ=DAILY;COUNT=4")
    override = vevent(
        "series@example.com", "RECURRENCE-ID:20240302T080000Z", "DTSTART:20240302T120000Z"
    )
    path = write(tmp_path / "export.ics", vcalendar(*events, series, override))
    found = read_ics_file(
        path, window_start=utc(2024, 2, 1), window_end=utc(2024, 4, 1), calendar="export"
    )
    assert len(found) == 29 + 31 + 4  # daily events of February and March, 4 of the series
    assert [e.start for e in found] == sorted(e.start for e in found)
    moved = next(e for e in found if e.recurrence_id == utc(2024, 3, 2, 8))
    assert moved.start == utc(2024, 3, 2, 12)
    assert moved.provider_id == "export.ics#series@example.com#2024-03-02T08:00:00+00:00"
    assert {e.calendar for e in found} == {"export"}
    renamed = read_ics_file(
        path, window_start=utc(2024, 3, 1), window_end=utc(2024, 3, 2), relpath="x/y.ics"
    )
    assert renamed and all(e.provider_id.startswith("x/y.ics#") for e in renamed)


def test_read_ics_file_rejects_what_is_not_icalendar(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.ics", "Dear diary,\ntoday nothing happened.\n")
    with pytest.raises(SourceInvalid, match=r"notes\.ics"):
        read_ics_file(path, window_start=utc(2024, 1, 1), window_end=utc(2025, 1, 1))
    with pytest.raises(SourceInvalid, match=r"missing\.ics"):
        read_ics_file(
            tmp_path / "missing.ics", window_start=utc(2024, 1, 1), window_end=utc(2025, 1, 1)
        )


# --------------------------------------------------------------------------- streams


def test_streams_are_the_folder_and_its_subfolders(tmp_path: Path) -> None:
    root = tmp_path / "calendars"
    write(root / "top.ics", single("top@example.com", utc(2024, 3, 22, 9)))
    write(root / "work" / "w.ics", single("w@example.com", utc(2024, 3, 22, 9)))
    write(root / "work" / "displayname", "Work")
    write(root / "home" / "h.ics", single("h@example.com", utc(2024, 3, 22, 9)))
    write(root / "empty" / "color", "#ff0000")
    write(root / ".hidden" / "x.ics", single("x@example.com", utc(2024, 3, 22, 9)))
    write(root / "work" / "deeper" / "d.ics", single("d@example.com", utc(2024, 3, 22, 9)))
    source = IcsFolderSource(root)
    assert source.streams() == [
        StreamInfo("calendars", "calendar"),
        StreamInfo("home", "calendar"),
        StreamInfo("work", "calendar"),
    ]
    top = poll(source, None, stream="calendars")
    assert ids(top) == {"top.ics#top@example.com#"}
    assert {e.calendar for e in items(top)} == {"calendars"}
    work = poll(source, None, stream="work")
    assert ids(work) == {"work/w.ics#w@example.com#"}
    assert {e.calendar for e in items(work)} == {"work"}

    (root / "top.ics").unlink()
    assert [s.name for s in source.streams()] == ["home", "work"]


def test_a_missing_path_or_a_file_is_invalid(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(SourceInvalid, match=r"nowhere.*no such folder"):
        IcsFolderSource(missing).streams()
    with pytest.raises(SourceInvalid, match="no such folder"):
        list(IcsFolderSource(missing).poll(StreamInfo("nowhere", "calendar"), None, now=NOW))
    a_file = write(tmp_path / "single.ics", single("s@example.com", NOW))
    with pytest.raises(SourceInvalid, match=r"single\.ics.*is a file"):
        IcsFolderSource(a_file).streams()
    with pytest.raises(SourceInvalid, match="no calendar folder named 'other'"):
        poll(IcsFolderSource(tmp_path), None, stream="other")


# ----------------------------------------------------------------------- incremental


def test_an_unchanged_folder_costs_nothing(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    write(cal / "a.ics", single("a@example.com", NOW + timedelta(days=1)))
    write(cal / "b.ics", single("b@example.com", NOW - timedelta(days=1)))
    source = IcsFolderSource(cal)
    first = poll(source, None)
    assert read(first) == 2 and len(items(first)) == 2
    second = poll(source, first[-1].cursor)
    assert len(second) == 1 and second[0].done
    assert (read(second), items(second), removed(second)) == (0, [], [])


def test_a_touched_file_is_read_again(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    a = write(cal / "a.ics", single("a@example.com", NOW + timedelta(days=1)))
    write(cal / "b.ics", single("b@example.com", NOW + timedelta(days=2)))
    source = IcsFolderSource(cal)
    cursor = poll(source, None)[-1].cursor
    mtime = a.stat().st_mtime_ns + 5_000_000_000
    os.utime(a, ns=(mtime, mtime))
    second = poll(source, cursor)
    assert read(second) == 1
    assert ids(second) == {"a.ics#a@example.com#"}
    assert removed(second) == []
    write(a, single("a@example.com", NOW + timedelta(days=3), "SUMMARY:Longer now"))
    third = poll(source, second[-1].cursor)
    [event] = items(third)
    assert (event.start, event.summary) == (NOW + timedelta(days=3), "Longer now")


def test_a_deleted_file_reports_only_its_upcoming_instances(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    series = write(
        cal / "series.ics",
        vcalendar(vevent("s@example.com", "DTSTART:20240318T090000Z", "RRULE:FREQ=DAILY;COUNT=4")),
    )
    write(cal / "other.ics", single("o@example.com", NOW + timedelta(days=1)))
    source = IcsFolderSource(cal)
    first = poll(source, None)
    assert len(ids(first)) == 5
    series.unlink()
    second = poll(source, first[-1].cursor)
    assert read(second) == 0
    assert removed(second) == ["series.ics#s@example.com#2024-03-21T09:00:00+00:00"]
    assert "series.ics" not in json.loads(second[-1].cursor or "")["files"]
    third = poll(source, second[-1].cursor)
    assert removed(third) == []


def test_instances_gone_from_a_changed_file_are_removed_if_upcoming(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    past = vevent("past@example.com", "DTSTART:20240310T090000Z")
    soon = vevent("soon@example.com", "DTSTART:20240325T090000Z")
    later = vevent("later@example.com", "DTSTART:20240401T090000Z")
    path = write(cal / "three.ics", vcalendar(past, soon, later))
    source = IcsFolderSource(cal)
    cursor = poll(source, None)[-1].cursor
    write(path, vcalendar(later))
    second = poll(source, cursor)
    assert removed(second) == ["three.ics#soon@example.com#"]
    assert ids(second) == {"three.ics#later@example.com#"}


def test_instances_that_started_since_the_last_poll_are_history(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    path = write(cal / "one.ics", single("one@example.com", NOW + timedelta(days=1)))
    source = IcsFolderSource(cal)
    cursor = poll(source, None)[-1].cursor
    later = NOW + timedelta(days=2)
    cursor = poll(source, cursor, now=later)[-1].cursor
    path.unlink()
    assert removed(poll(source, cursor, now=later + timedelta(hours=1))) == []


def test_a_window_advance_expands_recurring_files_again(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    write(
        cal / "daily.ics",
        vcalendar(vevent("daily@example.com", "DTSTART:20240101T070000Z", "RRULE:FREQ=DAILY")),
    )
    write(cal / "single.ics", single("single@example.com", NOW + timedelta(days=3)))
    write(cal / "far.ics", single("far@example.com", NOW + timedelta(days=100)))
    source = IcsFolderSource(cal, lookback=timedelta(days=10), horizon=timedelta(days=90))
    first = poll(source, None)
    daily_starts = [e.start for e in items(first) if e.uid == "daily@example.com"]
    assert max(daily_starts) == utc(2024, 6, 18, 7)  # NOW + 90 days is June 18, 12:00
    assert "far@example.com" not in {e.uid for e in items(first)}

    soon = poll(source, first[-1].cursor, now=NOW + timedelta(hours=20))
    assert read(soon) == 0 and items(soon) == []

    moved = poll(source, first[-1].cursor, now=NOW + timedelta(days=3))
    assert read(moved) == 2  # daily.ics and far.ics; single.ics has nothing beyond
    new_rids = {e.recurrence_id for e in items(moved) if e.uid == "daily@example.com"}
    assert {utc(2024, 6, 19, 7), utc(2024, 6, 20, 7), utc(2024, 6, 21, 7)} <= new_rids
    assert removed(moved) == []
    assert read(poll(source, moved[-1].cursor, now=NOW + timedelta(days=3, hours=20))) == 0

    month = poll(source, moved[-1].cursor, now=NOW + timedelta(days=12))
    assert "far.ics#far@example.com#" in ids(month)


def test_a_cursor_that_is_not_ours_expires(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    write(cal / "a.ics", single("a@example.com", NOW))
    source = IcsFolderSource(cal)
    for cursor in ("not json", '{"v": 99, "files": {}}', '{"v": 1, "files": {"a.ics": 3}}'):
        with pytest.raises(CursorExpired):
            poll(source, cursor)
    assert read(poll(source, "not json", full=True)) == 1


def test_a_full_poll_reads_everything_again(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    write(cal / "a.ics", single("a@example.com", NOW + timedelta(days=1)))
    write(cal / "b.ics", single("b@example.com", NOW + timedelta(days=1)))
    source = IcsFolderSource(cal)
    cursor = poll(source, None)[-1].cursor
    again = poll(source, cursor, full=True)
    assert read(again) == 2
    assert ids(again) == {"a.ics#a@example.com#", "b.ics#b@example.com#"}


# --------------------------------------------------------------------------- batches


def test_batches_are_bounded_and_every_cursor_resumes(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    for n in range(5):
        write(cal / f"single-{n}.ics", single(f"single-{n}@example.com", NOW + timedelta(days=n)))
    write(
        cal / "week.ics",
        vcalendar(
            vevent("week@example.com", "DTSTART:20240321T080000Z", "RRULE:FREQ=DAILY;COUNT=7")
        ),
    )
    source = IcsFolderSource(cal, batch_size=3)
    batches = poll(source, None)
    everything = ids(batches)
    assert len(everything) == 12
    assert all(len(b.items) <= 3 for b in batches)
    assert [b.done for b in batches] == [False] * (len(batches) - 1) + [True]
    assert read(batches) == 6
    for n, batch in enumerate(batches):
        stored = ids(batches[: n + 1])
        resumed = poll(source, batch.cursor)
        assert stored | ids(resumed) == everything, f"cursor of batch {n} loses events"
    assert read(poll(source, batches[-1].cursor)) == 0


def test_removals_are_batched_too(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    paths = [
        write(cal / f"f{n}.ics", single(f"f{n}@example.com", NOW + timedelta(days=1)))
        for n in range(7)
    ]
    write(cal / "keep.ics", single("keep@example.com", NOW + timedelta(days=1)))
    source = IcsFolderSource(cal, batch_size=3)
    cursor = poll(source, None)[-1].cursor
    for path in paths:
        path.unlink()
    batches = poll(source, cursor)
    assert sorted(removed(batches)) == sorted(f"f{n}.ics#f{n}@example.com#" for n in range(7))
    assert all(len(b.items) + len(b.removed) <= 3 for b in batches)
    assert batches[-1].done and len(batches) >= 3
    assert removed(poll(source, batches[-1].cursor)) == []
