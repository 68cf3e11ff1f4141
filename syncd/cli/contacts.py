"""`syncd contacts`: list, show, set, merge and forget the people in the store."""

from __future__ import annotations

from typing import Any

import click

from syncd.cli.app import App, emit_json, parse_date, pass_app
from syncd.cli.tables import contacts_table
from syncd.gcpause import importing


@click.group()
def contacts() -> None:
    """List, inspect and change contacts."""


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
    # Modules: frozen when this imports them, as a command's are (syncd/gcpause.py).
    with importing("syncd.contacts.listing"):
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
    contacts_table(app, listed, title=f"Contacts: {len(listed)}" + (" due" if due else ""))


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
