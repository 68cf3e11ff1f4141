"""What the rules plan over and what they return. Plain frozen data, no I/O.

`syncd` reads a `Snapshot` from the store with SQL aggregates (never every interaction),
calls `rules.plan.plan(snapshot, now, rules, limits)`, and executes the result. Every
datetime here is timezone-aware; `now` is passed in, never read from a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Literal

RuleKind = Literal["cadence", "no_reply", "after_meeting", "dormant", "date"]
ActionKind = Literal["draft", "hold"]
ActionState = Literal["planned", "executing", "created", "failed", "dismissed", "skipped"]
OPEN_STATES: frozenset[str] = frozenset({"planned", "executing", "created", "failed"})
DateKind = Literal["birthday", "anniversary", "custom"]


@dataclass(frozen=True, slots=True)
class WorkingTime:
    """Working hours in a time zone: `start`-`end` local time on `days` (0 = Monday)."""

    timezone: str
    start: time
    end: time
    days: frozenset[int] = frozenset({0, 1, 2, 3, 4})


@dataclass(frozen=True, slots=True)
class OwnerInfo:
    name: str
    address: str  # the address drafts are written from
    addresses: frozenset[str]
    domains: frozenset[str]
    work: WorkingTime
    quiet_dates: frozenset[date] = frozenset()  # holidays: nothing is due on them


@dataclass(frozen=True, slots=True)
class ContactDate:
    kind: DateKind
    month: int
    day: int
    year: int | None = None
    label: str | None = None  # for custom dates, e.g. "Company founded"


@dataclass(frozen=True, slots=True)
class ContactSnap:
    """One contact as the rules see it: settings plus aggregates over their history."""

    id: int
    name: str | None
    email: str  # primary address
    tier: str | None = None
    cadence_days: int | None = None  # the contact's own, or their tier's
    timezone: str | None = None
    work: WorkingTime | None = None  # their working hours, when known
    do_not_contact: bool = False
    snoozed_until: datetime | None = None
    internal: bool = False  # in the owner's own domains (a colleague)
    noise: bool = False  # they only ever sent noise (newsletters, notifications)
    last_interaction_at: datetime | None = None
    last_inbound_at: datetime | None = None
    last_outbound_at: datetime | None = None
    two_way: bool = False  # ever both wrote, or met
    next_meeting_at: datetime | None = None  # an upcoming meeting is booked
    dates: tuple[ContactDate, ...] = ()


@dataclass(frozen=True, slots=True)
class SentMail:
    """A human email the owner sent that has no answer from `contact_id` yet."""

    contact_id: int
    message_key: str  # the store's message key (stable id for the action key)
    message_id: str | None  # normalised Message-ID, for In-Reply-To
    references: tuple[str, ...]
    subject: str | None
    thread_key: str | None
    thread_id: str | None  # the provider's thread id (Gmail), if any
    account: str  # the account it was sent from (drafts go there)
    sent_at: datetime
    answered_at: datetime | None = None  # the first answer in the thread after it, if any
    address: str | None = None  # the contact's address it went to (the reply goes there)


@dataclass(frozen=True, slots=True)
class MeetingSnap:
    """A meeting (ended or upcoming) with one contact."""

    contact_id: int
    meeting_key: str
    subject: str | None
    start: datetime
    end: datetime
    account: str
    external: bool  # the contact is outside the owner's domains
    emailed_after: bool  # the owner wrote to them after it ended


@dataclass(frozen=True, slots=True)
class ExistingAction:
    """An action already in the outbox (any state)."""

    key: str
    rule: str
    kind: ActionKind
    contact_id: int | None
    state: ActionState
    due_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    owner: OwnerInfo
    contacts: dict[int, ContactSnap]
    sent: tuple[SentMail, ...] = ()
    meetings: tuple[MeetingSnap, ...] = ()
    actions: tuple[ExistingAction, ...] = ()
    default_account: str | None = None  # where drafts go when nothing says otherwise


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One `[[rules]]` entry of the config, validated."""

    name: str
    kind: RuleKind
    action: ActionKind
    template: str | None = None  # a template path; None: the built-in text for the kind
    tiers: frozenset[str] | None = None  # cadence/dormant: only these tiers (None: all)
    after_days: int = 0  # dormant: days without contact; date: days ahead
    business_days: int = 3  # no_reply: business days without an answer
    date_kinds: frozenset[str] = frozenset({"birthday", "anniversary", "custom"})
    duration_minutes: int = 30  # holds
    account: str | None = None  # where drafts go (default: the snapshot's default)
    external_only: bool = True  # after_meeting: only meetings with people outside


@dataclass(frozen=True, slots=True)
class Limits:
    per_day: int = 10
    per_week: int = 30
    horizon_days: int = 14  # how far ahead a capped action may be moved


@dataclass(frozen=True, slots=True)
class DraftPlan:
    subject: str
    to_name: str | None
    to_address: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    thread_id: str | None = None
    context: dict[str, object] = field(default_factory=dict)  # what the template sees


@dataclass(frozen=True, slots=True)
class HoldPlan:
    title: str
    duration_minutes: int
    not_before: datetime  # the slot finder looks from here on
    context: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlannedAction:
    key: str  # deterministic: rule name, contact, and the period or message
    rule: str
    kind: ActionKind
    contact_id: int
    account: str | None
    due_at: datetime
    reason: str  # human-readable: why this action, now
    template: str | None
    draft: DraftPlan | None = None
    hold: HoldPlan | None = None


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """An open action whose reason went away (a reply came, they wrote first, ...)."""

    key: str
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    actions: tuple[PlannedAction, ...]
    withdrawals: tuple[Withdrawal, ...] = ()
    deferred: tuple[str, ...] = ()  # keys held back by caps this time (with reasons in logs)
