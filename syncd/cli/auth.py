"""`syncd accounts auth NAME`: authorise a gmail or outlook account. Registered on
`syncd.cli.root.accounts`. Outlook accounts sign in with Microsoft's device code flow
(`syncd.cli.outlook`); the rest of this docstring is about gmail accounts.

It asks Google for the least privilege the configured features need (see
`connectors.google_auth` and docs/google.md) and stores the result, google-auth's
authorized-user JSON, in a 0600 file: `credentials` from the config, by default
``<state_dir>/credentials/<name>.json``. Two ways work on a headless server:

- by default the user opens the printed URL on any machine, consents, and pastes back
  the address the browser ends on (``http://127.0.0.1:PORT/?state=…&code=…``; the page
  itself fails to load, nothing listens there);
- with ``--listen PORT`` syncd waits on 127.0.0.1:PORT for that redirect, which reaches
  it through ``ssh -L PORT:127.0.0.1:PORT server``.
"""

from __future__ import annotations

from pathlib import Path

import click

from connectors.google_auth import (
    FEATURE_HELP,
    FEATURE_SCOPES,
    ClientConfig,
    credentials_json,
    granted_scopes,
    has_scope,
    loopback_flow,
    paste_flow,
    scopes_for,
)
from syncd.cli.app import App, pass_app
from syncd.config import GmailAccount, OutlookAccount
from syncd.errors import ConfigError, InputError, SyncdError
from syncd.secrets import write_token_file
from syncd.store.accounts import account_named
from syncd.sync.connect import google_credentials_path, google_features, token_key

DEFAULT_REDIRECT_PORT = 8765


@click.command("auth")
@click.argument("name")
@click.option(
    "--listen",
    "listen_port",
    type=click.IntRange(1, 65535),
    metavar="PORT",
    help="Wait on 127.0.0.1:PORT for Google's redirect (forward it from your machine with"
    " ssh -L PORT:127.0.0.1:PORT this-server). Default: paste the address back instead.",
)
@click.option(
    "--port",
    "redirect_port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_REDIRECT_PORT,
    show_default=True,
    help="Paste mode: the loopback port in the redirect address (nothing needs to listen).",
)
@click.option(
    "--client-secrets",
    type=click.Path(path_type=Path),
    help="The OAuth client JSON (Desktop app); default: client_secrets from the config.",
)
@pass_app
def accounts_auth(
    app: App, name: str, listen_port: int | None, redirect_port: int, client_secrets: Path | None
) -> None:
    """Authorise a gmail account with Google (OAuth, installed-app flow), or an outlook
    account with Microsoft (device code: open the printed URL, enter the code), and store it.

    Asks only for what the configured features need: reading mail metadata, drafts when a
    rule makes drafts, the calendar when one is configured, holds when a rule makes holds.
    Run it again after changing rules, or when `syncd accounts status` says needs_reauth.
    """
    acc = app.config.settings.account(name)
    if isinstance(acc, OutlookAccount):
        from syncd.cli.outlook import authorise_outlook

        authorise_outlook(app, acc, mark_ok=lambda: _mark_ok(app, name))
        return
    if not isinstance(acc, GmailAccount):
        raise SyncdError(
            f"account {name} is a {acc.kind} account: only gmail accounts use OAuth"
            " (and outlook accounts Microsoft's sign-in)"
        )
    client = _client(acc, client_secrets)
    features = google_features(app.config, acc)
    scopes = scopes_for(features)
    for feature in features:
        scope_names = ", ".join(s.rsplit("/", 1)[-1] for s in FEATURE_SCOPES[feature])
        click.echo(f"  {feature}: {FEATURE_HELP[feature]} ({scope_names})", err=True)

    def show(url: str) -> None:
        click.echo("\nOpen this address in a browser (on any machine) and allow access:", err=True)
        click.echo(url, err=True)
        if listen_port is not None:
            click.echo(
                f"\nThe browser then goes to http://127.0.0.1:{listen_port}/ : from another"
                f" machine, first run  ssh -L {listen_port}:127.0.0.1:{listen_port} <this server>",
                err=True,
            )
        else:
            click.echo(
                "\nThe browser then ends on an address that does not load"
                f" (http://127.0.0.1:{redirect_port}/?state=...&code=...). Copy that address.",
                err=True,
            )

    try:
        if listen_port is not None:
            creds = loopback_flow(client, scopes, port=listen_port, show=show)
        else:
            creds = paste_flow(
                client,
                scopes,
                port=redirect_port,
                show=show,
                ask=lambda: str(click.prompt("Paste the address (or the code)", err=True)),
            )
    except (ValueError, OSError) as exc:
        raise SyncdError(f"account {name}: authorisation failed: {exc}") from None
    except Exception as exc:  # oauthlib's errors (access denied, bad code) have no common base
        if type(exc).__module__.startswith(("oauthlib", "requests_oauthlib", "google")):
            raise SyncdError(f"account {name}: authorisation failed: {exc}") from None
        raise
    granted = granted_scopes(creds)
    missing = [s for s in scopes if not has_scope(granted, s)]
    path = google_credentials_path(app.config, acc)
    write_token_file(
        path,
        credentials_json(creds),
        what=f"account {name} credentials",
        key=token_key(app.config),
    )
    _mark_ok(app, name)
    click.echo(f"account {name}: authorised for {', '.join(features)}; stored in {path}")
    if missing:
        left_out = ", ".join(s.rsplit("/", 1)[-1] for s in missing)
        click.echo(f"warning: Google did not grant {left_out}; those features will fail", err=True)


def _client(acc: GmailAccount, override: Path | None) -> ClientConfig:
    path = override or acc.client_secrets
    if path is None:
        raise ConfigError(
            f"account {acc.name}: no OAuth client: set client_secrets in the config or pass"
            " --client-secrets (docs/google.md says how to make one)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return ClientConfig.parse(text, token_uri=acc.endpoints.token_uri)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None


def _mark_ok(app: App, name: str) -> None:
    """A stored needs_reauth state is cleared (the next sync confirms it)."""
    try:
        store = app.store
    except SyncdError:
        return  # no store yet: nothing to clear
    with store.session() as s, s.begin():
        acc = account_named(s, app.owner_id, name)
        if acc is not None and acc.state == "needs_reauth":
            acc.state, acc.last_error = "ok", None
