"""Google Calendar (issue 12): the full sync's bounded horizon (timeMax) that moves with
time, and a 409 on a hold whose event was deleted restores the hold instead of reporting
a cancelled event as made."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from connectors.gcal import GoogleCalendarSettings, GoogleCalendarSource, hold_event_id
from tests.fake_google import FakeGoogle
from tests.test_gcal import ME, NOW, _hold
from tests.test_gmail import make_api


def _poll(
    source: GoogleCalendarSource, cursor: str | None, now: datetime
) -> tuple[set[str], list[str], str]:
    stream = source.streams()[0]
    batches = list(source.poll(stream, cursor, now=now))
    assert batches[-1].done and all(not b.done for b in batches[:-1])
    ids = {i.provider_id for b in batches for i in b.items}  # type: ignore[union-attr]
    return ids, [r for b in batches for r in b.removed], str(batches[-1].cursor)


def test_the_full_sync_is_bounded_and_the_window_moves_with_time(fake_google: FakeGoogle) -> None:
    cal = fake_google.calendar
    near = cal.add_event("Near", NOW + timedelta(days=10), NOW + timedelta(days=10, hours=1))
    far = cal.add_event("Far", NOW + timedelta(days=150), NOW + timedelta(days=150, hours=1))
    gone = cal.add_event("Gone", NOW + timedelta(days=5), NOW + timedelta(days=5, hours=1))
    endless = cal.add_event(
        "Daily",
        NOW - timedelta(days=2),
        NOW - timedelta(days=2) + timedelta(minutes=15),
        attendees=[(ME, "accepted"), ("tom@example.org", "accepted")],
        recurrence=["RRULE:FREQ=DAILY"],  # no end
    )
    source = GoogleCalendarSource(
        make_api(fake_google),
        GoogleCalendarSettings(horizon=timedelta(days=90), slack=timedelta(days=30)),
    )
    ids, _removed, cursor = _poll(source, None, NOW)
    [full] = fake_google.calls("calendar.events.list")
    assert full.query["timeMax"] == ["2027-03-25T00:00:00Z"]  # today + 90 d + 30 d
    assert near in ids and far not in ids
    daily = {i for i in ids if i.startswith(endless + "_")}
    assert 110 < len(daily) < 125  # instances up to the window's end, not without end
    assert json.loads(cursor)["end"] == "2027-03-25T00:00:00Z"

    # Inside the window: an incremental poll only.
    cal.delete(gone)
    fake_google.clear_log()
    ids, removed, cursor = _poll(source, cursor, NOW + timedelta(days=20))
    assert removed == [gone]
    assert [
        c.query.get("syncToken") is not None for c in fake_google.calls("calendar.events.list")
    ] == [True]

    # A month on, now + horizon passes the end: the old round, then the new window.
    later = NOW + timedelta(days=31)
    fake_google.clear_log()
    ids, removed, cursor = _poll(source, cursor, later)
    calls = fake_google.calls("calendar.events.list")
    assert [("syncToken" in c.query, c.query.get("timeMax")) for c in calls] == [
        (True, None),
        (False, ["2027-04-25T00:00:00Z"]),
    ]
    assert far in ids and json.loads(cursor)["end"] == "2027-04-25T00:00:00Z"


def test_a_409_on_a_deleted_hold_restores_it(fake_google: FakeGoogle) -> None:
    gcal = GoogleCalendarSource(make_api(fake_google))
    spec = _hold()
    gcal.create_hold(spec)
    fake_google.calendar.delete(hold_event_id(spec.key))  # the user deleted it
    assert fake_google.calendar.holds() == [] and gcal.find_hold(spec.key) is None
    made = gcal.create_hold(spec)
    [event] = fake_google.calendar.holds()
    assert event["status"] == "tentative" and event["id"] == made.ref == hold_event_id(spec.key)
    assert gcal.find_hold(spec.key) == made
    assert [c.status for c in fake_google.calls("calendar.events.insert")] == [200, 409]
    assert len(fake_google.calls("calendar.events.update")) == 1


def test_a_deleted_hold_google_will_not_restore_is_made_under_a_second_id(
    fake_google: FakeGoogle,
) -> None:
    gcal = GoogleCalendarSource(make_api(fake_google))
    spec = _hold()
    gcal.create_hold(spec)
    fake_google.calendar.delete(hold_event_id(spec.key))
    fake_google.calendar.restore_refused = True
    made = gcal.create_hold(spec)
    [event] = fake_google.calendar.holds()
    assert event["id"] == made.ref == hold_event_id(spec.key + "#2")
    assert event["extendedProperties"]["private"] == {"syncKey": spec.key}
    assert gcal.create_hold(spec) == made  # found by its key: nothing more is made
    assert len(fake_google.calendar.holds()) == 1


def test_old_cursors_without_an_end_still_poll(fake_google: FakeGoogle) -> None:
    gcal = GoogleCalendarSource(make_api(fake_google))
    _ids, _r, cursor = _poll(gcal, None, NOW)
    old = json.dumps({"v": 1, "sync": json.loads(cursor)["sync"]})
    fake_google.clear_log()
    _poll(gcal, old, NOW + timedelta(days=400))
    assert len(fake_google.calls("calendar.events.list")) == 1
