"""The `syncd` command line.

Every listing command takes ``--json`` and then prints one JSON document on stdout and
nothing else there. Exit status: 0 on success, 1 on a handled error (one line on stderr
with a hint), 2 on bad usage. Progress bars go to stderr, and only on a terminal.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

from syncd import __version__
from syncd.cli.app import App, LazyGroup, emit_json, parse_date, pass_app
from syncd.environ import OWNER_ENV
from syncd.errors import InputError, NotFound, SecretError, SyncdError

if TYPE_CHECKING:
    from syncd.store.db import Store
    from syncd.sync.passes import SyncReport

log = logging.getLogger("syncd")

# Commands in other modules, imported only when one of them runs (see LazyGroup).
LAZY_COMMANDS = {
    "actions": (
        "syncd.cli.rules:actions",
        "The outbox: drafts and holds syncd planned or created.",
    ),
    "apply": (
        "syncd.cli.rules:apply",
        "Plan and execute: create the due drafts and holds, withdraw what is no longer needed.",
    ),
    "doctor": (
        "syncd.cli.doctor:doctor",
        "Check the config, secret files, state folder, store and every account; say how to"
        " fix each problem.",
    ),
    "plan": (
        "syncd.cli.rules:plan",
        "Dry run: the actions the rules would create now, with reasons.",
    ),
    "report": (
        "syncd.cli.report:report",
        "Network measures: interaction frequency, response rates both ways, two-way share, the"
        " active network month by month and its growth, overdue and dormant contacts per tier,"
        " and the most neglected relationships (docs/report.md defines each).",
    ),
    "secrets": (
        "syncd.cli.secrets:secrets",
        "Encrypt the token files syncd writes (Google credentials, msal token caches).",
    ),
}
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


# --- the group ---


@click.group(
    cls=LazyGroup,
    lazy=LAZY_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="Config file (TOML). Default: $SYNCD_CONFIG, ./syncd.toml,"
    " ~/.config/syncd/config.toml, /etc/syncd/config.toml.",
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    envvar="SYNCD_LOG_FORMAT",
    help="Log lines on stderr as text (event key=value ...) or JSON objects, one per line.",
)
@click.option(
    "--owner",
    metavar="NAME",
    envvar=OWNER_ENV,
    help="Team deployments: whose accounts, contacts, rules and outbox (an owner under"
    " [team] in the config). Default: $SYNCD_OWNER.",
)
@click.version_option(__version__, prog_name="syncd")
@click.pass_context
def cli(
    ctx: click.Context, config_path: str | None, verbose: int, log_format: str, owner: str | None
) -> None:
    """syncd keeps your relationships alive from your own mail and calendars.

    It reads your mailboxes and calendars, keeps one history per person, and (with rules)
    prepares follow-up drafts and calendar holds for you to review. It never sends mail.

    \b
    First steps:
      syncd --config config.toml init       create the store
      syncd --config config.toml run --once sync every account and show what was found
      syncd contacts list                   who you are in touch with
      syncd history someone@example.org     everything with one person
    """
    from syncd.logs import LogFormat, setup_logging

    level = max(logging.WARNING - 10 * verbose, logging.DEBUG)
    setup_logging(level, cast(LogFormat, log_format))
    ctx.obj = App(config_path, owner)
    ctx.call_on_close(ctx.obj.close)


@cli.command()
@pass_app
def init(app: App) -> None:
    """Create the store, or migrate it to this version's schema."""
    from syncd.store.db import Store, current_revision, migrate
    from syncd.sync.passes import Syncer

    store = Store(app.config.store_url)
    before = current_revision(store.engine) if _has_tables(store) else None
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


def _has_tables(store: Store) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(store.engine).get_table_names())


# --- sync, run, import ---


