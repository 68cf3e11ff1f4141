"""Planning: from a snapshot of the store and `now` to the actions that should exist.

`plan(snapshot, now, rules, limits)` is a pure function: the same input gives the same
`Plan`, whose actions are ordered by (due_at, rule order, contact id). It never reads a
clock; `now` must be timezone-aware.

How it decides
--------------
1. **Withdrawals.** Every existing action in state planned, executing, failed or created
   whose rule is among `rules` is checked: is its reason still there? It is not when the
   contact became do-not-contact (any rule); the mail was answered or is no longer in the
   snapshot (no_reply); there was an interaction after the action was created, or a
   meeting is booked (cadence, dormant); the owner wrote to them after the meeting
   (after_meeting). Caps, snoozes and rules removed from the config never withdraw.
2. **Triggers** (`rules.triggers`) propose candidates per rule kind, with a key
   `f"{rule}:{contact_id}:{period}"` (the period is hashed, sha256[:16], when the key would
   be 300 characters or longer).
3. **Constraints.** Never for do-not-contact or noise contacts; never a key that was
   dismissed or skipped (the user deleted that draft); never a key being withdrawn; not
   when an open action (OPEN_STATES) of the same rule and contact has a different key (the
   same key is planned again); of several candidates of one rule for one contact, one
   (no_reply: the oldest mail; after_meeting: the latest meeting; date: the nearest date).
4. **Due time.** Not before the trigger's time, `now` and the end of a snooze; then inside
   working hours on a working day in the owner's zone (not a quiet date). When the
   contact's working hours are known, inside the overlap of both on that day if there is
   one, else in the owner's hours.
5. **Caps.** Existing actions in state planned, executing or created count on the owner's
   local date of their `due_at` (and ISO week), except those withdrawn now and planned
   ones that are planned again (they count where they land now). Executing or created
   actions planned again keep their due time. Candidates already planned before are
   placed first, so a newcomer does not push them back; then by due time, rule order and
   contact. An action whose day (or week) is full moves to the next working day with room,
   at most `limits.horizon_days` days after its own; past that it is left out and its key
   listed in `Plan.deferred`.

Template context (`DraftPlan.context`, `HoldPlan.context`)
----------------------------------------------------------
Plain JSON values; every key is always present (None when it does not apply):

- `rule`: {`name`, `kind`}
- `reason`: the action's reason, as in `PlannedAction.reason`
- `due_at`: ISO 8601 in the owner's zone
- `contact`: {`id`, `name` (may be None), `first_name` (None without a name), `email`,
  `tier`, `timezone` (the contact's own, or None)}
- `owner`: {`name`, `address`}
- `last_interaction`: {`at` (ISO 8601, owner's zone, or None), `subject` (only when the
  last interaction is the mail or meeting this action is about, else None)}
- `thread_subject`: the subject of the unanswered mail (no_reply), else None
- `meeting`: {`subject`, `start`, `end`} (after_meeting), else None
- `date`: {`kind` (birthday, anniversary, custom), `label`, `date` (ISO date of the
  occurrence), `years` (since the year, when known and positive, else None)} (date rules),
  else None

Subjects when there is no thread: cadence "Catching up", dormant "It has been a while",
after_meeting "Thank you — <meeting subject>", date "Happy birthday!" / "Happy
anniversary!" / the custom date's label. A no_reply draft is a reply: "Re: <subject>"
(kept as it is when it already starts with Re: or Aw:), In-Reply-To the sent Message-ID,
References the sent references plus that id, the provider's thread id copied. Holds get
titles such as "Reconnect with Priya Raman" and `not_before = now`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rules.drafting import build as build_action
from rules.drafting import day_month, display_name
from rules.model import (
    OPEN_STATES,
    ContactSnap,
    ExistingAction,
    Limits,
    MeetingSnap,
    Plan,
    PlannedAction,
    RuleSpec,
    SentMail,
    Snapshot,
    Withdrawal,
)
from rules.triggers import TRIGGERS, Candidate, Env, make_key

__all__ = ["plan"]

COUNTED_STATES = frozenset({"planned", "executing", "created"})  # what uses up the caps
KEPT_STATES = frozenset({"executing", "created"})  # planned again: keeps its due time
CLOSED_STATES = frozenset({"dismissed", "skipped"})  # the key is never planned again
DEFAULT_LIMITS = Limits()


def plan(
    snapshot: Snapshot, now: datetime, rules: Sequence[RuleSpec], limits: Limits = DEFAULT_LIMITS
) -> Plan:
    """The actions the rules want at `now`, the open ones to withdraw, and the deferred."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"plan(now) must be timezone-aware, got {now.isoformat()}")
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"rule names must be unique: {names}")
    env = Env(snapshot, now)
    withdrawals = _withdrawals(snapshot, rules, env)
    withdrawn = {w.key for w in withdrawals}
    book = _Book(snapshot.actions, withdrawn)
    chosen = _choose(rules, env, book)
    actions, deferred = _schedule(chosen, env, book, limits)
    order = {r.name: i for i, r in enumerate(rules)}
    actions.sort(key=lambda a: (a.due_at.timestamp(), order[a.rule], a.contact_id, a.key))
    return Plan(tuple(actions), tuple(withdrawals), tuple(deferred))


