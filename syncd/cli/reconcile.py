"""`syncd accounts reconcile` and `syncd accounts resync NAME`: proof of completeness.

Registered on `syncd.cli.root.accounts`. Both go through `syncd.sync.reconcile`: reconcile compares
each stream's recent provider ids with the store and repairs what is missing, cursors
untouched; resync does the same over a bounded window and then re-baselines each stream's
cursor to now. Use resync when a cursor is lost or suspect (restored backup, a stream
that stays "behind"); use `syncd sync --full` when history older than the window must be
read again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click

from connectors.base import ConnectorError
from syncd.cli.app import App, emit_json, parse_date, pass_app
from syncd.cli.text import DataTable
from syncd.config import Config, parse_duration
from syncd.errors import SyncdError
from syncd.sync.passes import sources_for
from syncd.sync.reconcile import (
    RESYNC_WINDOW,
    Health,
    StreamCheck,
    account_health,
    reconcile_account,
    records_for,
    resync_account,
    stream_health,
)


def reconcile_window(config: Config) -> timedelta:
    return parse_duration(config.settings.daemon.reconcile_window)


@click.command("reconcile")
@click.option("--account", metavar="NAME", help="Only this account.")
@click.option("--window", help="How far back to compare, e.g. 14d (default: reconcile_window).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of stream checks.")
@pass_app
def accounts_reconcile(app: App, account: str | None, window: str | None, as_json: bool) -> None:
    """Compare each stream's recent provider ids with the store and repair any gap.

    Cursors are not touched. A stream whose source cannot list its ids is reported
    not_reconcilable.
    """
    span = _window(window) if window else reconcile_window(app.config)
    configured = app.config.settings.accounts
    targets = [app.config.settings.account(account)] if account else configured
    checks: list[StreamCheck] = []
    syncer = app.syncer()
    records = records_for(app.config.state_dir)
    for acc in targets:
        try:
            sources = sources_for(app.connectors, acc)
        except (SyncdError, ConnectorError) as exc:
            checks.append(StreamCheck(acc.name, "*", "?", "error", error=str(exc)))
            continue
        checks.extend(
            reconcile_account(syncer, sources, now=app.now(), window=span, records=records)
        )
    _print(app, checks, as_json, title="Reconciliation")
    _fail_on_errors(checks, app.config)


@click.command("resync")
@click.argument("name")
@click.option(
    "--since",
    metavar="DATE",
    help=f"Re-read from this day (YYYY-MM-DD, UTC); default {RESYNC_WINDOW.days} days ago.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of stream checks.")
@pass_app
def accounts_resync(app: App, name: str, since: str | None, as_json: bool) -> None:
    """Re-baseline one account: re-read a bounded window, then set every cursor to now.

    Each stream gets a fresh cursor from the provider (taken before the window is read,
    so nothing arriving meanwhile is lost), the window's items missing from the store are
    stored, and the fresh cursor is saved. The first step when a cursor is lost or a
    stream stays "behind"; items older than the window are not read (`syncd sync --full`
    reads everything). Streams that cannot be reconciled keep their cursor.
    """
    acc = app.config.settings.account(name)
    now = app.now()
    start = parse_date(since, "--since") if since else now - RESYNC_WINDOW
    if start > now:
        raise click.BadParameter(f"{since} is in the future", param_hint="--since")
    sources = sources_for(app.connectors, acc)
    checks = resync_account(
        app.syncer(), sources, now=now, since=start, records=records_for(app.config.state_dir)
    )
    _print(app, checks, as_json, title=f"Resync of {name} since {start.date().isoformat()}")
    _fail_on_errors(checks, app.config)


def _window(value: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from None


def _print(app: App, checks: list[StreamCheck], as_json: bool, *, title: str) -> None:
    if as_json:
        emit_json([c.as_dict() for c in checks])
        return
    t = DataTable(title=title, title_justify="left")
    for col in ("account", "stream", "checked", "missing", "repaired", "result"):
        t.add_column(col, justify="right" if col in ("checked", "missing", "repaired") else "left")
    for c in checks:
        t.add_row(c.account, c.stream, str(c.checked), str(c.missing), str(c.repaired), _word(c))
    app.out.print(t)


def _word(c: StreamCheck) -> str:
    words: dict[str, str] = {
        "ok": "ok",
        "gap": f"[yellow]gap repaired[/yellow] (e.g. {', '.join(c.sample[:2])})",
        "not_reconcilable": "not reconcilable",
        "not_synced": "not synced yet",
        "cursor_expired": "cursor expired (the next sync resyncs)",
        "error": f"[red]{c.error}[/red]",
    }
    word = words[c.status]
    return word + (", cursor re-baselined" if c.rebaselined else "")


def _fail_on_errors(checks: list[StreamCheck], config: Config) -> None:
    failed = [c for c in checks if c.status == "error"]
    if failed:
        from syncd.hints import failure_hint

        raise SyncdError(
            f"{len(failed)} stream(s) could not be reconciled: "
            + "; ".join(f"{c.account} {c.stream}: {c.error}" for c in failed),
            hint=failure_hint(config, [(c.account, c.error or "") for c in failed]),
        )


def reconcile_interval(config: Config) -> timedelta:
    return parse_duration(config.settings.daemon.reconcile_interval)


def add_health(
    app: App, account: dict[str, Any], cursors: dict[str, str | None], now: datetime
) -> None:
    """`syncd accounts status`: each stream's and the account's `health` and the stream's
    last `reconcile` result (new fields; see `syncd.sync.reconcile.stream_health`)."""
    records = records_for(app.config.state_dir).of_account(app.owner_id, account["name"])
    interval = reconcile_interval(app.config)
    healths: list[Health] = []
    for st in account["streams"]:
        record = records.get(st["name"])
        st["reconcile"] = record
        st["health"] = stream_health(
            last_error=st["last_error"],
            cursor=cursors.get(st["name"]),
            record=record,
            now=now,
            interval=interval,
        )
        healths.append(st["health"])
    account["health"] = account_health(account["state"], healths)
