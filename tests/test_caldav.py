"""The CalDAV source and hold sink against a real Radicale on 127.0.0.1."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from caldav.davclient import DAVClient

from connectors.base import (
    AuthFailed,
    Batch,
    CursorExpired,
    HoldSink,
    HoldSpec,
    RawEvent,
    Source,
    SourceUnavailable,
    StreamInfo,
)
from connectors.caldav import CalDavSettings, CalDavSource
from connectors.ics_holds import hold_uid
from tests.radicale import Radicale, radicale  # noqa: F401  # the fixture

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
USER, PASSWORD = "alex", "secret"


def vevent(uid: str, start: datetime, *extra: str, minutes: int = 30) -> str:
    end = start + timedelta(minutes=minutes)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//test//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260101T000000Z",
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
        f"DTEND:{end:%Y%m%dT%H%M%SZ}",
        f"SUMMARY:{uid}",
        "ORGANIZER:mailto:alex@example.com",
        *extra,
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


@dataclass
class Calendar:
    """A fresh calendar on the shared server, written with a client of its own."""

    server: Radicale
    name: str
    client: DAVClient
    url: str
    hrefs: dict[str, str] = field(default_factory=dict)

    def put(self, uid: str, ics: str) -> str:
        url = f"{self.url}{uid}.ics"
        response = self.client.put(url, ics, {"Content-Type": "text/calendar; charset=utf-8"})
        assert response.status in (201, 204), response.status
        self.hrefs[uid] = url.split("//", 1)[1].split("/", 1)[1]
        return "/" + self.hrefs[uid]

    def delete(self, uid: str) -> None:
        response = self.client.delete(f"{self.url}{uid}.ics")
        assert response.status in (200, 204), response.status

    def href(self, uid: str) -> str:
        return f"/{USER}/{self.name}/{uid}.ics"

    def source(self, **kwargs: Any) -> CalDavSource:
        settings = CalDavSettings(
            url=self.server.url, username=USER, password=PASSWORD, calendar=self.name, **kwargs
        )
        return CalDavSource(settings, clock=lambda: NOW)


@pytest.fixture
def calendar(radicale: Radicale) -> Calendar:  # noqa: F811
    name = f"cal-{uuid.uuid4().hex[:10]}"
    client = DAVClient(radicale.url, username=USER, password=PASSWORD, timeout=30)
    made = client.principal().make_calendar(name=name, cal_id=name)  # type: ignore[no-untyped-call]
    url = str(made.url)
    return Calendar(radicale, name, client, url if url.endswith("/") else url + "/")


class Counter:
    def __init__(self, source: CalDavSource) -> None:
        self.requests: list[tuple[str, str]] = []
        session = source._client().session
        original = session.request

        def counting(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            self.requests.append((method, url))
            return original(method, url, *args, **kwargs)

        session.request = counting  # type: ignore[method-assign]

    @property
    def count(self) -> int:
        return len(self.requests)


def drain(
    source: CalDavSource, cursor: str | None, *, now: datetime = NOW, full: bool = False
) -> tuple[list[RawEvent], list[str], str | None, list[Batch]]:
    stream = StreamInfo(name=source.settings.calendar or "", kind="calendar")
    batches = list(source.poll(stream, cursor, now=now, full=full))
    assert batches and batches[-1].done and not any(b.done for b in batches[:-1])
    items = [i for b in batches for i in b.items if isinstance(i, RawEvent)]
    removed = [r for b in batches for r in b.removed]
    return items, removed, batches[-1].cursor, batches


def test_is_a_source_and_a_hold_sink(calendar: Calendar) -> None:
    source = calendar.source()
    assert isinstance(source, Source) and isinstance(source, HoldSink)
    assert source.streams() == [StreamInfo(name=calendar.name, kind="calendar")]


def test_initial_sync_expands_recurring_in_a_few_requests(calendar: Calendar) -> None:
    calendar.put("single", vevent("single", NOW + timedelta(days=2)))
    calendar.put("weekly", vevent("weekly", NOW - timedelta(days=7), "RRULE:FREQ=WEEKLY;COUNT=4"))
    calendar.put("ancient", vevent("ancient", NOW - timedelta(days=800)))
    calendar.put("far", vevent("far", NOW + timedelta(days=200)))
    source = calendar.source()
    counter = Counter(source)
    items, removed, cursor, _ = drain(source, None)
    by_id = {e.provider_id: e for e in items}
    href = calendar.href("weekly")
    weekly = sorted(e.start for e in items if e.uid == "weekly")
    assert weekly == [NOW + timedelta(days=7 * k) for k in range(-1, 3)]
    assert f"{href}#weekly#{(NOW - timedelta(days=7)).isoformat()}" in by_id
    assert {e.uid for e in items} == {"single", "weekly"}
    assert by_id[f"{calendar.href('single')}#single#"].calendar == calendar.name
    assert removed == []
    assert counter.count <= 6, counter.requests
    assert not any(method == "GET" for method, _url in counter.requests)
    state = json.loads(cursor or "")
    assert state["v"] == 1 and state["token"]
    assert len(state["upcoming"][href]) == 2  # started instances are not upcoming


def test_initial_sync_of_5000_events_takes_at_most_10_requests(radicale: Radicale) -> None:  # noqa: F811
    name = f"big-{uuid.uuid4().hex[:8]}"
    folder = radicale.collections / "collection-root" / USER / name
    folder.mkdir(parents=True)
    (folder / ".Radicale.props").write_text(json.dumps({"tag": "VCALENDAR", "D:displayname": name}))
    for i in range(5000):
        start = NOW - timedelta(days=100) + timedelta(minutes=37 * i)
        (folder / f"e{i}.ics").write_text(vevent(f"e{i}", start), newline="")
    # Radicale builds the whole 5,000-event answer before sending a byte: on a busy CI
    # machine (parallel test workers) that can pass the default 30 s read timeout.
    source = CalDavSource(
        CalDavSettings(
            url=radicale.url, username=USER, password=PASSWORD, calendar=name, timeout=180
        )
    )
    counter = Counter(source)
    items, _removed, cursor, batches = drain(source, None)
    assert len({e.provider_id for e in items}) == 5000
    assert counter.count <= 10, counter.requests
    assert cursor is not None and all(b.cursor is None for b in batches[:-1])
    assert sum(b.read for b in batches) == 5000
    print(f"5000-event initial sync: {counter.count} requests: {counter.requests}")


def test_incremental_sync_reports_only_changes(calendar: Calendar) -> None:
    for uid in ("keep", "edit", "gone"):
        calendar.put(uid, vevent(uid, NOW + timedelta(days=3)))
    source = calendar.source()
    _items, _removed, cursor, _ = drain(source, None)

    counter = Counter(source)
    items, removed, cursor2, _ = drain(source, cursor)
    assert (items, removed) == ([], [])
    assert counter.count <= 2

    calendar.put("new", vevent("new", NOW + timedelta(days=4)))
    calendar.put("edit", vevent("edit", NOW + timedelta(days=5)))
    calendar.delete("gone")
    items, removed, cursor3, _ = drain(source, cursor2)
    assert sorted((e.uid, e.start) for e in items) == [
        ("edit", NOW + timedelta(days=5)),
        ("new", NOW + timedelta(days=4)),
    ]
    assert removed == [f"{calendar.href('gone')}#gone#"]
    assert drain(source, cursor3)[:2] == ([], [])


def test_a_recurring_series_cut_short_reports_the_lost_instances(calendar: Calendar) -> None:
    calendar.put("series", vevent("series", NOW + timedelta(days=1), "RRULE:FREQ=DAILY;COUNT=3"))
    source = calendar.source()
    _items, _removed, cursor, _ = drain(source, None)
    calendar.put("series", vevent("series", NOW + timedelta(days=1), "RRULE:FREQ=DAILY;COUNT=1"))
    items, removed, _cursor, _ = drain(source, cursor)
    href = calendar.href("series")
    assert len(items) == 1
    assert sorted(removed) == [
        f"{href}#series#{(NOW + timedelta(days=d)).isoformat()}" for d in (2, 3)
    ]


def test_an_invalid_sync_token_expires_the_cursor(calendar: Calendar) -> None:
    calendar.put("one", vevent("one", NOW))
    source = calendar.source()
    _items, _removed, cursor, _ = drain(source, None)
    state = json.loads(cursor or "")
    state["token"] = "http://radicale.org/ns/sync/" + "0" * 64
    with pytest.raises(CursorExpired):
        drain(source, json.dumps(state))
    with pytest.raises(CursorExpired):
        drain(source, "not json")
    # full=True ignores the cursor
    assert [e.uid for e in drain(source, json.dumps(state), full=True)[0]] == ["one"]


def test_wrong_password_is_auth_failed(calendar: Calendar) -> None:
    settings = CalDavSettings(url=calendar.server.url, username=USER, password="wrong")
    with pytest.raises(AuthFailed):
        CalDavSource(settings).streams()


def test_no_server_is_source_unavailable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = CalDavSettings(
        url=f"http://127.0.0.1:{port}/", username=USER, password=PASSWORD, timeout=5
    )
    with pytest.raises(SourceUnavailable):
        CalDavSource(settings).streams()


def spec(key: str, hour: int) -> HoldSpec:
    start = NOW.replace(hour=hour) + timedelta(days=1)
    return HoldSpec(
        key=key,
        summary=f"Hold {key}",
        description="held by syncd",
        start=start,
        end=start + timedelta(hours=1),
        timezone="Europe/Berlin",
    )


def objects_in(calendar: Calendar) -> list[str]:
    source = calendar.source()
    return [
        o.href
        for o in source._query(calendar.url, NOW - timedelta(days=30), NOW + timedelta(days=30))
    ]


def test_holds_are_created_exactly_once(calendar: Calendar) -> None:
    source = calendar.source()
    first = source.create_hold(spec("k1", 10))
    again = source.create_hold(spec("k1", 10))
    assert first == again
    assert first.ref == f"/{USER}/{calendar.name}/{hold_uid('k1').replace('@', '%40')}.ics"
    assert objects_in(calendar) == [first.ref]
    assert calendar.source().find_hold("k1") == first
    assert calendar.source().find_hold("other") is None
    # a lost answer: the PUT happened, find_hold did not see it (412 on replay)
    fresh = calendar.source()
    real_find = fresh.find_hold
    answers = iter([None])
    fresh.find_hold = lambda key: next(answers, None) or real_find(key)  # type: ignore[method-assign]
    assert fresh.create_hold(spec("k1", 10)) == first
    assert objects_in(calendar) == [first.ref]


def test_a_moved_hold_is_changed_and_stays(calendar: Calendar) -> None:
    source = calendar.source()
    created = source.create_hold(spec("moved", 10))
    untouched = source.create_hold(spec("still", 13))
    url = calendar.server.url.rstrip("/") + created.ref
    body = calendar.client.request(url, "GET").raw
    moved_start = (NOW + timedelta(days=1)).replace(hour=10)
    later = (moved_start + timedelta(hours=2)).strftime("%Y%m%dT%H%M%SZ")
    body = body.replace(moved_start.strftime("DTSTART:%Y%m%dT%H%M%SZ"), f"DTSTART:{later}")
    assert later in body
    assert calendar.client.put(url, body, {"Content-Type": "text/calendar"}).status == 204

    assert source.hold_state("moved", created.fingerprint) == "changed"
    assert source.remove_hold("moved", created.fingerprint) is False
    assert source.find_hold("moved") is not None

    assert source.hold_state("still", untouched.fingerprint) == "untouched"
    assert source.remove_hold("still", untouched.fingerprint) is True
    assert source.hold_state("still", untouched.fingerprint) == "gone"
    assert source.find_hold("still") is None
    assert source.remove_hold("still", untouched.fingerprint) is False


def test_busy_counts_events_and_holds(calendar: Calendar) -> None:
    day = NOW + timedelta(days=1)
    calendar.put("meeting", vevent("meeting", day.replace(hour=8), minutes=60))
    calendar.put("maybe", vevent("maybe", day.replace(hour=15), "STATUS:TENTATIVE"))
    calendar.put("free", vevent("free", day.replace(hour=16), "TRANSP:TRANSPARENT"))
    calendar.put("off", vevent("off", day.replace(hour=17), "STATUS:CANCELLED"))
    calendar.put("other-day", vevent("other-day", day + timedelta(days=3)))
    source = calendar.source()
    source.create_hold(spec("busy", 9))  # 09:00-10:00 the same day, touching the meeting
    busy = source.busy(day.replace(hour=0), day.replace(hour=23))
    assert busy == [
        (day.replace(hour=8), day.replace(hour=10)),
        (day.replace(hour=15), day.replace(hour=15, minute=30)),
    ]
    assert all(start.tzinfo == UTC for start, _end in busy)


def test_holds_without_a_calendar_go_to_a_made_one(radicale: Radicale) -> None:  # noqa: F811
    user = f"u{uuid.uuid4().hex[:6]}"
    base = radicale.base / "users"
    text = base.read_text()
    base.write_text(text + f"{user}:pw\n")
    source = CalDavSource(CalDavSettings(url=radicale.url, username=user, password="pw"))
    created = source.create_hold(spec("solo", 11))
    assert created.ref.startswith(f"/{user}/")
    again = CalDavSource(CalDavSettings(url=radicale.url, username=user, password="pw"))
    assert [s.name for s in again.streams()] == ["syncd holds"]
    assert again.find_hold("solo") == created