@cli.command()
@click.option("--account", metavar="NAME", help="Only this account.")
@click.option(
    "--full", is_flag=True, help="Ignore cursors and read everything again (no duplicates)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def sync(app: App, account: str | None, full: bool, as_json: bool) -> None:
    """One sync pass over every account (or one); no actions are planned."""
    report = _run_sync(app, account=account, full=full, show_progress=not as_json)
    _print_sync(app, report, as_json)
    if report.errors:
        from syncd.hints import failure_hint

        raise SyncdError(
            f"{len(report.errors)} stream(s) failed: "
            + "; ".join(f"{r.account} {r.stream}: {r.error}" for r in report.errors),
            hint=failure_hint(app.config, [(r.account, r.error or "") for r in report.errors]),
        )


def _run_sync(app: App, *, account: str | None, full: bool, show_progress: bool) -> SyncReport:
    from syncd.sync.passes import sync_all

    syncer = app.syncer()
    with app.progress(show_progress) as progress:
        return sync_all(syncer, now_fn=app.now, account=account, full=full, progress=progress)


def _summary(report: SyncReport) -> dict[str, Any]:
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


def _print_sync(app: App, report: SyncReport, as_json: bool) -> None:
    from syncd.cli.text import DataTable, cell

    if as_json:
        emit_json(_summary(report))
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


@cli.command()
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
                "sync": _summary(report),
                "interactions": total,
                "recent": recent,
                "contacts": contacts,
                "actions": outcome,
            }
        )
        return
    _print_sync(app, report, as_json=False)
    _interactions_table(app, f"Interactions: {total} (newest {len(recent)})", recent)
    _contacts_table(app, contacts, title=f"Contacts: {len(contacts)}")
    if outcome is not None:
        from syncd.cli.rules import print_rules_outcome

        print_rules_outcome(app, outcome)


@cli.command("import")
@click.argument("kind", type=click.Choice(["mbox", "maildir", "ics", "vcard"]))
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--account", metavar="NAME", help="The account the items belong to (mbox, maildir, ics)."
)
@click.option("--create", is_flag=True, help="vcard: also add people who are not contacts yet.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def import_(
    app: App, kind: str, path: Path, account: str | None, create: bool, as_json: bool
) -> None:
    """Backfill from an export: an mbox file (Google Takeout), a Maildir, an .ics file or
    folder; or read an address book (vcard: a .vcf file or a folder of them).

    Importing the same file again adds nothing; an import that was interrupted resumes.
    Address-book cards are merged into the contacts with the same addresses: names,
    more addresses, birthdays, anniversaries and other dates, time zone, organisation, notes.
    """
    from connectors.maildir import MaildirSource
    from connectors.mbox import MboxFile
    from syncd.sync.passes import AccountSources, SyncReport

    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if kind == "vcard":
        _import_vcards(app, path, create, as_json)
        return
    if account is None:
        raise click.UsageError(f"import {kind} needs --account NAME")
    batch = app.config.settings.sync.batch_size
    source: Any
    if kind == "mbox":
        if not path.is_file():
            raise InputError(f"{path}: not a file (an mbox file was expected)")
        source = MboxFile(path, batch_size=batch)
    elif kind == "maildir":
        source = MaildirSource(path, batch_size=batch)
    else:
        from syncd.sync.connect import ics_import_source

        source = ics_import_source(app.config, path)
    prefix = f"import:{kind}:{path.resolve()}:"
    syncer = app.syncer()
    acc = AccountSources(account, "import", [(prefix, source)])
    with app.progress(not as_json) as progress:
        reports = syncer.sync_account(acc, now=app.now(), progress=progress)
    result = SyncReport(reports)
    _print_sync(app, result, as_json)
    if result.errors:
        raise SyncdError("; ".join(f"{r.stream}: {r.error}" for r in result.errors))


def _import_vcards(app: App, path: Path, create: bool, as_json: bool) -> None:
    from connectors.base import ConnectorError
    from connectors.vcard import read_vcard_files
    from syncd.contacts.vcard_import import import_cards

    counts = {"created": 0, "updated": 0, "unmatched": 0, "skipped": 0, "files": 0}
    now = app.now()
    problems: list[str] = []
    try:
        for file, parsed in read_vcard_files(path):
            counts["files"] += 1
            counts["skipped"] += parsed.skipped
            if parsed.error:
                problems.append(f"{file}: {parsed.error}")
            with app.store.session() as s, s.begin():
                done = import_cards(s, app.owner_id, parsed.cards, now, create=create)
            counts.update({outcome: counts[outcome] + n for outcome, n in done.items()})
    except ConnectorError as exc:
        raise InputError(str(exc)) from None
    for problem in problems:
        app.err.print(f"skipped {problem}", markup=False)
    if as_json:
        emit_json(counts)
        return
    click.echo(
        f"{counts['files']} file(s): {counts['updated']} contact(s) updated,"
        f" {counts['created']} created, {counts['unmatched']} card(s) matched no contact"
        + ("" if create else " (--create adds them)")
        + (f", {counts['skipped']} broken card(s) skipped" if counts["skipped"] else "")
    )


