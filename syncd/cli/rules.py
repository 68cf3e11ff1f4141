"""CLI commands of the rules engine: plan, apply, actions. Registered on `syncd.cli.root.cli`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from rules.model import Plan, PlannedAction
from syncd.cli.app import App, emit_json, pass_app
from syncd.cli.rule_checks import warn_rule_problems
from syncd.config import parse_duration
from syncd.gcpause import no_cyclic_gc
from syncd.isotime import iso
from syncd.outbox.planning import apply_rules, backtest, make_plan, sinks_for
from syncd.store.snapshot import action_states, first_addresses

if TYPE_CHECKING:
    from syncd.outbox.executor import OutboxReport

# `plan --json` loads neither rich (tables, syncd.cli.text) nor the executor (Jinja,
# icalendar): each function that needs one imports it.


def _emails(app: App, ids: set[int]) -> dict[int, str]:
    # `ids` are the contacts of one plan's actions (bounded by the plan): chunked.
    with app.store.read_connection() as conn:
        return first_addresses(conn, ids)


def planned_doc(pa: PlannedAction, email: str | None, state: str) -> dict[str, Any]:
    """An action in the contract's fields (id is null until it is recorded)."""
    return {
        "id": None,
        "rule": pa.rule,
        "kind": pa.kind,
        "contact": email,
        "account": pa.account,
        "state": state,
        "key": pa.key,
        "due_at": iso(pa.due_at),
        "provider_ref": None,
        "error": None,
        "reason": pa.reason,
        "subject": pa.draft.subject if pa.draft else (pa.hold.title if pa.hold else None),
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")
@click.option(
    "--backtest",
    "backtest_window",
    metavar="WINDOW",
    help="Replay the rules over the stored history of this window (e.g. 90d) and show"
    " what would have fired when. Nothing is written.",
)
@pass_app
def plan(app: App, as_json: bool, backtest_window: str | None) -> None:
    """Dry run: the actions the rules would create now, with reasons. Nothing is written."""
    now = app.now()
    if backtest_window:
        try:
            days = max(1, parse_duration(backtest_window).days)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--backtest") from None
        _backtest(app, now, days, as_json)
        return
    if not app.config.settings.rules:
        app.err.print("no [[rules]] in the config: nothing to plan (see config.example.toml)")
    warn_rule_problems(app.config)
    # The snapshot and the plan live until the command has printed them and exits.
    with no_cyclic_gc(keep=True):
        _, result = make_plan(app.store, app.config, app.owner_id, now)
    with app.store.read_connection() as conn:
        states = action_states(conn, app.owner_id, (a.key for a in result.actions))
    emails = _emails(app, {a.contact_id for a in result.actions})
    docs = [
        planned_doc(a, emails.get(a.contact_id), states.get(a.key, "new")) for a in result.actions
    ]
    withdrawals = [{"key": w.key, "reason": w.reason} for w in result.withdrawals]
    if as_json:
        emit_json({"actions": docs, "withdrawals": withdrawals, "deferred": list(result.deferred)})
        return
    from syncd.cli.text import cell

    _actions_table(app, docs, f"Plan: {len(docs)} action(s) as of {iso(now)}", reason=True)
    for w in withdrawals:
        app.out.print(cell(f"withdraw {w['key']}: {w['reason']}"))
    for key in result.deferred:
        app.out.print(cell(f"deferred by the caps: {key}"))


def _backtest(app: App, now: datetime, days: int, as_json: bool) -> None:
    fired = backtest(app.store, app.config, app.owner_id, now, days)
    emails = _emails(app, {f.action.contact_id for f in fired})
    docs = [
        {"day": f.day.date().isoformat()}
        | planned_doc(f.action, emails.get(f.action.contact_id), "would fire")
        for f in fired
    ]
    if as_json:
        emit_json(docs)
        return
    from syncd.cli.text import DataTable

    t = DataTable(title=f"Backtest over {days} days: {len(docs)} action(s)", title_justify="left")
    for col in ("day", "rule", "kind", "contact", "reason"):
        t.add_column(col)
    for d in docs:
        t.add_row(d["day"], d["rule"], d["kind"], d["contact"] or "", d["reason"])
    app.out.print(t)


def _report_doc(result: Plan, report: OutboxReport) -> dict[str, Any]:
    return {
        "planned": len(result.actions),
        "new": report.planned,
        "created": report.created,
        "found_existing": report.found,
        "failed": report.failed,
        "withdrawn": report.withdrawn,
        "removed": report.removed,
        "dismissed": report.dismissed,
        "left_alone": report.left_alone,
        "errors": report.errors,
    }


def run_rules(app: App) -> dict[str, Any]:
    """Plan and execute; used by `apply` and by `run --once`."""
    warn_rule_problems(app.config)
    result, report = apply_rules(
        app.store, app.config, app.owner_id, app.now(), sinks_for(app.config, app.connectors)
    )
    return _report_doc(result, report)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@pass_app
def apply(app: App, as_json: bool) -> None:
    """Plan and execute: create the due drafts and holds, withdraw what is no longer needed."""
    doc = run_rules(app)
    if as_json:
        emit_json(doc)
    else:
        print_rules_outcome(app, doc)
    if doc["errors"]:
        raise click.exceptions.Exit(1)


def print_rules_outcome(app: App, doc: dict[str, Any]) -> None:
    from syncd.cli.text import cell

    app.out.print(
        f"actions: {doc['new']} new, {doc['created']} created, {doc['found_existing']} already"
        f" there, {doc['withdrawn']} withdrawn ({doc['removed']} removed), {doc['dismissed']}"
        f" dismissed, {doc['failed']} failed",
        markup=False,
    )
    for e in doc["errors"]:
        app.err.print(cell(f"  {e}"))


@click.group()
def actions() -> None:
    """The outbox: drafts and holds syncd planned or created."""


def _action_docs(app: App, state: str | None) -> list[dict[str, Any]]:
    from syncd.store.outbox import actions_listed, owner_first_addresses

    with app.store.session() as s:
        rows = actions_listed(s, app.owner_id, state)
        emails = owner_first_addresses(s, app.owner_id)
    return [
        {
            "id": a.id,
            "rule": a.rule,
            "kind": a.kind,
            "contact": emails.get(a.contact_id) if a.contact_id else None,
            "account": (a.provider_ref or "").split(":", 1)[0] or None,
            "state": a.state,
            "key": a.key,
            "due_at": iso(a.due_at),
            "provider_ref": a.provider_ref,
            "error": a.error,
            "reason": a.reason,
            "attempts": a.attempts,
        }
        for a in rows
    ]


def _actions_table(app: App, docs: list[dict[str, Any]], title: str, *, reason: bool) -> None:
    from syncd.cli.text import DataTable

    t = DataTable(title=title, title_justify="left")
    cols = ["id", "rule", "kind", "contact", "due (UTC)", "state", "reason" if reason else "error"]
    for col in cols:
        t.add_column(col)
    for d in docs:
        t.add_row(
            "" if d["id"] is None else str(d["id"]),
            d["rule"],
            d["kind"],
            d["contact"] or "",
            (d["due_at"] or "")[:16].replace("T", " "),
            d["state"],
            (d["reason"] if reason else d["error"]) or "",
        )
    app.out.print(t)


@actions.command("list")
@click.option(
    "--state",
    type=click.Choice(["planned", "executing", "created", "failed", "dismissed", "skipped"]),
    help="Only actions in this state.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_app
def actions_list(app: App, state: str | None, as_json: bool) -> None:
    """Every action with its state, due time, and the error if it failed."""
    docs = _action_docs(app, state)
    if as_json:
        emit_json(docs)
        return
    _actions_table(app, docs, f"Actions: {len(docs)}", reason=False)


@actions.command("dismiss")
@click.argument("action_id", type=int)
@pass_app
def actions_dismiss(app: App, action_id: int) -> None:
    """Never create this action; remove its draft or hold if you have not touched it."""
    from syncd.outbox.executor import Outbox

    outbox = Outbox(app.store, app.config, app.owner_id, sinks_for(app.config, app.connectors))
    click.echo(outbox.dismiss(action_id, app.now()))
