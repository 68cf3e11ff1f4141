"""`syncd report`: network measures as rich tables, JSON, or one HTML page with charts.

Registered on `syncd.cli.root.cli`. The measures are computed by `syncd.report.document` (SQL
aggregates); the page by `syncd.report.html`. docs/report.md defines each figure.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from syncd.cli.app import App, emit_json, parse_date, pass_app
from syncd.cli.text import DataTable, cell
from syncd.config import Config, parse_duration
from syncd.errors import InputError
from syncd.report.document import (
    ReportParams,
    build_report,
    default_since,
    format_answered,
    format_duration,
    format_rate,
)
from syncd.report.hint import older_mail_hint

DEFAULT_DORMANT = "180d"  # the dormant rule's default `after`


def report_params(app: App, since: datetime | None, reply_within: str) -> ReportParams:
    now = app.now()
    try:
        reply_days = max(1, parse_duration(reply_within).days)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--reply-within") from None
    start = since or default_since(now)
    if start > now:
        raise click.BadParameter("is after now", param_hint="--since")
    return ReportParams(
        now=now,
        since=start,
        tiers={k: t.cadence_days for k, t in app.config.settings.tiers.items()},
        reply_days=reply_days,
        dormant_days=dormant_days(app.config),
    )


def dormant_days(config: Config) -> int:
    """The first dormant rule's `after`, else its default: the report and the rule agree."""
    for rule in config.settings.rules:
        if rule.kind == "dormant":
            return parse_duration(rule.after or DEFAULT_DORMANT).days
    return parse_duration(DEFAULT_DORMANT).days


@click.command()
@click.option(
    "--since",
    metavar="DATE",
    help="Start of the period (YYYY-MM-DD, UTC). Default: the first day of the month"
    " eleven months ago (twelve months with this one).",
)
@click.option(
    "--reply-within",
    default="7d",
    show_default=True,
    metavar="DURATION",
    help="A message counts as answered when the reply came within this time.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the measures as one JSON object.")
@click.option(
    "--html",
    "html_file",
    metavar="FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write one self-contained HTML page with charts to FILE (instead of the tables;"
    " with --json, as well as the JSON).",
)
@pass_app
def report(
    app: App, since: str | None, reply_within: str, as_json: bool, html_file: Path | None
) -> None:
    """Network measures: interaction frequency, response rates both ways, two-way share,
    the active network month by month and its growth, overdue and dormant contacts per
    tier, and the most neglected relationships (docs/report.md defines each)."""
    start = parse_date(since, "--since") if since is not None else None
    params = report_params(app, start, reply_within)
    with app.store.read_session() as s:
        doc = build_report(s, app.owner_id, params)
        hint = None if start is not None else older_mail_hint(s, app.owner_id, doc)
    if hint:
        click.echo(f"syncd: hint: {hint}", err=True)
    if html_file is not None:
        from syncd.report.html import render_html

        try:
            html_file.write_text(
                render_html(doc, owner=app.config.owner.name, hint=hint), encoding="utf-8"
            )
        except OSError as exc:
            raise InputError(f"{html_file}: cannot write: {exc.strerror or exc}") from None
        app.err.print(cell(f"report written to {html_file}"), highlight=False)
    if as_json:
        emit_json(doc)
        return
    if html_file is None:
        print_report(app, doc)


# --- the terminal form ---


