"""`syncd accounts`: the configured accounts and the state of their streams; `auth`,
`reconcile` and `resync` load from their own modules when they run."""

from __future__ import annotations

from typing import Any

import click

from syncd.cli.app import App, LazyGroup, emit_json, pass_app

LAZY_ACCOUNT_COMMANDS = {
    "auth": (
        "syncd.cli.auth:accounts_auth",
        "Authorise a gmail account with Google (OAuth, installed-app flow), or an outlook"
        " account with Microsoft (device code: open the printed URL, enter the code), and"
        " store it.",
    ),
    "reconcile": (
        "syncd.cli.reconcile:accounts_reconcile",
        "Compare each stream's recent provider ids with the store and repair any gap.",
    ),
    "resync": (
        "syncd.cli.reconcile:accounts_resync",
        "Re-baseline one account: re-read a bounded window, then set every cursor to now.",
    ),
}


@click.group(cls=LazyGroup, lazy=LAZY_ACCOUNT_COMMANDS)
def accounts() -> None:
    """The configured accounts and the state of their streams."""


def _accounts_doc(app: App) -> list[dict[str, Any]]:
    from syncd.cli.reconcile import add_health
    from syncd.isotime import iso
    from syncd.store.accounts import accounts_and_streams

    now = app.now()
    with app.store.session() as s:
        stored, streams = accounts_and_streams(s, app.owner_id)
    configured = {a.name: a.kind for a in app.config.settings.accounts}
    names = list(configured) + [n for n in stored if n not in configured]
    out = []
    for name in names:
        acc = stored.get(name)
        rows = streams.get(acc.id, []) if acc else []
        out.append(
            {
                "name": name,
                "kind": configured.get(name, acc.kind if acc else None),
                "configured": name in configured,
                "state": acc.state if acc else "never synced",
                "needs_reauth": bool(acc and acc.state == "needs_reauth"),
                "last_error": acc.last_error if acc else None,
                "streams": [
                    {
                        "name": st.name,
                        "kind": st.kind,
                        "items": st.items,
                        "last_sync_at": iso(st.last_sync_at),
                        "cursor_at": iso(st.cursor_at),
                        "cursor_age_seconds": (
                            int((now - st.cursor_at).total_seconds()) if st.cursor_at else None
                        ),
                        "last_error": st.last_error,
                    }
                    for st in rows
                ],
            }
        )
        add_health(app, out[-1], {st.name: st.cursor for st in rows}, now)
    return out


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_app
def accounts_list(app: App, as_json: bool) -> None:
    """Each account with the state of its streams (cursor age, last error and its age)."""
    from syncd.cli.account_words import error_cell
    from syncd.cli.text import DataTable

    doc = _accounts_doc(app)
    now = app.now()
    if as_json:
        emit_json(doc)
        return
    t = DataTable(title="Accounts", title_justify="left")
    cols = ("account", "kind", "state", "stream", "items", "last sync (UTC)", "health", "error")
    for col in cols:
        t.add_column(col)
    for a in doc:
        if not a["streams"]:
            t.add_row(
                a["name"],
                a["kind"] or "",
                a["state"],
                "",
                "",
                "",
                a["health"],
                error_cell(a["last_error"], None, now),
            )
        for st in a["streams"]:
            t.add_row(
                a["name"],
                a["kind"] or "",
                a["state"],
                st["name"],
                str(st["items"]),
                (st["last_sync_at"] or "")[:16].replace("T", " "),
                st["health"],
                error_cell(st["last_error"] or a["last_error"], st["last_sync_at"], now),
            )
    app.out.print(t)


from syncd.cli.account_words import HEALTH_HELP  # noqa: E402

accounts_list.help = f"{accounts_list.help}\n\n{HEALTH_HELP}"
accounts.add_command(accounts_list, "status")
