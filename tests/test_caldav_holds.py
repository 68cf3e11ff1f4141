"""CalDAV holds that another client moved (same UID and X-SYNC-KEY, a different href) are
still the same hold: found, never made twice, withdrawn where they now are. Real Radicale."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import HoldSpec
from connectors.caldav import CalDavSettings, CalDavSource
from connectors.ics_holds import hold_uid
from tests.radicale import Radicale, make_calendar, move

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
USER, PASSWORD = "alex", "secret"


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


def source(
    server: Radicale, calendar: str | None, user: str = USER, pw: str = PASSWORD
) -> CalDavSource:
    settings = CalDavSettings(url=server.url, username=user, password=pw, calendar=calendar)
    return CalDavSource(settings, clock=lambda: NOW)


def hrefs(src: CalDavSource, url: str) -> list[str]:
    """Every object's href in the calendar at `url` with an instance near NOW."""
    window = (NOW - timedelta(days=30), NOW + timedelta(days=30))
    return sorted(o.href for o in src._query(url, *window))


def test_a_hold_moved_to_another_href_is_found_and_not_made_again(radicale: Radicale) -> None:
    name = f"cal-{uuid.uuid4().hex[:10]}"
    client, url = make_calendar(radicale, USER, PASSWORD, name)
    created = source(radicale, name).create_hold(spec("moved", 10))
    kept = source(radicale, name).create_hold(spec("kept", 14))
    # A client renames the resource: same body (UID, X-SYNC-KEY), a new href.
    move(client, radicale.url.rstrip("/") + created.ref, url + "renamed-by-client.ics")
    new_ref = f"/{USER}/{name}/renamed-by-client.ics"

    fresh = source(radicale, name)  # a new process: nothing remembered
    found = fresh.find_hold("moved")
    assert found is not None, "the moved hold was not found"
    assert found.ref == new_ref and found.fingerprint == created.fingerprint
    assert fresh.create_hold(spec("moved", 10)) == found
    assert hrefs(fresh, url) == sorted([new_ref, kept.ref])
    assert fresh.hold_state("moved", created.fingerprint) == "untouched"
    assert fresh.find_hold("never-made") is None

    # Withdrawn: it is removed where it now is, and only it.
    assert fresh.remove_hold("moved", created.fingerprint) is True
    assert fresh.find_hold("moved") is None
    assert hrefs(fresh, url) == [kept.ref]


def test_a_hold_moved_to_another_calendar_that_is_read_is_found(radicale: Radicale) -> None:
    user = f"u{uuid.uuid4().hex[:8]}"
    users = radicale.base / "users"
    users.write_text(users.read_text() + f"{user}:pw\n")
    client, first = make_calendar(radicale, user, "pw", "a-holds")
    _client, second = make_calendar(radicale, user, "pw", "b-work")
    src = source(radicale, None, user, "pw")  # reads both; holds go to the first
    created = src.create_hold(spec("elsewhere", 11))
    assert created.ref == f"/{user}/a-holds/{hold_uid('elsewhere').replace('@', '%40')}.ics"
    move(client, first + created.ref.rsplit("/", 1)[1], second + "theirs.ics")

    fresh = source(radicale, None, user, "pw")
    found = fresh.find_hold("elsewhere")
    assert found is not None and found.ref == f"/{user}/b-work/theirs.ics"
    assert fresh.create_hold(spec("elsewhere", 11)) == found
    assert hrefs(fresh, first) == [] and hrefs(fresh, second) == [found.ref]
