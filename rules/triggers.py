"""When each rule kind fires: candidates with their key, natural due time and subject.

One function per `RuleKind` turns a snapshot into `Candidate`s. A trigger only decides that
the rule's reason holds *now* and what the action is about; the constraints every action
respects (do-not-contact, noise, snooze, open and dismissed actions, caps, working hours)
are applied by `rules.plan`. Internal contacts (colleagues) get cadence, dormant and date
actions; `no_reply` never follows up with them, and `after_meeting` only when the rule says
`external_only = false`.

`Env` is the per-call context: the owner's zone, `now`, and caches (time zones by name,
working windows by day) so that nothing is constructed per contact in a loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfoNotFoundError

from rules.model import (
    ContactDate,
    ContactSnap,
    MeetingSnap,
    RuleKind,
    RuleSpec,
    SentMail,
    Snapshot,
    WorkingTime,
)
from rules.timeutil import (
    add_business_days,
    business_day_after,
    is_working_day,
    next_working_start,
    overlap_window,
    wall,
    working_window,
    zone,
)

MAX_KEY = 300  # keys are shorter than this
MEETING_LOOKBACK = timedelta(days=14)  # after_meeting: meetings that ended within this


@dataclass(frozen=True, slots=True)
class Occurrence:
    """A contact date's next occurrence (on or after today in the contact's zone)."""

    spec: ContactDate
    on: date
    planning_day: date

    @property
    def years(self) -> int | None:
        if self.spec.year is None or self.on.year <= self.spec.year:
            return None
        return self.on.year - self.spec.year


Subject = SentMail | MeetingSnap | Occurrence | None


# Not frozen: a plan makes one per contact a rule looks at (25,000 over 50,000 contacts),
# and a frozen dataclass sets each field through object.__setattr__, which made building
# them cost several times more. Nothing keeps or hashes one past `plan`.
@dataclass(slots=True)
class Candidate:
    """An action a rule wants, before the constraints and caps are applied."""

    rule: RuleSpec
    order: int  # the rule's position in the config
    contact: ContactSnap
    key: str
    due: datetime  # not before this (not yet fitted to working hours)
    rank: tuple[float, str]  # among one rule's candidates for one contact, the lowest wins
    about: Subject = None  # the mail, meeting or date this is about


class Env:
    """What every trigger and the scheduler share for one `plan` call."""

    def __init__(self, snapshot: Snapshot, now: datetime) -> None:
        self.snapshot = snapshot
        self.owner = snapshot.owner
        self.work = snapshot.owner.work
        self.quiet = snapshot.owner.quiet_dates
        self.now = now
        self.zone = zone(self.work.timezone)
        self.today = now.astimezone(self.zone).date()
        self.yesterday = self.today - timedelta(days=1) if self.today > date.min else self.today
        self.tomorrow = self.today + timedelta(days=1) if self.today < date.max else self.today
        self._zones: dict[str | None, tzinfo] = {None: self.zone}
        self._today: dict[tzinfo, date] = {self.zone: self.today}
        self._working: dict[int, bool] = {}
        self._windows: dict[tuple[int, WorkingTime | None], tuple[datetime, datetime] | None] = {}
        self._fits: dict[
            tuple[datetime, tzinfo | None, WorkingTime | None], tuple[datetime, int]
        ] = {}
        self._business: dict[tuple[date, int], date] = {}
        self._fit_now: tuple[datetime, int] | None = None
        self._limit = 7 * (len(self.quiet) + 2)
        if not self.work.days:
            raise ValueError("the owner has no working days: nothing could ever be due")

    def contact_zone(self, contact: ContactSnap) -> tzinfo:
        """The contact's zone, or the owner's when unknown or not a valid IANA name."""
        name = contact.timezone
        tz = self._zones.get(name)
        if tz is None:
            try:
                tz = zone(name) if name else self.zone
            except (ZoneInfoNotFoundError, ValueError):
                tz = self.zone
            self._zones[name] = tz
        return tz

    def today_in(self, tz: tzinfo) -> date:
        day = self._today.get(tz)
        if day is None:
            day = self._today[tz] = self.now.astimezone(tz).date()
        return day

    def deadline_passed(self, start: datetime, n: int) -> bool:
        """`add_business_days(start, n) <= now`. The day it lands on depends only on
        `start`'s local date (cached: thousands of mails share a few weeks of dates); only
        when that day is within a day of today is the instant itself compared."""
        if n > 0 and start.utcoffset() is not None:
            sent_on = start.astimezone(self.zone).date()
            day = self._business.get((sent_on, n))
            if day is None:
                day = business_day_after(sent_on, n, self.work, self.quiet, start)
                self._business[(sent_on, n)] = day
            if day < self.yesterday:
                return True
            if day > self.tomorrow:
                return False
        return add_business_days(start, n, self.work, self.quiet) <= self.now

    def local(self, dt: datetime) -> datetime:
        return dt.astimezone(self.zone)

    def ordinal(self, dt: datetime) -> int:
        """The owner's local date of `dt`, as a proleptic ordinal (Monday 0001-01-01 is 1)."""
        return dt.astimezone(self.zone).toordinal()

    def is_working(self, ordinal: int) -> bool:
        working = self._working.get(ordinal)
        if working is None:
            d = date.fromordinal(ordinal)
            working = is_working_day(d, self.work, self.quiet) and (
                working_window(d, self.work) is not None
            )
            self._working[ordinal] = working
        return working

    def window(self, ordinal: int, theirs: WorkingTime | None) -> tuple[datetime, datetime] | None:
        """Where a due time goes on the owner's day `ordinal`: the overlap of both working
        windows when the contact's hours are known and overlap, else the owner's hours;
        None on a day off or a quiet date."""
        cache_key = (ordinal, theirs)
        if cache_key in self._windows:
            return self._windows[cache_key]
        result = None
        if self.is_working(ordinal):
            d = date.fromordinal(ordinal)
            if theirs is not None:
                result = overlap_window(d, self.work, theirs)
            if result is None:
                result = working_window(d, self.work)
        self._windows[cache_key] = result
        return result

    def fit(self, dt: datetime, theirs: WorkingTime | None) -> tuple[datetime, int]:
        """The first instant at or after `dt` inside that day's window (see `window`), and
        that day (an ordinal of the owner's local date).

        Most candidates are due `now`: each (instant, zone, hours) is fitted once. The zone
        is in the key since equal instants in other zones print differently. `now` itself
        without hours of their own (most of them) skips hashing the key."""
        if dt is self.now and theirs is None:
            if self._fit_now is None:
                self._fit_now = self._fit(dt, None)
            return self._fit_now
        cache_key = (dt, dt.tzinfo, theirs)
        found = self._fits.get(cache_key)
        if found is None:
            found = self._fits[cache_key] = self._fit(dt, theirs)
        return found

    def _fit(self, dt: datetime, theirs: WorkingTime | None) -> tuple[datetime, int]:
        ordinal = self.ordinal(dt)
        for _ in range(self._limit):
            w = self.window(ordinal, theirs)
            if w is not None and dt < w[1]:
                return (dt if dt >= w[0] else w[0]), ordinal
            ordinal += 1
        raise ValueError(f"no working time found after {dt.isoformat()}")


