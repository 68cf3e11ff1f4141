"""The outbox: planned actions as rows, and the executor that turns them into drafts and holds.

States: ``planned → executing → created``, or ``failed`` (retried with backoff until
`limits.max_attempts`), ``dismissed`` (the user deleted the draft or dismissed the action:
never recreated for that period), ``skipped`` (withdrawn before or after creation).

Crash safety: an action is marked ``executing`` in its own transaction before the sink is
touched, and the executor always asks the sink for an object with the action's key before
creating one. A process killed between "created at the provider" and "recorded here"
finds its draft or hold on the next run and records it; nothing is created twice.

Withdrawal: when the planner says an action's reason went away, a planned action is
skipped; a created draft or hold is removed only if the sink reports it untouched (its
fingerprint still matches); an edited draft or a moved hold is left alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.base import (
    ConnectorError,
    Created,
    DraftSink,
    DraftSpec,
    HoldSink,
    HoldSpec,
    ObjectState,
)
from rules.model import OPEN_STATES, Plan, PlannedAction, WorkingTime
from rules.slots import find_slot
from rules.templates import DEFAULT_TEMPLATES, TemplateFailed, header_safe, render, split_subject
from syncd import failpoints
from syncd.config import Config, parse_duration, parse_hours
from syncd.outbox.snapshot import owner_info
from syncd.outbox.writer import personalise
from syncd.store.db import Store
from syncd.store.models import Action, Contact
from syncd.store.outbox import (
    action_by_key,
    actions_by_key,
    created_actions,
    due_action_ids,
    first_address,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger("syncd.outbox")

BACKOFF_BASE = timedelta(minutes=5)
BACKOFF_MAX = timedelta(hours=12)


@dataclass
class Sinks:
    drafts: dict[str, DraftSink] = field(default_factory=dict)
    holds: dict[str, HoldSink] = field(default_factory=dict)

    def draft_sink(self, account: str | None) -> tuple[str, DraftSink] | None:
        if account and account in self.drafts:
            return account, self.drafts[account]
        for name, sink in self.drafts.items():
            return name, sink
        return None

    def hold_sink(self, account: str | None) -> tuple[str, HoldSink] | None:
        if account and account in self.holds:
            return account, self.holds[account]
        for name, sink in self.holds.items():
            return name, sink
        return None


@dataclass
class OutboxReport:
    planned: int = 0
    created: int = 0
    found: int = 0  # already at the sink (a crash or a retry): recorded, not created again
    failed: int = 0
    withdrawn: int = 0
    removed: int = 0  # withdrawn and removed from the provider
    dismissed: int = 0
    left_alone: int = 0  # withdrawn but touched by the user: kept
    errors: list[str] = field(default_factory=list)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return value


def payload_of(action: PlannedAction) -> str:
    doc = {
        "account": action.account,
        "template": action.template,
        "draft": _jsonable(asdict(action.draft)) if action.draft else None,
        "hold": _jsonable(asdict(action.hold)) if action.hold else None,
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True)


class Outbox:
    """Records plans and executes due actions for one owner."""

    def __init__(
        self,
        store: Store,
        config: Config,
        owner_id: int,
        sinks: Sinks,
        *,
        read_template: Callable[[str], str] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.owner_id = owner_id
        self.sinks = sinks
        self.rules = {r.name: r for r in config.settings.rules}
        self.read_template = read_template or (lambda p: Path(p).read_text(encoding="utf-8"))
        self.limits = config.settings.limits

    # --- recording a plan -----------------------------------------------------------------

    def record(self, plan: Plan, now: datetime, report: OutboxReport) -> None:
        keys = [a.key for a in plan.actions]
        with self.store.session() as s, s.begin():
            existing = actions_by_key(s, self.owner_id, keys)
            for pa in plan.actions:
                row = existing.get(pa.key)
                if row is None:
                    s.add(self._new_row(pa, now))
                    report.planned += 1
                elif row.state == "planned":
                    row.due_at, row.reason, row.payload = pa.due_at, pa.reason, payload_of(pa)
                    row.updated_at = now
        for w in plan.withdrawals:
            self._withdraw(w.key, w.reason, now, report)

    def _new_row(self, pa: PlannedAction, now: datetime) -> Action:
        return Action(
            owner_id=self.owner_id,
            rule=pa.rule,
            kind=pa.kind,
            contact_id=pa.contact_id,
            account_id=None,
            key=pa.key,
            state="planned",
            due_at=pa.due_at,
            reason=pa.reason,
            payload=payload_of(pa),
            attempts=0,
            created_at=now,
            updated_at=now,
        )

    def _withdraw(self, key: str, reason: str, now: datetime, report: OutboxReport) -> None:
        with self.store.session() as s, s.begin():
            row = action_by_key(s, self.owner_id, key)
            if row is None or row.state not in OPEN_STATES:
                return
            if row.state != "created":
                row.state, row.updated_at = "skipped", now
                row.reason = f"{row.reason or ''} — withdrawn: {reason}".strip(" —")
                report.withdrawn += 1
                log.info("action.withdrawn", extra={"key": key, "reason": reason})
                return
            kind, fingerprint, account = row.kind, row.fingerprint or "", row.provider_ref
        outcome = self._remove_created(kind, key, fingerprint, account)
        with self.store.session() as s, s.begin():
            row = action_by_key(s, self.owner_id, key)
            if row is None:
                return
            if outcome == "removed":
                row.state = "skipped"
                row.reason = f"{row.reason or ''} — withdrawn and removed: {reason}".strip(" —")
                report.withdrawn += 1
                report.removed += 1
            elif outcome == "gone":
                row.state = "dismissed"
                row.reason = f"{row.reason or ''} — the user deleted or sent it".strip(" —")
                report.dismissed += 1
            else:  # touched by the user: theirs now
                row.state = "skipped"
                row.reason = (
                    f"{row.reason or ''} — withdrawn ({reason}), but you changed it, so it stays"
                ).strip(" —")
                report.withdrawn += 1
                report.left_alone += 1
            row.updated_at = now

    def _object_ops(
        self, kind: str, ref: str | None
    ) -> tuple[Callable[[str, str], ObjectState], Callable[[str, str], bool]] | None:
        """The state and remove operations of the sink that holds an action's object."""
        account = (ref or "").split(":", 1)[0] or None
        if kind == "draft":
            d = self.sinks.draft_sink(account)
            return (d[1].draft_state, d[1].remove_draft) if d else None
        h = self.sinks.hold_sink(account)
        return (h[1].hold_state, h[1].remove_hold) if h else None

    def _remove_created(self, kind: str, key: str, fingerprint: str, ref: str | None) -> str:
        """removed | gone (the user deleted or sent it) | kept (changed, or no sink)."""
        ops = self._object_ops(kind, ref)
        if ops is None:
            return "kept"
        state_of, remove = ops
        try:
            state = state_of(key, fingerprint)
            if state == "untouched" and remove(key, fingerprint):
                return "removed"
        except (ConnectorError, OSError) as exc:
            log.warning("action.withdraw.failed", extra={"key": key, "error": str(exc)})
            return "kept"
        return "gone" if state == "gone" else "kept"

    # --- noticing what the user did ----------------------------------------------------------

    def reconcile(self, now: datetime, report: OutboxReport) -> None:
        """Created drafts and holds the user deleted become dismissed (never recreated)."""
        with self.store.session() as s:
            rows = created_actions(s, self.owner_id)
        for key, kind, fingerprint, ref in rows:
            ops = self._object_ops(kind, ref)
            if ops is None:
                continue
            try:
                state = ops[0](key, fingerprint or "")
            except (ConnectorError, OSError):
                continue
            if state != "gone":
                continue
            with self.store.session() as s, s.begin():
                row = action_by_key(s, self.owner_id, key)
                if row is not None and row.state == "created":
                    row.state, row.updated_at = "dismissed", now
                    row.reason = f"{row.reason or ''} — the user deleted or sent it".strip(" —")
                    report.dismissed += 1

    # --- executing -----------------------------------------------------------------------------

    def due_ids(self, now: datetime, held_back: Collection[str] = ()) -> list[int]:
        with self.store.session() as s:
            return due_action_ids(s, self.owner_id, now, held_back)

    def execute_due(
        self, now: datetime, report: OutboxReport, held_back: Collection[str] = ()
    ) -> None:
        """Execute what is due; planned actions in `held_back` (the plan's deferred keys)
        wait, so an action the caps pushed past the horizon never runs on its old day."""
        for action_id in self.due_ids(now, held_back):
            self.execute(action_id, now, report)

    def execute(self, action_id: int, now: datetime, report: OutboxReport) -> None:
        with self.store.session() as s, s.begin():
            row = s.get(Action, action_id)
            if row is None or row.state not in ("planned", "executing", "failed"):
                return
            row.state, row.attempts, row.updated_at = "executing", row.attempts + 1, now
            action = _ActionData.of(row)
            to = _recipient(s, self.owner_id, row.contact_id)
        try:
            created, account = self._perform(action, to, now)
        except _Permanent as exc:
            self._fail(action_id, str(exc), now, report, permanent=True)
            return
        except ValueError as exc:  # the sinks' word for content they can never store
            self._fail(action_id, f"cannot be created: {exc}", now, report, permanent=True)
            return
        except (ConnectorError, OSError) as exc:
            self._fail(action_id, f"{type(exc).__name__}: {exc}", now, report, permanent=False)
            return
        with self.store.session() as s, s.begin():
            row = s.get(Action, action_id)
            if row is None:
                return
            row.state, row.updated_at, row.error, row.next_attempt_at = "created", now, None, None
            row.provider_ref = f"{account}:{created[0].ref}"
            row.fingerprint = created[0].fingerprint
            if created[1]:
                row.reason = f"{row.reason or ''} ({created[1]})".strip()
        if created[2]:
            report.found += 1
            log.debug("action.already_there", extra={"key": action.key})
        else:
            report.created += 1
            log.info(f"action.{action.kind}.created", extra={"key": action.key})

    def _perform(
        self, action: _ActionData, to: _Recipient | None, now: datetime
    ) -> tuple[tuple[Created, str | None, bool], str]:
        """Create the draft or hold (or find it); returns ((created, note, found), account)."""
        if action.kind == "draft":
            found_d = self.sinks.draft_sink(action.account)
            if found_d is None:
                raise _Permanent("no account can hold drafts (a maildir account is needed)")
            account, sink_d = found_d
            existing = sink_d.find_draft(action.key)
            if existing is not None:
                return (existing, None, True), account
            spec, note = self._draft_spec(action, to, now)
            created = sink_d.create_draft(spec)
            failpoints.hit("after-sink-create")
            return (created, note, False), account
        found_h = self.sinks.hold_sink(action.account)
        if found_h is None:
            raise _Permanent("no account has a calendar to hold time in")
        account, sink_h = found_h
        existing = sink_h.find_hold(action.key)
        if existing is not None:
            return (existing, None, True), account
        spec_h = self._hold_spec(action, sink_h, to.work if to else None, now)
        created = sink_h.create_hold(spec_h)
        failpoints.hit("after-sink-create")
        return (created, None, False), account

    def _draft_spec(
        self, action: _ActionData, to: _Recipient | None, now: datetime
    ) -> tuple[DraftSpec, str | None]:
        draft = action.payload.get("draft") or {}
        if to is None and not draft.get("to_address"):
            raise _Permanent("the contact has no address any more")
        context = draft.get("context") or {}
        rule = self.rules.get(action.rule)
        text = self._template_text(action)
        try:
            rendered = render(text, context)
        except TemplateFailed as exc:
            raise _Permanent(f"template failed: {exc}") from None
        subject, body = split_subject(rendered)
        note = None
        if rule is not None and rule.writer:
            written = personalise(
                rule.writer,
                context,
                timeout=parse_duration(rule.writer_timeout).total_seconds(),
                env_names=rule.writer_env,
            )
            if written.body is not None:
                body = written.body
            else:
                note = f"writer failed ({written.error}); the template was used"
        plan_subject = str(draft.get("subject") or "")
        # A reply keeps the thread's subject so mail programs thread it.
        final_subject = plan_subject if draft.get("in_reply_to") else (subject or plan_subject)
        owner = owner_info(self.config)
        return (
            DraftSpec(
                key=action.key,
                from_name=header_safe(owner.name),
                from_address=owner.address,
                to_name=header_safe(str(draft.get("to_name") or (to.name if to else "") or ""))
                or None,
                to_address=str(draft.get("to_address") or (to.address if to else "")),
                subject=header_safe(final_subject, 300),
                body=body,
                date=now,
                in_reply_to=draft.get("in_reply_to"),
                references=tuple(draft.get("references") or ()),
                thread_id=draft.get("thread_id"),
            ),
            note,
        )

    def _template_text(self, action: _ActionData) -> str:
        path = action.payload.get("template")
        if path in DEFAULT_TEMPLATES:  # a built-in text by name (syncd.config.templates)
            return DEFAULT_TEMPLATES[path]
        if path:
            try:
                return self.read_template(str(path))
            except OSError as exc:
                raise _Permanent(f"cannot read template {path}: {exc.strerror}") from None
        rule = self.rules.get(action.rule)
        kind = rule.kind if rule is not None else "cadence"
        return DEFAULT_TEMPLATES[kind]

    def _hold_spec(
        self, action: _ActionData, sink: HoldSink, contact_work: WorkingTime | None, now: datetime
    ) -> HoldSpec:
        hold = action.payload.get("hold") or {}
        owner = owner_info(self.config)
        horizon = parse_duration(self.limits.hold_horizon)
        not_before = max(now, datetime.fromisoformat(hold.get("not_before") or now.isoformat()))
        end = not_before + horizon
        busy = sink.busy(not_before - timedelta(days=1), end + timedelta(days=1))
        minutes = int(hold.get("duration_minutes") or 30)
        slot = find_slot(
            busy,
            not_before=not_before,
            horizon_end=end,
            duration=timedelta(minutes=minutes),
            owner=owner.work,
            contact=contact_work,
            buffer=parse_duration(self.limits.hold_buffer),
            quiet_dates=owner.quiet_dates,
        )
        if slot is None:
            raise ConnectorError(f"no free {minutes}-minute slot in the next {horizon.days} days")
        context = hold.get("context") or {}
        return HoldSpec(
            key=action.key,
            summary=header_safe(str(hold.get("title") or "Reconnect"), 200),
            description=str(context.get("reason") or ""),
            start=slot[0],
            end=slot[1],
            timezone=owner.work.timezone,
        )

    def _fail(
        self, action_id: int, error: str, now: datetime, report: OutboxReport, *, permanent: bool
    ) -> None:
        with self.store.session() as s, s.begin():
            row = s.get(Action, action_id)
            if row is None:
                return
            row.state, row.updated_at = "failed", now
            if permanent or row.attempts >= self.limits.max_attempts:
                row.next_attempt_at = None
                row.error = (
                    error if permanent else f"gave up after {row.attempts} attempts: {error}"
                )
            else:
                delay = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** (row.attempts - 1)))
                row.next_attempt_at = now + delay
                row.error = f"{error} (attempt {row.attempts}, next try {delay} later)"
            report.failed += 1
            report.errors.append(f"{row.key}: {row.error}")
        log.warning("action.failed", extra={"action": action_id, "error": error})

    # --- one pass ----------------------------------------------------------------------------

    def apply(self, plan: Plan, now: datetime) -> OutboxReport:
        report = OutboxReport()
        self.reconcile(now, report)
        self.record(plan, now, report)
        self.execute_due(now, report, frozenset(plan.deferred))
        return report

    def dismiss(self, action_id: int, now: datetime) -> str:
        """The user does not want this action: remove it if untouched, never recreate it."""
        with self.store.session() as s:
            row = s.get(Action, action_id)
            if row is None or row.owner_id != self.owner_id:
                from syncd.errors import NotFound

                raise NotFound(f"no action {action_id}", hint="`syncd actions list` shows them")
            state, key, kind, fp, ref = (
                row.state,
                row.key,
                row.kind,
                row.fingerprint,
                row.provider_ref,
            )
        removed = ""
        if state == "created":
            outcome = self._remove_created(kind, key, fp or "", ref)
            removed = {
                "removed": "; removed it",
                "gone": "",
                "kept": "; you changed it, so it stays",
            }[outcome]
        with self.store.session() as s, s.begin():
            row = s.get(Action, action_id)
            assert row is not None
            row.state, row.updated_at, row.next_attempt_at = "dismissed", now, None
        return f"dismissed action {action_id} ({key}){removed}"