def _interactions_table(app: App, title: str, rows: list[dict[str, Any]]) -> None:
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


# --- explain ---


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def explain(app: App, file: Path, as_json: bool) -> None:
    """Classify one RFC 5322 message file and say why.

    Prints kind (human, newsletter, marketing, list, notification, auto_reply, bounce,
    calendar, spam), whether it counts as an interaction, its direction, the counterparts
    and the reasons. Needs only [owner]; the owner's history is read from an existing store.
    """
    from connectors.base import RawMessage
    from connectors.mailparse import body_part_types, parse_header_block, read_header_section
    from syncd.cli.text import cell
    from syncd.contacts.views import iso
    from syncd.ingest.classify import classify
    from syncd.ingest.owner_history import explain_history, with_verdict

    try:
        with open(file, "rb") as fh:
            head, body, truncated = read_header_section(fh)
    except IsADirectoryError:
        raise InputError(f"{file}: is a folder, not a message file") from None
    except FileNotFoundError:
        raise InputError(f"{file}: no such file") from None
    except OSError as exc:
        raise InputError(f"{file}: cannot read: {exc.strerror or exc}") from None
    msg = RawMessage(
        provider_id=str(file),
        folder="",
        headers=parse_header_block(head),
        body_hints=body_part_types(body),
        truncated=truncated,
    )
    settings = app.config.settings
    options = settings.classify.options(settings.sync.max_group_size)
    c = classify(msg, app.config.owner.identity(), options)
    c = with_verdict(c, explain_history(app.config.store_url, app.config.owner_key, c))
    doc = {
        "file": str(file),
        "kind": c.kind,
        "is_interaction": c.is_interaction,
        "direction": c.direction,
        "counterparts": list(c.counterparts),
        "reasons": list(c.reasons),
        "message_id": c.message_id,
        "subject": c.subject,
        "date": iso(c.occurred_at),
        "from": c.from_address,
        "thread": c.thread_key,
        "truncated": truncated,
    }
    if as_json:
        emit_json(doc)
        return
    out = app.out
    out.print(
        f"[bold]{c.kind}[/bold]  " + ("interaction" if c.is_interaction else "not an interaction")
    )
    out.print(f"direction:    {c.direction or '-'}")
    out.print(cell(f"counterparts: {', '.join(c.counterparts) or '-'}"))
    out.print(cell(f"subject:      {c.subject or '-'}"))
    out.print("reasons:")
    for r in c.reasons:
        out.print(cell(f"  - {r}"))


# --- history ---


