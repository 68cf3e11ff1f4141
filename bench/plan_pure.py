#!/usr/bin/env python3
"""How long the pure planner, `rules.plan.plan`, takes over a large synthetic snapshot.

(bench/plan.py measures the whole `syncd plan`, store reads included.)

The snapshot has N contacts (default 50,000) in a mix that exercises every rule kind:
about 60% with a cadence (from 7 to 180 days), a third two-way, one in five with working
hours in another time zone, one in four with a birthday or anniversary, some do-not-contact,
noise, snoozed or with a meeting booked; plus N/10 unanswered or answered sent mails,
N/25 recent meetings and N/25 existing actions in every state. It depends only on --n and
--seed, and `now` is fixed, so two runs plan the same thing.

Each configuration is planned --repeat times; the minimum and the median wall time are
printed. "default caps" is the realistic case (10 a day, 30 a week: most candidates are
deferred); "no caps" builds every action, drafts and their template contexts included.

Examples:
  python bench/plan_pure.py
  python bench/plan_pure.py --n 200000 --repeat 3
"""

from __future__ import annotations

import argparse
import random
import statistics
import time as clock
from datetime import UTC, date, datetime, time, timedelta

from rules.model import (
    ActionState,
    ContactDate,
    ContactSnap,
    DateKind,
    ExistingAction,
    Limits,
    MeetingSnap,
    OwnerInfo,
    RuleSpec,
    SentMail,
    Snapshot,
    WorkingTime,
)
from rules.plan import plan

NOW = datetime(2026, 10, 26, 9, 30, tzinfo=UTC)  # the Monday after the October change
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Tokyo", "Europe/London"]
RULES = (
    RuleSpec("keep-in-touch", "cadence", "draft"),
    RuleSpec("no-reply", "no_reply", "draft", business_days=3),
    RuleSpec("thanks", "after_meeting", "draft"),
    RuleSpec("wake-up", "dormant", "hold", after_days=180),
    RuleSpec("dates", "date", "draft", after_days=3),
)
STATES: list[ActionState] = ["planned", "executing", "created", "failed", "dismissed", "skipped"]


def snapshot(n: int, seed: int) -> Snapshot:
    rnd = random.Random(seed)
    owner = OwnerInfo(
        name="Alex Morgan",
        address="alex@example.com",
        addresses=frozenset({"alex@example.com"}),
        domains=frozenset({"example.com"}),
        work=WorkingTime("Europe/Berlin", time(9), time(17, 30)),
        quiet_dates=frozenset({date(2026, 10, 28), date(2026, 12, 24), date(2026, 12, 25)}),
    )
    contacts: dict[int, ContactSnap] = {}
    for cid in range(1, n + 1):
        last = (
            NOW - timedelta(minutes=rnd.randrange(0, 400 * 24 * 60)) if rnd.random() < 0.9 else None
        )
        zone = rnd.choice(ZONES) if rnd.random() < 0.3 else None
        work = WorkingTime(zone, time(9), time(17)) if zone and rnd.random() < 0.6 else None
        dates: tuple[ContactDate, ...] = ()
        if rnd.random() < 0.25:
            kinds: list[DateKind] = ["birthday", "anniversary"]
            day = date(2024, 1, 1) + timedelta(days=rnd.randrange(366))
            year = rnd.choice([None, 1980])
            dates = (ContactDate(rnd.choice(kinds), day.month, day.day, year),)
        contacts[cid] = ContactSnap(
            id=cid,
            name=f"Contact {cid}",
            email=f"c{cid}@example.org",
            tier=rnd.choice(["key", "regular", None]),
            cadence_days=rnd.choice([7, 14, 30, 90, 180]) if rnd.random() < 0.6 else None,
            timezone=zone,
            work=work,
            do_not_contact=rnd.random() < 0.02,
            snoozed_until=NOW + timedelta(days=5) if rnd.random() < 0.03 else None,
            internal=rnd.random() < 0.1,
            noise=rnd.random() < 0.05,
            last_interaction_at=last,
            last_outbound_at=last,
            two_way=rnd.random() < 0.35,
            next_meeting_at=NOW + timedelta(days=4) if rnd.random() < 0.05 else None,
            dates=dates,
        )
    sent = tuple(
        SentMail(
            contact_id=rnd.randrange(1, n + 1),
            message_key=f"mid:{i}@example.com",
            message_id=f"{i}@example.com",
            references=(f"root-{i}@example.org",),
            subject=f"Question {i}",
            thread_key=f"root-{i}@example.org",
            thread_id=None,
            account="work",
            sent_at=NOW - timedelta(minutes=rnd.randrange(0, 45 * 24 * 60)),
            answered_at=NOW - timedelta(hours=1) if rnd.random() < 0.5 else None,
        )
        for i in range(n // 10)
    )
    meetings = []
    for i in range(n // 25):
        end = NOW - timedelta(minutes=rnd.randrange(-5 * 24 * 60, 20 * 24 * 60))
        meetings.append(
            MeetingSnap(
                contact_id=rnd.randrange(1, n + 1),
                meeting_key=f"ical:{i}",
                subject=f"Meeting {i}",
                start=end - timedelta(hours=1),
                end=end,
                account="work",
                external=rnd.random() < 0.8,
                emailed_after=rnd.random() < 0.4,
            )
        )
    actions = []
    for i in range(n // 25):
        rule = rnd.choice(RULES).name
        cid = rnd.randrange(1, n + 1)
        due = NOW + timedelta(minutes=rnd.randrange(-10 * 24 * 60, 10 * 24 * 60))
        actions.append(
            ExistingAction(
                f"{rule}:{cid}:old{i}",
                rule,
                "draft",
                cid,
                rnd.choice(STATES),
                due,
                due - timedelta(days=rnd.randrange(0, 30)),
            )
        )
    return Snapshot(owner, contacts, sent, tuple(meetings), tuple(actions), "work")


def measure(s: Snapshot, limits: Limits, repeat: int) -> tuple[float, float, int, int]:
    times = []
    result = None
    for _ in range(repeat):
        started = clock.perf_counter()
        result = plan(s, NOW, RULES, limits)
        times.append(clock.perf_counter() - started)
    assert result is not None
    return min(times), statistics.median(times), len(result.actions), len(result.deferred)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="contacts (default 50,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    started = clock.perf_counter()
    s = snapshot(args.n, args.seed)
    print(
        f"snapshot: {args.n:,} contacts, {len(s.sent):,} sent, {len(s.meetings):,} meetings,"
        f" {len(s.actions):,} actions (built in {clock.perf_counter() - started:.2f} s)"
    )
    for label, limits in (
        ("default caps", Limits()),
        ("no caps", Limits(per_day=10**9, per_week=10**9)),
    ):
        best, median, planned, deferred = measure(s, limits, args.repeat)
        print(
            f"{label:>12}: min {best:.3f} s, median {median:.3f} s"
            f" ({planned:,} planned, {deferred:,} deferred)"
        )


if __name__ == "__main__":
    main()