class _Permanent(Exception):
    """A failure that retrying cannot fix (a broken template, no sink)."""


@dataclass(frozen=True)
class _ActionData:
    key: str
    rule: str
    kind: str
    account: str | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: Action) -> _ActionData:
        try:
            payload = json.loads(row.payload or "{}")
        except ValueError:
            payload = {}
        return cls(row.key, row.rule, row.kind, payload.get("account"), payload)


DEFAULT_CONTACT_HOURS = "09:00-17:00"


@dataclass(frozen=True)
class _Recipient:
    name: str | None
    address: str
    work: WorkingTime | None  # their working time, when their zone is known


def _recipient(s: Session, owner_id: int, contact_id: int | None) -> _Recipient | None:
    if contact_id is None:
        return None
    contact = s.get(Contact, contact_id)
    addr = first_address(s, contact_id)
    if contact is None or addr is None:
        return None
    return _Recipient(contact.name, addr, _contact_work(contact.timezone, contact.working_hours))


def _contact_work(tz: str | None, hours: str | None) -> WorkingTime | None:
    """A contact's working time: their hours if known, office hours in their zone if only
    the zone is; nothing without a zone."""
    if not tz:
        return None
    try:
        start, end = parse_hours(hours or DEFAULT_CONTACT_HOURS)
        return WorkingTime(tz, start, end)
    except ValueError:
        return None