def make_key(rule: str, contact_id: int, period: str) -> str:
    key = f"{rule}:{contact_id}:{period}"
    if len(key) >= MAX_KEY:
        digest = hashlib.sha256(period.encode("utf-8")).hexdigest()[:16]
        key = f"{rule}:{contact_id}:{digest}"
    return key


def _tier_ok(rule: RuleSpec, contact: ContactSnap) -> bool:
    return rule.tiers is None or contact.tier in rule.tiers


def cadence_due_date(contact: ContactSnap, env: Env) -> date | None:
    """The owner's local date on which the contact becomes due: the last interaction's
    date plus the cadence in calendar days (None without an interaction or a cadence)."""
    last, days = contact.last_interaction_at, contact.cadence_days
    if last is None or days is None:
        return None
    try:
        return last.astimezone(env.zone).date() + timedelta(days=days)
    except OverflowError:
        return date.max


def cadence(rule: RuleSpec, order: int, env: Env) -> Iterator[Candidate]:
    now, today = env.now, env.today
    for c in env.snapshot.contacts.values():
        if c.cadence_days is None or c.cadence_days <= 0 or not _tier_ok(rule, c):
            continue
        if c.next_meeting_at is not None:
            continue  # a meeting is booked: that is the next interaction
        last = c.last_interaction_at
        if last is None:
            period = "new"
        else:
            became = cadence_due_date(c, env)
            assert became is not None
            if became > today:
                continue
            # Due that day at the local time of the last interaction.
            if became == today and wall(became, last.astimezone(env.zone).time(), env.zone) > now:
                continue
            period = became.isoformat()
        key = make_key(rule.name, c.id, period)
        yield Candidate(rule, order, c, key, now, (0.0, key))