@cli.command("history")
@click.argument("address", metavar="ADDRESS_OR_NAME")
@click.option(
    "--all", "include_noise", is_flag=True, help="Include mail that is not an interaction."
)
@click.option("--limit", type=int, default=None, help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_app
def history_cmd(
    app: App, address: str, include_noise: bool, limit: int | None, as_json: bool
) -> None:
    """The unified interaction history with one person (all of their addresses).

    ADDRESS_OR_NAME is an email address (anyone's) or a contact's name, whole or in part
    ("Lisa Taylor", "lisa"); a name that fits several contacts lists them."""
    from sqlalchemy import select

    from syncd.cli.text import cell
    from syncd.contacts.views import history
    from syncd.store.models import ContactAddress

    now = app.now()
    with app.store.session() as s:
        from syncd.contacts.lookup import find_contact

        try:
            contact = find_contact(s, app.owner_id, address)
            addresses = list(
                s.scalars(
                    select(ContactAddress.address).where(ContactAddress.contact_id == contact.id)
                )
            )
        except NotFound:
            from syncd.ingest.addresses import normalize_address

            norm = normalize_address(address) if "@" in address else None
            if norm is None:
                raise
            addresses = [norm]
        items = history(s, app.owner_id, addresses, now, include_noise=include_noise, limit=limit)
    if as_json:
        emit_json(items)
        return
    if not items:
        app.err.print(cell(f"no interactions with {', '.join(addresses)}"))
        return
    _interactions_table(app, f"History with {', '.join(addresses)}", items)


# --- contacts ---


@cli.group()
def contacts() -> None:
    """List, inspect and change contacts."""


def _contacts_table(app: App, rows: list[dict[str, Any]], title: str) -> None:
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


@contacts.command("list")
@click.option("--due", is_flag=True, help="Only contacts whose cadence says it is time.")
@click.option(
    "--sort", type=click.Choice(["recent", "strength", "name"]), default="recent", show_default=True
)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many contacts.")
@click.option(
    "--offset", type=click.IntRange(min=0), default=0, help="Skip this many contacts first."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option(
    "--jsonl", "as_jsonl", is_flag=True, help="Print one JSON object a line, as they are read."
)
@pass_app
def contacts_list(
    app: App, due: bool, sort: str, limit: int | None, offset: int, as_json: bool, as_jsonl: bool
) -> None:
    """Every contact with their last interaction, activity in 90 days and strength.

    Read a page at a time: the JSON forms are written as they are read (the default order,
    recent first, never holds the whole list); --limit and --offset page through it."""
    from syncd.contacts.listing import json_array, json_lines, select_contacts

    now = app.now()
    with app.store.session() as s:
        rows = select_contacts(
            s, app.owner_id, now, app.tiers(), due=due, sort=sort, limit=limit, offset=offset
        )
        if as_jsonl or as_json:
            for text in (json_lines if as_jsonl else json_array)(rows):
                click.echo(text, nl=False)
            return
        listed = list(rows)
    _contacts_table(app, listed, title=f"Contacts: {len(listed)}" + (" due" if due else ""))


@contacts.command("show")
@click.argument("address", metavar="ADDRESS_OR_NAME")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_app
def contacts_show(app: App, address: str, as_json: bool) -> None:
    """One contact: settings, measures and recent history.

    ADDRESS_OR_NAME is one of the contact's addresses or their name, whole or in part."""
    from syncd.cli.text import cell
    from syncd.contacts.views import dates_of, history, list_contacts

    now = app.now()
    from syncd.contacts.lookup import find_contact

    with app.store.session() as s:
        contact = find_contact(s, app.owner_id, address)
        [row] = list_contacts(s, app.owner_id, now, app.tiers(), contact_id=contact.id)
        row["notes"] = contact.notes
        row["working_hours"] = contact.working_hours
        row["dates"] = dates_of(s, contact.id)
        row["recent"] = history(s, app.owner_id, row["emails"], now, limit=10)
    if as_json:
        emit_json(row)
        return
    out = app.out
    out.print(cell(row["name"] or row["emails"][0], "bold") + f"  (id {row['id']})")
    for key in (
        "emails",
        "tier",
        "cadence_days",
        "timezone",
        "organisation",
        "last_interaction_at",
        "next_due_at",
        "interactions_90d",
        "two_way_90d",
        "strength",
        "do_not_contact",
        "snoozed_until",
        "working_hours",
        "notes",
        "dates",
    ):
        value = row[key]
        if key == "strength":
            value = _strength_line(row)
        if key == "dates":
            value = [f"{d['label'] or d['kind']} {d['date']}" for d in value]
        if isinstance(value, list):
            value = ", ".join(value)
        out.print(cell(f"{key + ':':22}{'' if value is None else value}"))
    if row["recent"]:
        out.print("recent:")
        for i in row["recent"]:
            when = (i["occurred_at"] or "")[:10]
            line = f"  {when}  {i['kind']:7} {i['direction'] or '':6} {i['subject'] or ''}"
            out.print(cell(line))


def _strength_line(row: dict[str, Any]) -> str:
    """The score with its parts, as docs/report.md defines them."""
    p = row["strength_parts"]
    return (
        f"{row['strength']} = 100 × (0.4 × recency {p['recency']:.2f}"
        f" + 0.3 × frequency {p['frequency']:.2f} + 0.3 × reciprocity {p['reciprocity']:.2f})"
    )


@contacts.command("set")
@click.argument("address")
@click.option("--name", help="Display name.")
@click.option("--tier", help="Tier name from [tiers] in the config (or 'none').")
@click.option("--cadence", help="Own cadence, e.g. 30d (or 'none' for the tier's).")
@click.option("--timezone", "tz", help="IANA time zone, e.g. America/New_York.")
@click.option("--organisation", help="Company or organisation.")
@click.option("--notes", help="Free text.")
@click.option(
    "--snooze-until", metavar="DATE", help="No actions before this date (YYYY-MM-DD, or 'none')."
)
@click.option("--do-not-contact/--contact-ok", default=None, help="Never plan anything for them.")
@click.option("--add-address", multiple=True, metavar="ADDR", help="Another address of theirs.")
@click.option("--working-hours", metavar="HH:MM-HH:MM", help="Their working hours ('none' unsets).")
@click.option("--birthday", metavar="DATE", help="YYYY-MM-DD or MM-DD ('none' removes it).")
@click.option("--anniversary", metavar="DATE", help="YYYY-MM-DD or MM-DD ('none' removes it).")
@click.option(
    "--date",
    "custom_dates",
    multiple=True,
    metavar="LABEL=DATE",
    help="A custom date, e.g. 'Company founded=2019-03-01' (LABEL=none removes it).",
)
@pass_app
def contacts_set(
    app: App,
    address: str,
    name: str | None,
    tier: str | None,
    cadence: str | None,
    tz: str | None,
    organisation: str | None,
    notes: str | None,
    snooze_until: str | None,
    do_not_contact: bool | None,
    add_address: tuple[str, ...],
    working_hours: str | None,
    birthday: str | None,
    anniversary: str | None,
    custom_dates: tuple[str, ...],
) -> None:
    """Change a contact's settings: tier, cadence, time zone and working hours, dates,
    snooze, do-not-contact, more addresses."""
    from syncd.config import check_timezone, parse_duration, parse_hours
    from syncd.contacts.views import add_address as add_address_to
    from syncd.contacts.views import resolve_contact, set_date, set_fields

    fields: dict[str, Any] = {}
    dates = _date_changes(birthday, anniversary, custom_dates)
    if working_hours is not None:
        if working_hours == "none":
            fields["working_hours"] = None
        else:
            try:
                parse_hours(working_hours)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--working-hours") from None
            fields["working_hours"] = working_hours
    if name is not None:
        fields["name"] = name.strip() or None
    if tier is not None:
        if tier != "none" and tier not in app.config.settings.tiers:
            known = ", ".join(app.config.settings.tiers) or "none"
            raise click.BadParameter(
                f"no tier {tier!r} in the config (tiers: {known})", param_hint="--tier"
            )
        fields["tier"] = None if tier == "none" else tier
    if cadence is not None:
        if cadence == "none":
            fields["cadence_days"] = None
        else:
            try:
                fields["cadence_days"] = max(1, parse_duration(cadence).days)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--cadence") from None
    if tz is not None:
        try:
            fields["timezone"] = check_timezone(tz)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--timezone") from None
    if organisation is not None:
        fields["organisation"] = organisation or None
    if notes is not None:
        fields["notes"] = notes or None
    if snooze_until is not None:
        fields["snoozed_until"] = (
            None if snooze_until == "none" else parse_date(snooze_until, "--snooze-until")
        )
    if do_not_contact is not None:
        fields["do_not_contact"] = do_not_contact
    if not fields and not add_address and not dates:
        raise click.UsageError("nothing to set: give at least one option (see --help)")

    now = app.now()
    with app.store.session() as s, s.begin():
        contact = resolve_contact(s, app.owner_id, address)
        set_fields(s, contact, now, **fields)
        for extra in add_address:
            add_address_to(s, app.owner_id, contact, extra)
        for kind, label, value in dates:
            set_date(s, app.owner_id, contact, kind, value, label)
    changed = [*fields, *(["addresses"] if add_address else []), *(d[0] for d in dates)]
    click.echo(f"updated {address}: " + ", ".join(sorted(set(changed))))


def _date_changes(
    birthday: str | None, anniversary: str | None, custom: tuple[str, ...]
) -> list[tuple[str, str, tuple[int | None, int, int] | None]]:
    from syncd.contacts.views import parse_partial_date

    out: list[tuple[str, str, tuple[int | None, int, int] | None]] = []
    wanted: list[tuple[str, str, str | None, str]] = [
        ("birthday", "", birthday, "--birthday"),
        ("anniversary", "", anniversary, "--anniversary"),
    ]
    for item in custom:
        label, sep, text = item.partition("=")
        if not sep or not label.strip():
            raise click.BadParameter(f"{item!r} is not LABEL=DATE", param_hint="--date")
        wanted.append(("custom", label.strip(), text, "--date"))
    for kind, label, value, option in wanted:
        if value is None:
            continue
        if value == "none":
            out.append((kind, label, None))
            continue
        try:
            out.append((kind, label, parse_partial_date(value)))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=option) from None
    return out


@contacts.command("merge")
@click.argument("keep")
@click.argument("other")
@pass_app
def contacts_merge(app: App, keep: str, other: str) -> None:
    """Merge the contact of OTHER into the contact of KEEP (one person, two entries)."""
    from syncd.contacts.views import merge, resolve_contact

    now = app.now()
    with app.store.session() as s, s.begin():
        a = resolve_contact(s, app.owner_id, keep)
        b = resolve_contact(s, app.owner_id, other)
        merge(s, app.owner_id, a, b, now)
    click.echo(f"merged {other} into {keep}")


@contacts.command("forget")
@click.argument("address")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def contacts_forget(app: App, address: str, yes: bool) -> None:
    """Remove a person and everything recorded about them, and keep them out from now on."""
    from syncd.contacts.views import forget

    if not yes and not click.confirm(
        f"Forget {address} and every interaction recorded only with them?", default=False, err=True
    ):
        raise click.Abort()
    with app.store.session() as s, s.begin():
        counts = forget(s, app.owner_id, address, app.now())
    click.echo(
        f"forgot {address}: {counts['contacts']} contact, {counts['addresses']} address(es),"
        f" {counts['interactions']} interaction(s), {counts['participations']} participation(s);"
        " they stay out of future syncs"
    )


# --- accounts ---


@cli.group(cls=LazyGroup, lazy=LAZY_ACCOUNT_COMMANDS)
def accounts() -> None:
    """The configured accounts and the state of their streams."""


def _accounts_doc(app: App) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from syncd.cli.reconcile import add_health
    from syncd.contacts.views import iso
    from syncd.store.models import Account, Stream

    now = app.now()
    with app.store.session() as s:
        stored = {
            a.name: a for a in s.scalars(select(Account).where(Account.owner_id == app.owner_id))
        }
        streams: dict[int, list[Stream]] = {}
        for st in s.scalars(
            select(Stream).where(Stream.owner_id == app.owner_id).order_by(Stream.name)
        ):
            streams.setdefault(st.account_id, []).append(st)
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


# --- entry point ---


def _fail(message: str, hint: str | None = None) -> NoReturn:
    click.echo(f"syncd: error: {message}", err=True)
    if hint:
        click.echo(f"  hint: {hint}", err=True)
    sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    try:
        rv = cli.main(args=argv, prog_name="syncd", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except SyncdError as exc:
        lines = str(exc).splitlines() or [type(exc).__name__]
        if len(lines) > 1:  # several config errors: one per line, all of them
            for line in lines[:-1]:
                click.echo(f"syncd: error: {line}", err=True)
        _fail(lines[-1], exc.hint)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    except Exception as exc:  # a path that cannot be written, a store that does not answer
        from syncd.paths import handled_error

        err = handled_error(exc)
        if err is None:
            raise  # a bug: its traceback
        _fail(str(err), err.hint)
    sys.exit(rv if isinstance(rv, int) else 0)
