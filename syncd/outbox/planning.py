"""Glue between the store, the pure planner and the outbox: plan now, apply, backtest."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rules.model import ExistingAction, Limits, Plan, PlannedAction, RuleSpec, Snapshot
from rules.plan import plan as plan_actions
from syncd.config import Config, parse_business_days, parse_duration
from syncd.gcpause import no_cyclic_gc
from syncd.outbox.snapshot import read_snapshot

if TYPE_CHECKING:
    # `plan` and `--backtest` need neither the executor nor the connectors (icalendar,
    # Jinja): those load when actions are applied.
    from syncd.outbox.executor import OutboxReport, Sinks
    from syncd.store.db import Store
    from syncd.sync.connect import Connectors

log = logging.getLogger("syncd.planning")


def rule_specs(config: Config) -> list[RuleSpec]:
    out = []
    for r in config.settings.rules:
        after_days = 0
        business = 3
        if r.kind == "dormant":
            after_days = parse_duration(r.after or "180d").days
        elif r.kind == "date":
            after_days = parse_duration(r.ahead).days
        elif r.kind == "no_reply" and r.after:
            business = parse_business_days(r.after)
        out.append(
            RuleSpec(
                name=r.name,
                kind=r.kind,
                action=r.action_kind,
                template=str(r.template) if r.template else None,
                tiers=frozenset(r.tiers) if r.tiers is not None else None,
                after_days=after_days,
                business_days=business,
                date_kinds=frozenset(r.dates),
                duration_minutes=max(5, int(parse_duration(r.duration).total_seconds() // 60)),
                account=r.account,
                external_only=r.external_only,
            )
        )
    return out


def limits_of(config: Config) -> Limits:
    lim = config.settings.limits
    return Limits(
        per_day=lim.per_day,
        per_week=lim.per_week,
        horizon_days=max(1, parse_duration(lim.horizon).days),
    )


def sinks_for(config: Config, connectors: Connectors | None = None) -> Sinks:
    """Where drafts and holds go, per account.

    Drafts go to the account's Drafts folder (Maildir or IMAP). Holds for an ics calendar go
    to its `holds` folder (by default `<state_dir>/holds/<account>`), never into the synced
    calendar folder itself unless configured so; that folder still counts as busy time.
    Holds for a CalDAV calendar go into that calendar.
    """
    from connectors.base import ConnectorError
    from syncd.errors import SyncdError
    from syncd.outbox.executor import Sinks
    from syncd.sync.connect import Connectors

    connectors = connectors or Connectors(config)
    sinks = Sinks()
    for acc in config.settings.accounts:
        try:
            sinks.drafts[acc.name] = connectors.draft_sink(acc)
            hold = connectors.hold_sink(acc)
        except (SyncdError, ConnectorError) as exc:
            # Not authorised yet, or a secret is missing: the sync pass reports it; the
            # other accounts still get their drafts and holds.
            log.warning("sinks.account.unavailable", extra={"account": acc.name, "error": str(exc)})
            continue
        if hold is not None:
            sinks.holds[acc.name] = hold
    return sinks


def make_plan(store: Store, config: Config, owner_id: int, now: datetime) -> tuple[Snapshot, Plan]:
    rules = rule_specs(config)
    # Some 150,000 small objects (rows, contacts, candidates) and no cycle among them: the
    # collector's passes over the growing heap cost a fifth of reading and planning.
    with no_cyclic_gc():
        # It writes nothing: a read transaction, which never makes a writer wait.
        with store.read_connection() as conn:
            # Only the contacts these rules could pick or withdraw an action of.
            snapshot = read_snapshot(conn, owner_id, config, now, rules=rules)
        return snapshot, plan_actions(snapshot, now, rules, limits_of(config))


def apply_rules(
    store: Store, config: Config, owner_id: int, now: datetime, sinks: Sinks | None = None
) -> tuple[Plan, OutboxReport]:
    from syncd.outbox.executor import Outbox

    _, plan = make_plan(store, config, owner_id, now)
    outbox = Outbox(store, config, owner_id, sinks or sinks_for(config))
    return plan, outbox.apply(plan, now)


@dataclass(frozen=True)
class Fired:
    day: datetime
    action: PlannedAction


def backtest(store: Store, config: Config, owner_id: int, now: datetime, days: int) -> list[Fired]:
    """Replay the rules day by day over the last `days` days of stored history.

    Each day reads the store as it was then (interactions up to that day) and plans with
    that day's clock; what was planned earlier counts as created, so an action shows up
    on the day it would first have fired, once.
    """
    rules = rule_specs(config)
    limits = limits_of(config)
    fired: list[Fired] = []
    existing: dict[str, ExistingAction] = {}
    start = now - timedelta(days=days)
    day = start
    while day <= now:
        with store.session() as s:
            snap = read_snapshot(s, owner_id, config, day, include_actions=False)
        snap = Snapshot(
            owner=snap.owner,
            contacts=snap.contacts,
            sent=snap.sent,
            meetings=snap.meetings,
            actions=tuple(existing.values()),
            default_account=snap.default_account,
        )
        result = plan_actions(snap, day, rules, limits)
        for w in result.withdrawals:
            old = existing.get(w.key)
            if old is not None:
                existing[w.key] = _with_state(old, "skipped")
        for pa in result.actions:
            if pa.key in existing:
                continue
            if pa.due_at <= day + timedelta(days=1):
                fired.append(Fired(day, pa))
                existing[pa.key] = ExistingAction(
                    pa.key, pa.rule, pa.kind, pa.contact_id, "created", pa.due_at, day
                )
        day += timedelta(days=1)
    return fired


def _with_state(a: ExistingAction, state: str) -> ExistingAction:
    return ExistingAction(a.key, a.rule, a.kind, a.contact_id, state, a.due_at, a.created_at)  # type: ignore[arg-type]
