"""`syncd import`, `syncd explain` and `syncd history`: mail and events in, and what
syncd made of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from syncd.cli.app import App, emit_json, pass_app
from syncd.cli.tables import interactions_table, print_sync
from syncd.errors import InputError, NotFound, SyncdError


@click.command("import")
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
    print_sync(app, result, as_json)
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


# --- explain ---


@click.command()
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
    from syncd.ingest.classify import classify
    from syncd.ingest.owner_history import explain_history, with_verdict
    from syncd.isotime import iso

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


@click.command("history")
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
    from syncd.cli.text import cell
    from syncd.contacts.views import history
    from syncd.store.contacts import addresses_of

    now = app.now()
    with app.store.session() as s:
        from syncd.contacts.lookup import find_contact

        try:
            contact = find_contact(s, app.owner_id, address)
            addresses = addresses_of(s, contact.id)
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
    interactions_table(app, f"History with {', '.join(addresses)}", items)