class _Book:
    """The existing actions, indexed."""

    def __init__(self, actions: Sequence[ExistingAction], withdrawn: set[str]) -> None:
        self.by_key: dict[str, ExistingAction] = {}
        self.open: dict[tuple[str, int], set[str]] = {}
        self.closed: set[str] = set()
        for a in actions:
            self.by_key[a.key] = a
            if a.state in CLOSED_STATES:
                self.closed.add(a.key)
            elif a.state in OPEN_STATES and a.key not in withdrawn and a.contact_id is not None:
                self.open.setdefault((a.rule, a.contact_id), set()).add(a.key)
        self.withdrawn = withdrawn

    def allows(self, cand: Candidate) -> bool:
        key = cand.key
        if key in self.closed or key in self.withdrawn:
            return False
        open_keys = self.open.get((cand.rule.name, cand.contact.id))
        return not open_keys or key in open_keys


def _choose(rules: Sequence[RuleSpec], env: Env, book: _Book) -> list[Candidate]:
    """Candidates that pass the constraints, one per rule and contact."""
    best: dict[tuple[int, int], Candidate] = {}
    allows = book.allows
    for order, rule in enumerate(rules):
        for cand in TRIGGERS[rule.kind](rule, order, env):
            contact = cand.contact
            # Never for do-not-contact or noise contacts (checked for 25,000 candidates).
            if contact.do_not_contact or contact.noise or not allows(cand):
                continue
            slot = (order, contact.id)
            held = best.get(slot)
            if held is None or cand.rank < held.rank:
                best[slot] = cand
    return list(best.values())


# -- caps --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    cand: Candidate
    due: datetime
    stamp: float  # due as a timestamp: sorting aware datetimes in several zones is slow
    day: int  # the owner's local date of `due`, as an ordinal
    snoozed: bool
    again: bool  # planned before (an existing planned action with this key)


class _Capacity:
    """Per-day and per-ISO-week counts on the owner's local dates (as ordinals), and a
    skip list over days that are full or not working days: those only ever fill up, so
    `first_free` can jump over them (path-compressed, like union-find)."""

    def __init__(self, env: Env, limits: Limits) -> None:
        self.env, self.limits = env, limits
        self.day: Counter[int] = Counter()
        self.week: Counter[int] = Counter()
        self.skip: dict[int, int] = {}

    @staticmethod
    def week_of(ordinal: int) -> int:
        return (ordinal - 1) // 7  # ordinal 1 is a Monday: one number per ISO week

    def add(self, ordinal: int) -> None:
        self.day[ordinal] += 1
        self.week[self.week_of(ordinal)] += 1

    def _blocked(self, ordinal: int) -> bool:
        return (
            not self.env.is_working(ordinal)
            or self.day[ordinal] >= self.limits.per_day
            or self.week[self.week_of(ordinal)] >= self.limits.per_week
        )

    def first_free(self, ordinal: int, last: int) -> int | None:
        path = []
        while ordinal <= last:
            nxt = self.skip.get(ordinal)
            if nxt is None:
                if not self._blocked(ordinal):
                    break
                nxt = ordinal + 1
            path.append(ordinal)
            ordinal = nxt
        for p in path:
            self.skip[p] = ordinal
        return ordinal if ordinal <= last else None


def _schedule(
    chosen: list[Candidate], env: Env, book: _Book, limits: Limits
) -> tuple[list[PlannedAction], list[str]]:
    capacity = _Capacity(env, limits)
    replanned = {c.key for c in chosen}
    for a in book.by_key.values():
        if a.state not in COUNTED_STATES or a.key in book.withdrawn:
            continue
        if a.state == "planned" and a.key in replanned:
            continue  # counted where it lands this time
        capacity.add(env.ordinal(a.due_at))
    actions, pending = _kept_and_pending(chosen, env, book)
    deferred: list[str] = []
    for p in pending:
        placed = capacity.first_free(p.day, p.day + limits.horizon_days)
        if placed is None:
            deferred.append(p.cand.key)
            continue
        capacity.add(placed)
        actions.append(_place(p, placed, env))
    return actions, deferred


