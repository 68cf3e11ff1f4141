"""Recurrence a stranger can put in the owner's calendar is bounded (issue 13).

The parser refuses series that recur more than once a day, does not expand invitations the
owner has not accepted, caps the instances of one series and spends a per-calendar budget
across a folder; time and memory follow the caps, not the rule.
"""

from __future__ import annotations

import logging
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import StreamInfo
from connectors.ical import DEFAULT_LIMITS, ParsedIcs, RecurrenceLimits, parse_ics
from connectors.ics import IcsFolderSource
from tests.radicale import radicale  # noqa: F401  # the fixture
from tests.test_caldav import NOW as DAV_NOW
from tests.test_caldav import Calendar, calendar, drain  # noqa: F401  # calendar: a fixture
from tests.test_ics import vcalendar, vevent, write

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
OWNER = frozenset({"alex@example.com"})
START = "DTSTART:20240301T090000Z"


def invitation(uid: str, rule: str, partstat: str | None = "ACCEPTED") -> str:
    param = "" if partstat is None else f";PARTSTAT={partstat}"
    return vevent(
        uid,
        START,
        "DURATION:PT30M",
        f"RRULE:{rule}",
        "ORGANIZER:mailto:stranger@example.org",
        f"ATTENDEE{param}:mailto:alex@example.com",
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:stranger@example.org",
    )


def parse(
    *events: str, limits: RecurrenceLimits = DEFAULT_LIMITS, budget: int | None = None
) -> ParsedIcs:
    return parse_ics(
        vcalendar(*events),
        window_start=NOW - timedelta(days=365),
        window_end=NOW + timedelta(days=90),
        limits=limits,
        owner=OWNER,
        budget=budget,
    )


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=MINUTELY",
        "FREQ=SECONDLY;COUNT=1000000",
        "FREQ=HOURLY;INTERVAL=2",
        "FREQ=DAILY;BYHOUR=9,14",
        "FREQ=WEEKLY;BYDAY=MO;BYMINUTE=0,30",
    ],
)
def test_series_recurring_more_than_once_a_day_are_refused_quickly(
    rule: str, caplog: pytest.LogCaptureFixture
) -> None:
    tracemalloc.start()
    started = time.process_time()
    with caplog.at_level(logging.WARNING, logger="connectors.ics"):
        parsed = parse(invitation("hostile", rule))
    elapsed = time.process_time() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert parsed.events == [] and parsed.skipped_events == 1
    refused = [r for r in caplog.records if r.msg == "ics.series.refused"]
    assert [getattr(r, "uid", None) for r in refused] == ["hostile"]
    assert "a day" in str(getattr(refused[0], "reason", ""))
    assert elapsed < 1.0 and peak < 20_000_000


def test_a_refused_series_keeps_its_other_events() -> None:
    parsed = parse(invitation("hostile", "FREQ=MINUTELY"), vevent("plain", START, "DURATION:PT1H"))
    assert [e.uid for e in parsed.events] == ["plain"]


@pytest.mark.parametrize(
    ("partstat", "expanded"),
    [
        ("NEEDS-ACTION", False),
        (None, False),
        ("DECLINED", False),
        ("ACCEPTED", True),
        ("TENTATIVE", True),
    ],
)
def test_an_invitation_is_expanded_only_once_the_owner_accepts(
    partstat: str | None, expanded: bool
) -> None:
    parsed = parse(invitation("invite", "FREQ=DAILY;COUNT=100000", partstat))
    # from 1 March to the window end, 18 June (20 March + 90 days): 110 days
    assert len(parsed.events) == (110 if expanded else 0)
    assert parsed.skipped_events == 0


def test_without_the_owners_addresses_every_series_counts_as_accepted() -> None:
    parsed = parse_ics(
        vcalendar(invitation("invite", "FREQ=DAILY;COUNT=5", "NEEDS-ACTION")),
        window_start=NOW - timedelta(days=365),
        window_end=NOW + timedelta(days=90),
    )
    assert len(parsed.events) == 5


def test_the_owners_own_series_is_expanded() -> None:
    own = vevent(
        "standup",
        START,
        "DURATION:PT15M",
        "RRULE:FREQ=DAILY;COUNT=20",
        "ORGANIZER:mailto:alex@example.com",
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bo@example.org",
    )
    assert len(parse(own).events) == 20


def test_one_series_yields_at_most_its_cap_the_latest_instances(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="connectors.ics"):
        parsed = parse(invitation("daily", "FREQ=DAILY"), limits=RecurrenceLimits(per_event=10))
    assert len(parsed.events) == 10 and parsed.expanded == 10
    assert parsed.events[-1].start.date() == (NOW + timedelta(days=90)).date()
    assert any(r.msg == "ics.series.capped" for r in caplog.records)


def test_the_budget_is_shared_by_the_series_and_spares_single_events() -> None:
    parsed = parse(
        invitation("a", "FREQ=DAILY;COUNT=30"),
        invitation("b", "FREQ=DAILY;COUNT=30"),
        invitation("c", "FREQ=DAILY;COUNT=30"),
        vevent("plain", START, "DURATION:PT1H"),
        budget=45,
    )
    series = [e for e in parsed.events if e.uid != "plain"]
    assert len(series) == 45 and parsed.expanded == 45
    assert any(e.uid == "plain" for e in parsed.events)


def test_the_folder_source_spends_one_budget_per_calendar_per_poll(tmp_path: Path) -> None:
    folder = tmp_path / "cal"
    for n in range(5):
        write(folder / f"{n}.ics", vcalendar(invitation(f"s{n}", "FREQ=DAILY;COUNT=40")))
    source = IcsFolderSource(
        folder, limits=RecurrenceLimits(per_event=1000, per_calendar=100), owner=OWNER
    )
    batches = list(source.poll(StreamInfo("cal", "calendar"), None, now=NOW))
    items = [e for b in batches for e in b.items]
    assert len(items) == 100