def business_deadline(mail: SentMail, rule: RuleSpec, env: Env) -> datetime:
    return add_business_days(mail.sent_at, rule.business_days, env.work, env.quiet)


def no_reply(rule: RuleSpec, order: int, env: Env) -> Iterator[Candidate]:
    contacts, now = env.snapshot.contacts, env.now
    for mail in env.snapshot.sent:
        if mail.answered_at is not None:
            continue
        c = contacts.get(mail.contact_id)
        if c is None or c.internal:
            continue
        if not env.deadline_passed(mail.sent_at, rule.business_days):
            continue  # `business_deadline(mail, rule, env) > now`
        key = make_key(rule.name, c.id, mail.message_key)
        yield Candidate(rule, order, c, key, now, (mail.sent_at.timestamp(), key), mail)


def after_meeting(rule: RuleSpec, order: int, env: Env) -> Iterator[Candidate]:
    contacts, now = env.snapshot.contacts, env.now
    since = now - MEETING_LOOKBACK
    for m in env.snapshot.meetings:
        if m.end > now or m.end < since or m.emailed_after:
            continue
        c = contacts.get(m.contact_id)
        if c is None or (rule.external_only and (c.internal or not m.external)):
            continue
        morning = next_working_start(m.end, env.work, env.quiet)
        key = make_key(rule.name, c.id, m.meeting_key)
        # The latest meeting wins: a recap of an older one would be stale.
        yield Candidate(rule, order, c, key, max(morning, now), (-m.end.timestamp(), key), m)


def dormant(rule: RuleSpec, order: int, env: Env) -> Iterator[Candidate]:
    now = env.now
    quiet_for = timedelta(days=rule.after_days)
    for c in env.snapshot.contacts.values():
        last = c.last_interaction_at
        if not c.two_way or last is None or not _tier_ok(rule, c):
            continue
        if c.next_meeting_at is not None or now - last <= quiet_for:
            continue
        period = last.astimezone(env.zone).date().isoformat()
        key = make_key(rule.name, c.id, period)
        yield Candidate(rule, order, c, key, now, (0.0, key))


def occurrence_in(cd: ContactDate, year: int) -> date | None:
    """The date in `year` (Feb 29 is Feb 28 in other years); None if it cannot exist."""
    day = cd.day
    if cd.month == 2 and day == 29 and not _leap(year):
        day = 28
    try:
        return date(year, cd.month, day)
    except ValueError:
        return None


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def next_occurrence(cd: ContactDate, today: date) -> date | None:
    """The first occurrence on or after `today`."""
    this_year = occurrence_in(cd, today.year)
    if this_year is not None and this_year >= today:
        return this_year
    return occurrence_in(cd, today.year + 1) if today.year < date.max.year else None


def slug(text: str) -> str:
    """'Company founded!' → 'company-founded' (letters and digits, '-' between words)."""
    cleaned = "".join(ch if ch.isalnum() else " " for ch in text.lower())
    return "-".join(cleaned.split()) or "date"


def date_period(occ: Occurrence) -> str:
    kind = occ.spec.kind
    if kind == "custom":
        return f"custom:{slug(occ.spec.label or '')}:{occ.on.isoformat()}"
    return f"{kind}:{occ.on.isoformat()}"


def dates(rule: RuleSpec, order: int, env: Env) -> Iterator[Candidate]:
    now, ahead = env.now, timedelta(days=rule.after_days)
    for c in env.snapshot.contacts.values():
        if not c.dates:
            continue
        tz = env.contact_zone(c)
        today = env.today_in(tz)
        for cd in c.dates:
            if cd.kind not in rule.date_kinds:
                continue
            on = next_occurrence(cd, today)
            if on is None:
                continue
            try:
                planning_day = on - ahead
            except OverflowError:
                continue
            if planning_day > today:
                continue
            occ = Occurrence(cd, on, planning_day)
            key = make_key(rule.name, c.id, date_period(occ))
            # From the planning day's first moment in the contact's zone; `plan` moves it
            # to the owner's working hours.
            start = wall(planning_day, time(0), tz)
            yield Candidate(rule, order, c, key, max(start, now), (float(on.toordinal()), key), occ)


Trigger = Callable[[RuleSpec, int, Env], Iterator[Candidate]]
TRIGGERS: dict[RuleKind, Trigger] = {
    "cadence": cadence,
    "no_reply": no_reply,
    "after_meeting": after_meeting,
    "dormant": dormant,
    "date": dates,
}