def _kept_and_pending(
    chosen: list[Candidate], env: Env, book: _Book
) -> tuple[list[PlannedAction], list[_Pending]]:
    """Executing or created actions planned again keep their due time (they already count);
    the others get theirs (snooze, working hours) and wait for the caps, in placing order."""
    kept: list[PlannedAction] = []
    pending: list[_Pending] = []
    by_key = book.by_key
    # Most candidates are due at the same fitted instant (`now` in working hours): one
    # object, so its timestamp is taken once, not 25,000 times.
    last_due: datetime | None = None
    last_stamp = 0.0
    for cand in chosen:
        existing = by_key.get(cand.key)
        if existing is not None and existing.state in KEPT_STATES:
            kept.append(build_action(cand, existing.due_at, env))
            continue
        due, snoozed = cand.due, False
        until = cand.contact.snoozed_until
        if until is not None and until > due:
            due, snoozed = until, True
        due, day = env.fit(due, cand.contact.work)
        if due is not last_due:
            last_due, last_stamp = due, due.timestamp()
        again = existing is not None and existing.state == "planned"
        pending.append(_Pending(cand, due, last_stamp, day, snoozed, again))
    pending.sort(key=lambda p: (not p.again, p.stamp, p.cand.order, p.cand.contact.id, p.cand.key))
    return kept, pending


def _place(p: _Pending, day: int, env: Env) -> PlannedAction:
    due, note = p.due, ""
    until = p.cand.contact.snoozed_until
    if p.snoozed and until is not None:
        note = f"; snoozed until {day_month(env.local(until).date())}"
    if day != p.day:
        window = env.window(day, p.cand.contact.work)
        assert window is not None  # first_free only returns working days
        due = window[0]
        note += f"; moved to {day_month(env.local(due).date())} by the daily or weekly limit"
    return build_action(p.cand, due, env, note)


# -- withdrawals -------------------------------------------------------------------------


def _withdrawals(snapshot: Snapshot, rules: Sequence[RuleSpec], env: Env) -> list[Withdrawal]:
    by_name = {r.name: r for r in rules}
    mails: dict[str, dict[str, SentMail]] = {}
    meetings: dict[str, dict[str, MeetingSnap]] = {}
    out: list[tuple[ExistingAction, Withdrawal]] = []
    for a in snapshot.actions:
        rule = by_name.get(a.rule)
        if rule is None or a.state not in OPEN_STATES or a.contact_id is None:
            continue
        c = snapshot.contacts.get(a.contact_id)
        if c is None:
            continue  # not enough known to judge; the store removes a forgotten contact's actions
        reason: str | None
        if c.do_not_contact:
            reason = "they are now do-not-contact"
        elif rule.kind == "no_reply":
            if rule.name not in mails:
                mails[rule.name] = {
                    make_key(rule.name, m.contact_id, m.message_key): m for m in snapshot.sent
                }
            reason = _mail_gone(c, mails[rule.name].get(a.key), env)
        elif rule.kind == "after_meeting":
            if rule.name not in meetings:
                meetings[rule.name] = {
                    make_key(rule.name, m.contact_id, m.meeting_key): m for m in snapshot.meetings
                }
            reason = _meeting_gone(c, meetings[rule.name].get(a.key), env)
        elif rule.kind in ("cadence", "dormant"):
            reason = _touched(c, a, env)
        else:
            reason = None
        if reason is not None:
            out.append((a, Withdrawal(a.key, reason)))
    out.sort(key=lambda pair: (pair[0].due_at, pair[0].key))
    return [w for _, w in out]


def _mail_gone(c: ContactSnap, mail: SentMail | None, env: Env) -> str | None:
    if mail is None:
        return "the mail is no longer waiting for an answer"
    if mail.answered_at is not None:
        return f"{display_name(c)} replied on {day_month(env.local(mail.answered_at).date())}"
    return None


def _meeting_gone(c: ContactSnap, meeting: MeetingSnap | None, env: Env) -> str | None:
    if meeting is None or not meeting.emailed_after:
        return None  # a meeting that left the snapshot's window says nothing
    wrote = c.last_outbound_at
    if wrote is not None and wrote >= meeting.end:
        return f"you wrote to them on {day_month(env.local(wrote).date())}"
    return "you wrote to them after the meeting"


def _touched(c: ContactSnap, a: ExistingAction, env: Env) -> str | None:
    last = c.last_interaction_at
    if last is not None and last > a.created_at:
        if c.last_outbound_at is not None and c.last_outbound_at > a.created_at:
            return f"you wrote to them on {day_month(env.local(c.last_outbound_at).date())}"
        if c.last_inbound_at is not None and c.last_inbound_at > a.created_at:
            return f"{display_name(c)} wrote on {day_month(env.local(c.last_inbound_at).date())}"
        return f"you were in touch on {day_month(env.local(last).date())}"
    if c.next_meeting_at is not None:
        return f"a meeting with them is booked for {day_month(env.local(c.next_meeting_at).date())}"
    return None
