"""`syncd init`, `syncd sync` and `syncd run`: the store, one pass, the daemon."""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import click

from syncd.cli.app import App, emit_json, pass_app
from syncd.cli.tables import contacts_table, interactions_table, print_sync, sync_summary
from syncd.errors import SecretError, SyncdError
from syncd.gcpause import frozen_heap, no_cyclic_gc

if TYPE_CHECKING:
    from syncd.sync.passes import SyncReport


@click.command()
@pass_app
def init(app: App) -> None:
    """Create the store, or migrate it to this version's schema."""
    from syncd.store.db import Store, current_revision, migrate
    from syncd.sync.passes import Syncer

    store = Store(app.config.store_url)
    before = current_revision(store.engine) if not store.is_empty() else None
    _, after = migrate(store.engine)
    owner_id = store.ensure_owner(app.config.owner_key, app.now())
    syncer = Syncer(store, app.config, owner_id)
    for acc in app.config.settings.accounts:
        syncer.ensure_account(acc.name, acc.kind, app.now())
    if before == after:
        click.echo(f"store {store.display_url} is current (schema {after})")
    else:
        click.echo(f"store {store.display_url} migrated from {before or 'empty'} to {after}")
    store.dispose()


@click.command()
@click.option("--account", metavar="NAME", help="Only this account.")
@click.option(
    "--full", is_flag=True, help="Ignore cursors and read everything again (no duplicates)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def sync(app: App, account: str | None, full: bool, as_json: bool) -> None:
    """One sync pass over every account (or one); no actions are planned."""
    report = _run_sync(app, account=account, full=full, show_progress=not as_json)
    print_sync(app, report, as_json)
    if report.errors:
        from syncd.hints import failure_hint

        raise SyncdError(
            f"{len(report.errors)} stream(s) failed: "
            + "; ".join(f"{r.account} {r.stream}: {r.error}" for r in report.errors),
            hint=failure_hint(app.config, [(r.account, r.error or "") for r in report.errors]),
        )


def _run_sync(app: App, *, account: str | None, full: bool, show_progress: bool) -> SyncReport:
    # The sync's modules (SQLAlchemy's engine, the connectors, the classifier) live as long
    # as this one pass: they are made without the collector walking them as they come, and
    # left out of the collections during the pass (syncd/gcpause.py). A pass with nothing new
    # spent about a tenth of its CPU in the collector.
    with ExitStack() as heap:
        with no_cyclic_gc():
            from syncd.sync.passes import sync_all

            syncer = app.syncer()
            heap.enter_context(frozen_heap())  # before a collection walks what was imported
        with app.progress(show_progress) as progress:
            return sync_all(syncer, now_fn=app.now, account=account, full=full, progress=progress)


@click.command()
@click.option("--once", is_flag=True, help="Sync every account once, print what was found, exit.")
@click.option(
    "--interval",
    default=None,
    help="Time between polls of an account  [default: [daemon] poll_interval, 5m].",
)
@click.option("--json", "as_json", is_flag=True, help="With --once: print the result as JSON.")
@pass_app
def run(app: App, once: bool, interval: str | None, as_json: bool) -> None:
    """The daemon: sync every account on its own schedule, run the rules, again and again.

    SIGTERM or Ctrl-C stops it after the batch being stored; SIGHUP re-reads the config.
    With --once: one pass (sync, plan, create the due drafts and holds), a summary of the
    interactions, contacts and actions, and exit. Between polls an IMAP account whose server
    offers IDLE is polled as soon as new mail comes. See docs/operations.md.
    """
    from syncd.cli.doctor import secret_problems
    from syncd.cli.rules import run_rules
    from syncd.config import parse_duration

    problems = secret_problems(app.config)
    if problems:  # refuse to start rather than run with secrets others can read
        raise SecretError(
            "\n".join(p.detail for p in problems),
            hint="; ".join(p.fix for p in problems if p.fix) or None,
        )
    if once:
        report = _run_sync(app, account=None, full=False, show_progress=not as_json)
        outcome = run_rules(app) if app.config.settings.rules else None
        _print_run_once(app, report, outcome, as_json)
        if report.errors:
            from syncd.hints import failure_hint

            raise SyncdError(
                f"{len(report.errors)} stream(s) failed (see the table above)",
                hint=failure_hint(app.config, [(r.account, r.error or "") for r in report.errors]),
            )
        if outcome and outcome["errors"]:
            raise SyncdError(f"{len(outcome['errors'])} action(s) failed (syncd actions list)")
        return
    try:
        every = None if interval is None else parse_duration(interval)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--interval") from None
    if every is not None and every.total_seconds() <= 0:
        raise click.BadParameter("must be longer than zero", param_hint="--interval")
    from syncd.cli.rule_checks import warn_rule_problems
    from syncd.daemon.loop import Daemon

    warn_rule_problems(app.config, echo=False)  # in the log: rules.unrunnable
    Daemon(app.config, app.store, app.owner_id, now=app.now, interval=every).run()


def _print_run_once(
    app: App, report: SyncReport, outcome: dict[str, Any] | None, as_json: bool
) -> None:
    from syncd.contacts.views import list_contacts, recent_interactions

    now = app.now()
    with app.store.session() as s:
        contacts = list_contacts(s, app.owner_id, now, app.tiers())
        recent, total = recent_interactions(s, app.owner_id, now, limit=25)
    if as_json:
        emit_json(
            {
                "sync": sync_summary(report),
                "interactions": total,
                "recent": recent,
                "contacts": contacts,
                "actions": outcome,
            }
        )
        return
    print_sync(app, report, as_json=False)
    interactions_table(app, f"Interactions: {total} (newest {len(recent)})", recent)
    contacts_table(app, contacts, title=f"Contacts: {len(contacts)}")
    if outcome is not None:
        from syncd.cli.rules import print_rules_outcome

        print_rules_outcome(app, outcome)
