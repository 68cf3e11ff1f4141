"""The tables and summaries that several commands print (sync, run --once, import, history,
contacts list); rich loads only when one is printed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncd.cli.app import App, emit_json

if TYPE_CHECKING:
    from syncd.sync.passes import SyncReport


def sync_summary(report: SyncReport) -> dict[str, Any]:
    streams = [
        {
            "account": s.account,
            "stream": s.stream,
            "kind": s.kind,
            "read": s.read,
            "new_interactions": s.result.new_interactions,
            "new_sources": s.result.new_sources,
            "new_contacts": s.result.new_contacts,
            "removed": s.result.removed,
            "skipped_private": s.result.skipped_private,
            "by_category": s.result.by_category,
            "resynced": s.resynced,
            "error": s.error,
        }
        for s in report.streams
    ]
    total = report.total()
    return {
        "streams": streams,
        "read": sum(s.read for s in report.streams),
        "new_interactions": total.new_interactions,
        "new_contacts": total.new_contacts,
        "errors": len(report.errors),
    }


def print_sync(app: App, report: SyncReport, as_json: bool) -> None:
    from syncd.cli.text import DataTable, cell

    if as_json:
        emit_json(sync_summary(report))
        return
    table = DataTable(title="Sync", title_justify="left")
    for col in ("account", "stream", "read", "new", "contacts", "status"):
        table.add_column(col, justify="right" if col in ("read", "new", "contacts") else "left")
    for s in report.streams:
        table.add_row(
            s.account,
            s.stream,
            str(s.read),
            str(s.result.new_interactions),
            str(s.result.new_contacts),
            cell(s.error, "red") if s.error else ("resynced" if s.resynced else "ok"),
        )
    app.out.print(table)


def interactions_table(app: App, title: str, rows: list[dict[str, Any]]) -> None:
    from syncd.cli.text import DataTable

    t = DataTable(title=title, title_justify="left")
    for col in ("when (UTC)", "kind", "dir", "with", "subject", "accounts"):
        t.add_column(col)
    for i in rows:
        people = i["counterparts"]
        t.add_row(
            (i["occurred_at"] or "")[:16].replace("T", " "),
            i["kind"],
            i["direction"] or "",
            ", ".join(people[:2]) + (" …" if len(people) > 2 else ""),
            (i["subject"] or "")[:70],
            ", ".join(i["accounts"]),
        )
    app.out.print(t)


def contacts_table(app: App, rows: list[dict[str, Any]], title: str) -> None:
    from syncd.cli.text import DataTable

    t = DataTable(title=title, title_justify="left")
    for col in ("name", "emails", "tier", "last (UTC)", "90d", "two-way", "strength", "due"):
        t.add_column(col, justify="right" if col in ("90d", "two-way", "strength") else "left")
    for c in rows:
        t.add_row(
            c["name"] or "",
            ", ".join(c["emails"]),
            c["tier"] or "",
            (c["last_interaction_at"] or "")[:10],
            str(c["interactions_90d"]),
            str(c["two_way_90d"]),
            str(c["strength"]),
            (c["next_due_at"] or "")[:10],
        )
    app.out.print(t)