def print_report(app: App, doc: dict[str, Any]) -> None:
    out = app.out
    out.print(
        f"[bold]Network report[/bold] {doc['since'][:10]} – {doc['until'][:10]}"
        f"  (answered within {doc['settings']['reply_within_days']} d,"
        f" active = two-way in {doc['settings']['active_window_days']} d)"
    )
    i, r, a = doc["interactions"], doc["response"], doc["active_network"]
    summary = DataTable(title="Summary", title_justify="left", show_header=False)
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    growth = f"{a['growth']:+d}" + (f" ({a['growth_pct']:+.1f}%)" if a["growth_pct"] else "")
    for label, value in (
        ("Interactions", f"{i['total']} ({i['in']} in, {i['out']} out, {i['mutual']} meetings)"),
        ("per week / per month", f"{i['per_week']:.1f} / {i['per_month']:.1f}"),
        ("Two-way share", f"{format_rate(i['two_way_share'])} ({i['two_way']})"),
        ("Your mail answered", format_answered(r["sent"])),
        ("  median response", format_duration(r["sent"]["median_response_seconds"])),
        ("Their mail you answered", format_answered(r["received"])),
        ("  median response", format_duration(r["received"]["median_response_seconds"])),
        (
            "Pending (window open)",
            f"{r['sent']['pending']} sent, {r['received']['pending']} received",
        ),
        ("Active network now", str(a["current"])),
        ("  growth over the period", growth),
        ("Overdue contacts", str(doc["overdue"])),
        ("Dormant contacts", str(doc["dormant"])),
    ):
        summary.add_row(label, value)
    out.print(summary)
    _months_table(app, doc["months"])
    _tiers_table(app, doc["tiers"])
    _neglected_table(app, doc["neglected"])


def _months_table(app: App, months: list[dict[str, Any]]) -> None:
    t = DataTable(title="Month by month (UTC)", title_justify="left")
    cols = ("month", "in", "out", "meetings", "total", "two-way", "active", "change")
    for col in (*cols, "yours answered", "theirs answered"):
        t.add_column(col, justify="left" if col == "month" else "right")
    for m in months:
        change = m["active_change"]
        t.add_row(
            m["month"],
            str(m["in"]),
            str(m["out"]),
            str(m["mutual"]),
            str(m["total"]),
            format_rate(m["two_way_share"]),
            str(m["active_network"]),
            "" if change is None else f"{change:+d}",
            format_answered(m["sent_response"]),
            format_answered(m["received_response"]),
        )
    app.out.print(t)


def _tiers_table(app: App, tiers: list[dict[str, Any]]) -> None:
    t = DataTable(title="Per tier", title_justify="left")
    cols = ("tier", "cadence", "contacts", "reached", "interactions", "per contact/mo")
    for col in (*cols, "two-way", "yours answered", "median", "theirs answered", "overdue"):
        t.add_column(col, justify="left" if col == "tier" else "right")
    t.add_column("dormant", justify="right")
    for row in tiers:
        per = row["per_contact_per_month"]
        t.add_row(
            cell(row["tier"] or "(none)"),
            f"{row['cadence_days']} d" if row["cadence_days"] else "",
            str(row["contacts"]),
            str(row["contacts_reached"]),
            str(row["interactions"]),
            "–" if per is None else f"{per:.2f}",
            format_rate(row["two_way_share"]),
            format_answered(row["sent_response"]),
            format_duration(row["sent_response"]["median_response_seconds"]),
            format_answered(row["received_response"]),
            str(row["overdue"]),
            str(row["dormant"]),
        )
    app.out.print(t)


def _neglected_table(app: App, rows: list[dict[str, Any]]) -> None:
    t = DataTable(title="Most neglected relationships", title_justify="left")
    for col in ("name", "email", "tier", "last (UTC)", "silent", "overdue by", "interactions"):
        t.add_column(
            col, justify="right" if col in ("silent", "overdue by", "interactions") else "left"
        )
    for n in rows:
        t.add_row(  # names and addresses are the user's data, not rich markup
            cell(n["name"]),
            cell(n["email"]),
            cell(n["tier"]),
            (n["last_interaction_at"] or "")[:10],
            f"{n['days_silent']} d",
            "" if n["overdue_days"] is None else f"{n['overdue_days']} d",
            str(n["interactions"]),
        )
    if not rows:
        app.out.print("Most neglected relationships: none")
        return
    app.out.print(t)
