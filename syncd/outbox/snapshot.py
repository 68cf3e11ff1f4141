"""Reading what the rules plan over from the store, never whole histories (the queries are
in syncd/store/snapshot.py).

Per contact its statistics row (syncd/store/stats.py) gives the last interaction in each
direction and whether the relationship was ever two-way, or, where they do not hold as
of `now`, one grouped query over that contact's participations. The owner's mail awaiting
an answer is read only for contacts whose last mail out is in the window and not before
their last mail in, from that mail in on (see `_sent`), and meetings within a few weeks;
so the cost follows the address book and the mail awaiting answers, not the history nor
the window's traffic. `as_of` lets a backtest read the store as it was.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rules.model import (
    OPEN_STATES,
    ContactSnap,
    ExistingAction,
    MeetingSnap,
    OwnerInfo,
    RuleSpec,
    SentMail,
    Snapshot,
    WorkingTime,
)
from rules.model import (
    ContactDate as PlanDate,
)
from rules.timeutil import zone as zone_named
from syncd.config import Config, parse_hours
from syncd.ingest.addresses import OwnerIdentity, address_domain
from syncd.store import snapshot as q

if TYPE_CHECKING:
    from syncd.store.snapshot import Db

WEEKDAY = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
SENT_WINDOW = timedelta(days=45)  # no_reply looks at mail sent in this window
MEETING_BACK = timedelta(days=14)
MEETING_AHEAD = timedelta(days=120)
MEETING_LONGEST = timedelta(days=7)  # as syncd.store.snapshot.meetings bounds the start
ACTIONS_BACK = timedelta(days=400)


def owner_info(config: Config) -> OwnerInfo:
    o = config.owner
    start, end = o.hours
    identity = o.identity()
    return OwnerInfo(
        name=o.name,
        address=o.addresses[0].lower(),
        addresses=identity.addresses,
        domains=identity.domains,
        work=WorkingTime(o.timezone, start, end, frozenset(WEEKDAY[d] for d in o.working_days)),
        quiet_dates=frozenset(config.settings.limits.quiet_dates),
    )


def read_snapshot(
    session: Db,
    owner_id: int,
    config: Config,
    now: datetime,
    *,
    as_of: datetime | None = None,
    include_actions: bool = True,
    rules: Sequence[RuleSpec] | None = None,
) -> Snapshot:
    """The state the rules see at `now` (a backtest passes an earlier `now`).

    With `rules` (and the store's actions), only the contacts those rules could pick or
    whose actions they could withdraw (see `pickable`): `rules.plan` over it with those
    rules gives the plan it gives over every contact.
    """
    at = as_of or now
    owner = owner_info(config)
    identity = config.owner.identity()
    narrow = None
    if rules is not None:
        if not include_actions:
            raise ValueError("read_snapshot(rules=...) needs the store's actions")
        narrow = pickable(config, owner, rules, at)
    contacts, ahead = _contacts(session, owner_id, config, identity, at, narrow)
    actions = _actions(session, owner_id, at) if include_actions else ()
    return Snapshot(
        owner=owner,
        contacts=contacts,
        sent=_sent(session, owner_id, at, contacts, ahead, actions),
        meetings=_meetings(session, owner_id, at, contacts),
        actions=actions,
        default_account=_default_account(config),
    )


def _default_account(config: Config) -> str | None:
    accounts = config.settings.accounts
    return accounts[0].name if accounts else None


def pickable(
    config: Config, owner: OwnerInfo, rules: Sequence[RuleSpec], now: datetime
) -> q.Pickable:
    """Bounds on the contacts `rules` can pick as of `now` (`syncd.store.snapshot.Pickable`),
    from what each trigger in `rules.triggers` asks of a contact. Every bound keeps more
    than the trigger picks, never fewer: local dates (cadence, dates) are read in any zone,
    so each bound has two days to spare."""
    kinds = {r.kind for r in rules}
    tiers: list[tuple[str, datetime]] = []
    if "cadence" in kinds:
        for name, tier in config.settings.tiers.items():
            cadence = tier.cadence_days
            # Due when the last interaction's local date plus the cadence is today at the
            # latest: at most `cadence - 1` days ago in the owner's zone, two spare.
            if cadence > 0 and (bound := _before(now, cadence - 3)) is not None:
                tiers.append((name, bound))
    dormant = [r.after_days for r in rules if r.kind == "dormant"]
    # Picked when `now - last > after`; a date beyond the calendar's start picks nobody.
    quiet = _before(now, min(dormant)) if dormant else None
    days, all_days = _date_days(owner, [r.after_days for r in rules if r.kind == "date"], now)
    return q.Pickable(
        tiers=tuple(tiers),
        own_cadence="cadence" in kinds,
        dormant=quiet,
        waiting_since=now - SENT_WINDOW if "no_reply" in kinds else None,
        # `meetings` reads those that end after now - MEETING_BACK: none lasts a week.
        met_since=now - MEETING_BACK - MEETING_LONGEST if "after_meeting" in kinds else None,
        days=days,
        all_days=all_days,
    )


def _before(now: datetime, days: int) -> datetime | None:
    """`now` less `days` days; None before the calendar's first day."""
    try:
        return now - timedelta(days=days)
    except OverflowError:
        return None


def _date_days(owner: OwnerInfo, aheads: list[int], now: datetime) -> tuple[frozenset[int], bool]:
    """The days (month * 100 + day) on which a date is picked by a date rule looking
    `ahead` days ahead: its next occurrence is from today to today plus `ahead` in the
    contact's zone (any zone's date is within two days of the owner's). True: any day."""
    if not aheads:
        return frozenset(), False
    try:
        today = now.astimezone(zone_named(owner.work.timezone)).date()
        out: set[int] = set()
        for ahead in aheads:
            if ahead + 5 > 366:
                return frozenset(), True
            for offset in range(-2, ahead + 3):
                d = today + timedelta(days=offset)
                out.add(d.month * 100 + d.day)
    except (OverflowError, ValueError, KeyError):
        return frozenset(), True
    if 228 in out:
        out.add(229)  # 29 February falls on the 28th in other years
    return frozenset(out), False


def _contacts(
    session: Db,
    owner_id: int,
    config: Config,
    identity: OwnerIdentity,
    now: datetime,
    narrow: q.Pickable | None = None,
) -> tuple[dict[int, ContactSnap], set[int]]:
    """The contacts, and those whose statistics do not hold as of `now`.

    The statistics row per contact (syncd/store/stats.py); where some participation is
    still ahead of `now` (an upcoming meeting, or a backtest's earlier day) or there is
    no row, the aggregate as of `now` over that contact's participations instead.
    """
    rows = q.contact_rows(session, owner_id, now, narrow)
    exact = q.exact_aggregates(session, owner_id, now, MEETING_AHEAD)
    emails: dict[int, list[str]] = defaultdict(list)
    for cid, addr in q.addresses(session, owner_id):
        emails[cid].append(addr)
    dates: dict[int, list[PlanDate]] = defaultdict(list)
    for cid, kind, month, day, year, label in q.dates(session, owner_id):
        dates[cid].append(PlanDate(kind, month, day, year, label or None))
    tiers = {k: t.cadence_days for k, t in config.settings.tiers.items()}
    internal = _internal_check(identity)
    out: dict[int, ContactSnap] = {}
    exceptions: set[int] = set()
    # Plain tuples (syncd/store/snapshot.py gives their layout): 50,000 of them.
    for cid, name, tier, cadence, zone, hours, dnc, snoozed, ahead, *stats in rows:
        addrs = emails.get(cid)
        if not addrs:
            continue
        if ahead:
            exceptions.add(cid)
        has_row, last, last_in, last_out, met, any_real, upcoming = (
            exact.get(cid, _NONE) if ahead else stats
        )
        # Most of these are None for most contacts: `_aware` is called only for values.
        last_in = last_in and _aware(last_in)
        last_out = last_out and _aware(last_out)
        their_dates = dates.get(cid)
        # Positional, in the order of the fields: keywords cost a third more per call.
        out[cid] = ContactSnap(
            cid,  # id
            name,  # name
            addrs[0],  # email
            tier,  # tier
            cadence or (tiers.get(tier) if tier else None),  # cadence_days
            zone,  # timezone
            _contact_work(zone, hours) if zone and hours else None,  # work
            bool(dnc),  # do_not_contact; 0 or 1 on SQLite (the rows come raw)
            snoozed and _aware(snoozed),  # snoozed_until
            any(map(internal, addrs)),  # internal
            not any_real and has_row is not None,  # noise
            last and _aware(last),  # last_interaction_at
            last_in,  # last_inbound_at
            last_out,  # last_outbound_at
            bool(met) or (last_in is not None and last_out is not None),  # two_way
            upcoming and _aware(upcoming),  # next_meeting_at
            tuple(their_dates) if their_dates else (),  # dates
        )
    return out, exceptions


# What a contact with no participation at all has (no statistics row, no aggregate).
_NONE = (None, None, None, None, 0, 0, None)


def _internal_check(identity: OwnerIdentity) -> Callable[[str], bool]:
    """`identity.is_internal`, asked once per domain: 50,000 contacts share far fewer."""
    by_domain: dict[str, bool] = {}

    def internal(address: str) -> bool:
        domain = address_domain(address)
        found = by_domain.get(domain)
        if found is None:
            found = by_domain[domain] = identity.is_internal(address)
        return found

    return internal


def _contact_work(zone: str, hours: str) -> WorkingTime | None:
    try:
        ZoneInfo(zone)
        start, end = parse_hours(hours)
    except (ValueError, KeyError):
        return None
    return WorkingTime(zone, start, end)


def _aware(value: Any) -> datetime | None:
    """An instant as the store gives it: MAX() over a CASE loses the column type on SQLite
    (it comes back as text), and the snapshot reads some columns raw (text on SQLite, a
    naive UTC datetime on PostgreSQL)."""
    if value is None:
        return None
    if value.__class__ is str:
        # The store keeps naive UTC: parsed with its offset in one step, six times faster
        # than parsing and then `replace(tzinfo=UTC)` over 150,000 values.
        try:
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:
            value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _sent(
    session: Db,
    owner_id: int,
    now: datetime,
    contacts: dict[int, ContactSnap],
    ahead: set[int],
    actions: tuple[ExistingAction, ...],
) -> tuple[SentMail, ...]:
    """The owner's latest human mail to each contact in each thread, in the window.

    It counts as answered when anyone replied in its thread afterwards, or the contact
    wrote at all afterwards (after their last inbound mail, in the contact's aggregates).

    So a mail can be waiting only for a contact whose last mail out is in the window and
    not before their last mail in, and only from that last mail in on: the mail read is
    that of those contacts from there (for most contacts the statistics say who, and an
    index range each reads it), plus, for the reasons of withdrawals, all the window's
    mail of contacts with an open action. Every mail left out was answered by the contact
    and no rule or withdrawal tells an answered mail left out from one listed, except by
    its reason, which is kept for the open actions. The cost follows the mail awaiting an
    answer, not the history nor the window's traffic.
    """
    since = now - SENT_WINDOW
    with_actions = {
        a.contact_id for a in actions if a.state in OPEN_STATES and a.contact_id in contacts
    }
    # Those the statistics cannot tell about: decided here, on their exact aggregates.
    waiting = {
        cid
        for cid in ahead
        if (c := contacts.get(cid)) is not None
        and c.last_outbound_at is not None
        and c.last_outbound_at > since
        and (c.last_inbound_at is None or c.last_outbound_at >= c.last_inbound_at)
    }
    latest: dict[tuple[int, str], SentMail] = {}
    for (
        _id,
        key,
        subject,
        thread_key,
        at,
        cid,
        address,
        reply,
        account,
        thread_id,
    ) in q.sent_waiting(session, owner_id, since, now, waiting | with_actions):
        contact = contacts.get(cid)
        sent_at = _aware(at)
        if contact is None or sent_at is None:
            continue
        last_in = contact.last_inbound_at
        if cid not in with_actions and last_in is not None and sent_at < last_in:
            continue  # answered by the contact (one decided here reads its whole window)
        mid = key[4:] if key.startswith("mid:") else None
        thread = thread_key or key
        refs = (thread_key,) if thread_key and thread_key != mid else ()
        answers = [t for t in (_aware(reply), last_in) if t is not None and t > sent_at]
        # Positional, in the order of the fields, as ContactSnap above.
        latest[(cid, thread)] = SentMail(
            cid,  # contact_id
            key,  # message_key
            mid,  # message_id
            refs,  # references
            subject,  # subject
            thread_key,  # thread_key
            thread_id,  # thread_id
            account or "",  # account
            sent_at,  # sent_at
            min(answers) if answers else None,  # answered_at
            address,  # address
        )
    return tuple(latest.values())


def _meetings(
    session: Db, owner_id: int, now: datetime, contacts: dict[int, ContactSnap]
) -> tuple[MeetingSnap, ...]:
    rows = q.meetings(session, owner_id, now, MEETING_BACK, MEETING_AHEAD)
    sources = q.first_sources(session, {r[5] for r in rows})
    out = []
    for key, subject, starts, ends, cid, iid in rows:
        c = contacts.get(cid)
        if c is None:
            continue
        start, end = _aware(starts), _aware(ends)
        assert start is not None and end is not None
        out.append(
            MeetingSnap(
                contact_id=cid,
                meeting_key=key,
                subject=subject,
                start=start,
                end=end,
                account=sources.get(iid, ("", None))[0],
                external=not c.internal,
                emailed_after=c.last_outbound_at is not None and c.last_outbound_at >= end,
            )
        )
    return tuple(out)


def _actions(session: Db, owner_id: int, now: datetime) -> tuple[ExistingAction, ...]:
    out = []
    for key, rule, kind, contact_id, state, due_at, created_at in q.actions(
        session, owner_id, now, ACTIONS_BACK
    ):
        due, created = _aware(due_at), _aware(created_at)
        assert due is not None and created is not None
        out.append(ExistingAction(key, rule, kind, contact_id, state, due, created))
    return tuple(out)
