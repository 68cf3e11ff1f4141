"""The Google Calendar connector against the fake Google, through the client libraries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.base import CursorExpired, HoldSpec, RawEvent
from connectors.gcal import GoogleCalendarSettings, GoogleCalendarSource, hold_event_id
from connectors.google_auth import scopes_for
from syncd.config import load_config
from syncd.store.db import Store
from syncd.store.models import Interaction, InteractionSource
from syncd.sync.passes import Syncer, sync_all
from tests.fake_google import FakeGoogle
from tests.test_gmail import _OPEN, make_api
from tests.util import write_config

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ME = "alex@example.com"


@pytest.fixture
def gcal(fake_google: FakeGoogle) -> GoogleCalendarSource:
    return GoogleCalendarSource(make_api(fake_google))


def poll_all(
    source: GoogleCalendarSource, cursor: str | None, **kw: object
) -> tuple[list[RawEvent], list[str], str]:
    stream = source.streams()[0]
    batches = list(source.poll(stream, cursor, now=NOW, **kw))  # type: ignore[arg-type]
    assert batches[-1].done
    items = [i for b in batches for i in b.items]
    assert all(isinstance(i, RawEvent) for i in items)
    return items, [r for b in batches for r in b.removed], str(batches[-1].cursor)  # type: ignore[misc]


def _meeting(fake: FakeGoogle, summary: str, days_ago: float, **kw: object) -> str:
    start = NOW - timedelta(days=days_ago)
    return fake.calendar.add_event(summary, start, start + timedelta(hours=1), **kw)  # type: ignore[arg-type]


def test_full_sync_reads_instances_attendees_and_the_owners_answer(
    fake_google: FakeGoogle, gcal: GoogleCalendarSource
) -> None:
    _meeting(
        fake_google,
        "Kick-off",
        3,
        attendees=[(ME, "accepted"), ("priya@acme.example", "tentative")],
    )
    weekly = _meeting(
        fake_google,
        "Weekly",
        20,
        attendees=[(ME, "needsAction"), ("tom@example.org", "accepted")],
        organizer="tom@example.org",
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=3"],
    )
    _meeting(fake_google, "Too old", 400)
    _meeting(fake_google, "Focus", 1, transparency="transparent", event_type="focusTime")
    gone = _meeting(fake_google, "Gone", 2)
    fake_google.calendar.delete(gone)
    items, removed, cursor = poll_all(gcal, None)
    by = {(e.summary, e.recurrence_id): e for e in items}
    assert {s for s, _ in by} == {"Kick-off", "Weekly", "Focus"} and removed == []
    kick = by[("Kick-off", None)]
    assert {(a.email, a.response, a.is_self) for a in kick.attendees} == {
        (ME, "accepted", True),
        ("priya@acme.example", "tentative", False),
    }
    assert kick.organizer == ME and kick.start == NOW - timedelta(days=3)
    instances = sorted((e for e in items if e.summary == "Weekly"), key=lambda e: e.start)
    assert len(instances) == 3 and len({e.uid for e in instances}) == 1
    assert instances[0].recurrence_id == NOW - timedelta(days=20)
    assert instances[0].provider_id.startswith(weekly + "_")
    assert instances[0].organizer == "tom@example.org"
    focus = by[("Focus", None)]
    assert focus.transparent and focus.event_type == "focusTime"
    assert json.loads(cursor)["sync"]
    listed = fake_google.calls("calendar.events.list")
    assert listed[0].query["singleEvents"] == ["true"] and "timeMin" in listed[0].query


def test_pages_and_the_sync_token_only_at_the_end(fake_google: FakeGoogle) -> None:
    for i in range(7):
        _meeting(fake_google, f"M{i}", i + 1)
    source = GoogleCalendarSource(
        make_api(fake_google), GoogleCalendarSettings(page_size=2, items=3)
    )
    batches = list(source.poll(source.streams()[0], None, now=NOW))
    assert [len(b.items) for b in batches] == [4, 3]
    assert [b.cursor is None for b in batches] == [True, False]  # the token only at the end
    assert len(fake_google.calls("calendar.events.list")) == 4


def test_incremental_costs_one_request_and_reports_changes_and_deletions(
    fake_google: FakeGoogle, gcal: GoogleCalendarSource
) -> None:
    a = _meeting(
        fake_google, "A", 2, attendees=[(ME, "accepted"), ("p@acme.example", "needsAction")]
    )
    b = _meeting(fake_google, "B", 1)
    series = _meeting(fake_google, "S", 10, recurrence=["RRULE:FREQ=DAILY;COUNT=2"])
    _, _, cursor = poll_all(gcal, None)
    fake_google.clear_log()
    items, removed, again = poll_all(gcal, cursor)
    assert items == [] and removed == []
    assert [c.method_id for c in fake_google.log] == ["calendar.events.list"]
    assert "timeMin" not in fake_google.log[0].query

    fake_google.calendar.set_response(a, "p@acme.example", "declined")
    fake_google.calendar.delete(b)
    fake_google.calendar.cancel_instance(series, NOW - timedelta(days=9))
    items, removed, _ = poll_all(gcal, again)
    assert [(e.summary, [x.response for x in e.attendees if not x.is_self]) for e in items] == [
        ("A", ["declined"])
    ]
    assert set(removed) == {b, f"{series}_{NOW - timedelta(days=9):%Y%m%dT%H%M%SZ}"}


def test_expired_sync_token_raises_cursor_expired(
    fake_google: FakeGoogle, gcal: GoogleCalendarSource
) -> None:
    _, _, cursor = poll_all(gcal, None)
    fake_google.calendar.expire_sync_tokens()
    with pytest.raises(CursorExpired, match="fullSyncRequired"):
        poll_all(gcal, cursor)


def test_expired_sync_token_resyncs_the_calendar_without_duplicates(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    state = tmp_path / "state"
    (state / "credentials").mkdir(parents=True)
    token = state / "credentials" / "work.json"
    token.write_text(fake_google.authorized_user(scopes_for(["mail", "calendar"])))
    token.chmod(0o600)
    path = write_config(
        tmp_path / "c.toml",
        f'[store]\nstate_dir = "{state}"\n[sync]\nretry_first_wait = 0.001\n'
        '[[accounts]]\nname = "work"\nkind = "gmail"\ncalendar = { kind = "google" }\n'
        f'[accounts.endpoints]\ngmail = "{fake_google.gmail_endpoint}"\n'
        f'calendar = "{fake_google.calendar_endpoint}"\ntoken_uri = "{fake_google.token_uri}"\n',
    )
    config = load_config(path)
    store = Store(config.store_url)
    store.check_ready()
    syncer = Syncer(store, config, store.ensure_owner("default", NOW))
    _OPEN.append(syncer.connectors)
    for i in range(4):
        _meeting(
            fake_google,
            f"M{i}",
            i + 1,
            attendees=[(ME, "accepted"), (f"p{i}@acme.example", "accepted")],
        )
    sync_all(syncer, now_fn=lambda: NOW)
    with store.session() as s:
        before = s.scalar(select(func.count()).select_from(Interaction))
    assert before == 4
    fake_google.calendar.expire_sync_tokens()
    _meeting(fake_google, "New", 0.5, attendees=[(ME, "accepted"), ("n@acme.example", "accepted")])
    report = sync_all(syncer, now_fn=lambda: NOW)
    cal = next(r for r in report.streams if r.stream == "calendar:primary")
    assert cal.resynced and cal.error is None
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Interaction)) == 5
        assert s.scalar(select(func.count()).select_from(InteractionSource)) == 5


# --------------------------------------------------------------------------- holds


def _hold(key: str = "reconnect:3:2026-05-01", hours: int = 24) -> HoldSpec:
    start = NOW + timedelta(hours=hours)
    return HoldSpec(
        key=key,
        summary="Reconnect with Sophie",
        description="Last talked in March.",
        start=start,
        end=start + timedelta(minutes=30),
        timezone="Europe/Berlin",
    )


def test_a_hold_is_tentative_carries_its_key_and_is_found_again(
    fake_google: FakeGoogle, gcal: GoogleCalendarSource
) -> None:
    spec = _hold()
    made = gcal.create_hold(spec)
    [event] = fake_google.calendar.holds()
    assert event["status"] == "tentative" and event["id"] == hold_event_id(spec.key)
    assert event["extendedProperties"]["private"] == {"syncKey": spec.key}
    assert "attendees" not in event
    assert fake_google.calls("calendar.events.insert")[0].query["sendUpdates"] == ["none"]
    lookup = fake_google.calls("calendar.events.list")[-1]
    assert lookup.query["privateExtendedProperty"] == [f"syncKey={spec.key}"]
    fresh = GoogleCalendarSource(make_api(fake_google))
    assert fresh.find_hold(spec.key) == made
    assert fresh.create_hold(spec) == made
    assert len(fake_google.calendar.holds()) == 1
    assert fresh.find_hold("other:1:x") is None


def test_an_insert_whose_answer_was_lost_is_not_made_twice(
    fake_google: FakeGoogle, gcal: GoogleCalendarSource
) -> None:
    fake_google.inject("calendar.events.insert", drop="after")
    made = gcal.create_hold(_hold())
    assert len(fake_google.calendar.holds()) == 1
    assert [c.status for c in fake_google.calls("calendar.events.insert")] == [0, 409]
    assert gcal.hold_state(_hold().key, made.fingerprint) == "untouched"


def test_hold_state_and_removal(fake_google: FakeGoogle, gcal: GoogleCalendarSource) -> None:
    moved = gcal.create_hold(_hold("k:1:a"))
    kept = gcal.create_hold(_hold("k:1:b", hours=48))
    fake_google.calendar.update_event(
        hold_event_id("k:1:a"),
        start={"dateTime": "2026-11-27T09:00:00Z"},
        end={"dateTime": "2026-11-27T09:30:00Z"},
    )
    assert gcal.hold_state("k:1:a", moved.fingerprint) == "changed"
    assert not gcal.remove_hold("k:1:a", moved.fingerprint)
    assert gcal.remove_hold("k:1:b", kept.fingerprint)
    assert gcal.hold_state("k:1:b", kept.fingerprint) == "gone"
    assert [e["id"] for e in fake_google.calendar.holds()] == [hold_event_id("k:1:a")]


def test_busy_comes_from_freebusy_and_counts_tentative_not_transparent(
    fake_google: FakeGoogle, gcal: GoogleCalendarSource
) -> None:
    _meeting(fake_google, "Busy", -1)  # tomorrow, 12:00-13:00
    _meeting(fake_google, "Free", -2, transparency="transparent")
    gcal.create_hold(_hold(hours=1))  # today 13:00-13:30, tentative
    busy = gcal.busy(NOW, NOW + timedelta(days=3))
    assert busy == [
        (NOW + timedelta(hours=1), NOW + timedelta(hours=1, minutes=30)),
        (NOW + timedelta(days=1), NOW + timedelta(days=1, hours=1)),
    ]
    assert all(s.tzinfo == UTC for s, _ in busy)
    assert fake_google.calls("calendar.freebusy.query")


def test_the_fake_refuses_forbidden_parameters_beside_a_sync_token(
    fake_google: FakeGoogle, gcal: GoogleCalendarSource
) -> None:
    _, _, cursor = poll_all(gcal, None)
    events = gcal.api.service("calendar").events()
    token = json.loads(cursor)["sync"]
    from googleapiclient.errors import HttpError

    with pytest.raises(HttpError) as exc:
        events.list(calendarId="primary", syncToken=token, timeMin="2026-01-01T00:00:00Z").execute()
    assert exc.value.resp.status == 400