def test_a_hostile_folder_costs_what_the_caps_allow(tmp_path: Path) -> None:
    folder = tmp_path / "cal"
    write(folder / "minutely.ics", vcalendar(invitation("m", "FREQ=MINUTELY")))
    write(folder / "secondly.ics", vcalendar(invitation("s", "FREQ=SECONDLY;COUNT=1000000")))
    write(
        folder / "unaccepted.ics",
        vcalendar(invitation("u", "FREQ=MINUTELY;COUNT=100000", "NEEDS-ACTION")),
    )
    write(folder / "daily.ics", vcalendar(invitation("d", "FREQ=DAILY")))
    source = IcsFolderSource(folder, limits=RecurrenceLimits(per_event=50), owner=OWNER)
    tracemalloc.start()
    started = time.process_time()
    batches = list(source.poll(StreamInfo("cal", "calendar"), None, now=NOW))
    elapsed = time.process_time() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    items = [e for b in batches for e in b.items]
    assert {e.uid for e in items} == {"d"} and len(items) == 50
    assert batches[-1].skipped_events == 3  # type: ignore[attr-defined]
    assert elapsed < 2.0 and peak < 50_000_000


# Runs `python -m syncd ARGS…` and, at exit, writes the process's peak RSS (kB) to a file.
_PEAK_RSS = """
import atexit, runpy, sys
out = sys.argv.pop(1)
def peak():
    with open("/proc/self/status") as f, open(out, "w") as o:
        o.write(next(line for line in f if line.startswith("VmHWM:")).split()[1])
atexit.register(peak)
sys.argv[0] = "syncd"
runpy.run_module("syncd", run_name="__main__")
"""


@pytest.mark.e2e
def test_syncd_sync_of_the_probes_folder_stays_within_its_caps(tmp_path: Path) -> None:
    """The probe's three invitations in one .ics folder, through `syncd sync` in a child:
    at most 10 s of CPU, 200 MB of peak RSS and the cap of rows (before: killed at 180 s)."""
    import os
    import sqlite3
    import subprocess
    import sys

    from tests.util import OWNER_TOML, make_maildir

    now = datetime.now(UTC)
    start = (now - timedelta(days=30)).strftime("%Y%m%dT%H%M%SZ")
    folder = tmp_path / "cal"
    for name, rule, partstat in (
        ("minutely", "FREQ=MINUTELY", "ACCEPTED"),
        ("secondly", "FREQ=SECONDLY;COUNT=1000000", "ACCEPTED"),
        ("unaccepted", "FREQ=MINUTELY;COUNT=100000", "NEEDS-ACTION"),
        ("unaccepted-daily", "FREQ=DAILY;COUNT=100000", "NEEDS-ACTION"),
        ("daily", "FREQ=DAILY", "ACCEPTED"),
    ):
        event = invitation(name, rule, partstat).replace(START, f"DTSTART:{start}")
        write(folder / f"{name}.ics", vcalendar(event))
    config = tmp_path / "syncd.toml"
    config.write_text(
        OWNER_TOML + f'[store]\nurl = "sqlite:///{tmp_path / "syncd.db"}"\n'
        "[sync]\ncalendar_max_instances = 50\n"
        f'[[accounts]]\nname = "w"\nkind = "maildir"\npath = "{make_maildir(tmp_path / "m", "INBOX")}"\n'
        f'calendar = {{ kind = "ics", path = "{folder}" }}\n',
        encoding="utf-8",
    )
    log = tmp_path / "sync.log"
    hwm = tmp_path / "vmhwm"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _PEAK_RSS, str(hwm), "--config", str(config), "sync", "--json"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        _pid, raw, usage = os.wait4(proc.pid, 0)  # this child's own usage, not the others'
        proc.returncode = os.waitstatus_to_exitcode(raw)
    assert proc.returncode == 0, log.read_text()
    # The child's own peak (VmHWM of its image): wait4's ru_maxrss also counts the pages of
    # the pytest worker it was started from, which grow with every test the worker ran.
    cpu, rss_mb = usage.ru_utime + usage.ru_stime, int(hwm.read_text()) // 1024
    assert cpu <= 10 and rss_mb <= 200, f"{cpu:.1f} s of CPU, {rss_mb} MB peak RSS"
    with sqlite3.connect(tmp_path / "syncd.db") as db:
        keys = [r[0] for r in db.execute("SELECT message_key FROM interactions")]
    assert {k.split("|")[0] for k in keys} == {"ical:daily"} and len(keys) == 50


@pytest.mark.integration
def test_caldav_applies_the_same_limits(calendar: Calendar) -> None:  # noqa: F811
    """The CalDAV connector parses with the same caps, on a real Radicale."""
    start = f"DTSTART:{(DAV_NOW - timedelta(days=300)):%Y%m%dT%H%M%SZ}"
    for uid, rule, partstat in (
        ("minutely", "FREQ=MINUTELY", "ACCEPTED"),
        ("invite", "FREQ=DAILY", "NEEDS-ACTION"),
        ("daily", "FREQ=DAILY", "ACCEPTED"),
    ):
        ics = vcalendar(invitation(uid, rule, partstat).replace(START, start)).decode()
        calendar.put(uid, ics.replace("PRODID:-//syncd tests//EN\r\n", "PRODID:-//t//EN\r\n"))
    source = calendar.source(limits=RecurrenceLimits(per_event=40, per_calendar=30), owner=OWNER)
    items, _removed, _cursor, _batches = drain(source, None, now=DAV_NOW)
    assert {e.uid for e in items} == {"daily"} and len(items) == 30
