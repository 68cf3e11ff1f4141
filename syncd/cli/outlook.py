"""`syncd accounts auth NAME` for outlook accounts: Microsoft's device code flow.

The command asks for the least privilege the configured features need
(`connectors.outlook_auth`, docs/outlook.md), prints the verification URL and the code,
and waits while the user signs in on any machine: nothing has to listen on the server,
so it fits a headless one. msal's token cache (the account, its refresh token and access
token) is then written to the account's `token_cache` file, mode 0600, and the account's
needs_reauth state is cleared. An account with ``auth = "client_credentials"`` has
nothing to sign in: the command checks that its secret gets a token.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from connectors.base import ConnectorError
from connectors.http_retry import RetryPolicy
from connectors.outlook_auth import (
    FEATURE_HELP,
    FEATURE_SCOPES,
    IdentityHttp,
    ca_verify,
    device_flow,
    load_cache,
    make_app,
    qualified,
    scope_resource,
    scopes_for,
    token_error,
)
from syncd.cli.app import App
from syncd.config import OutlookAccount
from syncd.errors import SyncdError
from syncd.secrets import write_token_file
from syncd.sync.connect import Connectors, outlook_features, outlook_token_cache_path, token_key


def authorise_outlook(app: App, acc: OutlookAccount, *, mark_ok: Callable[[], None]) -> None:
    features = outlook_features(app.config, acc)
    for feature in features:
        click.echo(
            f"  {feature}: {FEATURE_HELP[feature]} ({', '.join(FEATURE_SCOPES[feature])})",
            err=True,
        )
    if acc.auth == "client_credentials":
        _check_client_credentials(app, acc)
        mark_ok()
        return
    s = app.config.settings.sync
    ends = acc.endpoints
    http = IdentityHttp(
        ca_verify(str(ends.ca_file) if ends.ca_file else None),
        RetryPolicy(
            attempts=s.retry_attempts, first_wait=s.retry_first_wait, max_wait=s.retry_max_wait
        ),
    )
    cache = load_cache(None)  # a new sign-in replaces whatever was stored
    scopes = qualified(scopes_for(features), scope_resource(ends.graph))

    def show(url: str, code: str, message: str) -> None:
        click.echo(f"\nOn any machine, open {url} and enter the code {code}", err=True)
        if message:
            click.echo(message, err=True)
        click.echo("Waiting for the sign-in ...", err=True)

    try:
        msal_app = make_app(
            client_id=acc.client_id, authority=acc.authority, http=http, cache=cache
        )
        result = device_flow(msal_app, scopes, show=show)
    except (ValueError, OSError, ConnectorError) as exc:
        raise SyncdError(f"account {acc.name}: authorisation failed: {exc}") from None
    finally:
        http.close()
    if "access_token" not in result:
        error, text, _ = token_error(result)
        raise SyncdError(f"account {acc.name}: authorisation failed: {error}: {text}")
    path = outlook_token_cache_path(app.config, acc)
    write_token_file(
        path, cache.serialize(), what=f"account {acc.name} token cache", key=token_key(app.config)
    )
    mark_ok()
    granted = {g.rsplit("/", 1)[-1] for g in str(result.get("scope") or "").split()}
    missing = [sc for sc in scopes_for(features) if sc not in granted and granted]
    click.echo(f"account {acc.name}: authorised for {', '.join(features)}; stored in {path}")
    if missing:
        click.echo(
            f"warning: Microsoft did not grant {', '.join(missing)}; those features will fail",
            err=True,
        )


def _check_client_credentials(app: App, acc: OutlookAccount) -> None:
    connectors = Connectors(app.config)
    try:
        connectors.graph_api(acc).token()
    except ConnectorError as exc:
        raise SyncdError(f"account {acc.name}: the client credentials do not work: {exc}") from None
    finally:
        connectors.close()
    click.echo(
        f"account {acc.name}: client credentials work (application permissions; nothing to sign in)"
    )
