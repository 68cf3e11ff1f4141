"""`syncd doctor`: is this deployment able to run, and if not, what fixes it.

One line per check, each OK, WARN or FAIL, and a fix for every problem: the config parses
(every error with its key path), every secret file is the service user's own and private
(or a systemd credential), an encrypted token file has its key, the state folder is
private, the store is reachable and at this version's schema, and every account answers
and accepts its authorisation with one light call (IMAP login and LIST, CalDAV discovery
of the calendars, a Google token refresh and the Gmail profile, a Microsoft token from the
cache). Nothing is written: no migration, no cursor, no token file. Exit status 1 when a
check FAILs. A team config is checked for each owner (or for --owner only).

`secret_problems` is also what `syncd run` checks before it starts.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import click

from connectors.base import AuthFailed, ConnectorError
from syncd.cli.app import App, emit_json, pass_app
from syncd.cli.rule_checks import rule_problems
from syncd.cli.text import cell, escaped
from syncd.config import (
    AnyAccount,
    CalDavCalendar,
    Config,
    GmailAccount,
    IcsCalendar,
    MaildirAccount,
    OutlookAccount,
    find_config_path,
    load_config,
    load_team,
)
from syncd.errors import ConfigError, SecretError, SyncdError
from syncd.hints import auth_fix
from syncd.secrets import check_secret_file, is_encrypted, read_token_file
from syncd.store.db import SCHEMA_HEAD, Store, current_revision
from syncd.store.errors import DatabaseError
from syncd.sync.connect import Connectors, SecretFile, secret_files, token_key

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    check: str  # config | secret | rule | state_dir | store | account
    subject: str
    status: Status
    detail: str
    fix: str | None = None
    owner: str | None = None


def secret_problems(config: Config) -> list[Check]:
    """The secret files others could read or change: `syncd run` refuses to start on them.

    A missing file is not one of them: it fails only its own account, as before.
    """
    return [
        c for c in check_secrets(config) if c.status == "fail" and "does not exist" not in c.detail
    ]


def check_secrets(config: Config) -> list[Check]:
    out = []
    for item in secret_files(config):
        out.append(_check_secret(config, item))
    return out


def _check_secret(config: Config, item: SecretFile) -> Check:
    subject = str(item.path)
    if not item.required and not item.path.exists() and not _is_credential_var(item):
        account = item.what.split()[1] if item.what.startswith("account ") else ""
        return Check(
            "secret",
            subject,
            "warn",
            f"{item.what}: not there yet (the account is not authorised)",
            f"syncd accounts auth {account}" if account else None,
        )
    try:
        check_secret_file(item.path, what=item.what)
    except SecretError as exc:
        return Check("secret", subject, "fail", str(exc), _fix_of(str(exc), item))
    if _reads_as_encrypted(item):
        try:
            read_token_file(item.path, what=item.what, key=token_key(config))
        except SecretError as exc:
            return Check("secret", subject, "fail", str(exc), exc.hint)
        return Check("secret", subject, "ok", f"{item.what}: private, encrypted")
    return Check("secret", subject, "ok", f"{item.what}: private")


def _is_credential_var(item: SecretFile) -> bool:
    return str(item.path).startswith("${")


def _reads_as_encrypted(item: SecretFile) -> bool:
    try:
        with item.path.open(encoding="utf-8", errors="replace") as f:
            return is_encrypted(f.read(64))
    except OSError:
        return False


def _fix_of(message: str, item: SecretFile) -> str:
    if "run: " in message:
        return message.rsplit("run: ", 1)[1]
    if "does not exist" in message:
        return f"create {item.path} (mode 0600) or fix its path in the config"
    if "CREDENTIALS_DIRECTORY" in message:
        return "run syncd under systemd with LoadCredential= for this file (docs/secrets.md)"
    return "see docs/secrets.md"


def check_state_dir(config: Config) -> Check:
    path = config.state_dir
    if not path.exists():
        return Check("state_dir", str(path), "ok", "not made yet (syncd makes it 0700)")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Check(
            "state_dir",
            str(path),
            "warn",
            f"others can enter it (mode {mode:04o}); it holds the store and tokens",
            f"chmod 700 {path}",
        )
    if path.stat().st_uid != os.getuid():
        return Check(
            "state_dir", str(path), "warn", "belongs to another user", f"chown -R <you> {path}"
        )
    return Check("state_dir", str(path), "ok", f"private (mode {mode:04o})")


def check_store(config: Config) -> Check:
    try:
        store = Store(config.store_url)
    except (SyncdError, DatabaseError, OSError) as exc:
        return Check("store", config.store_url, "fail", f"cannot open: {exc}", "check store.url")
    shown = store.display_url
    try:
        revision = current_revision(store.engine)
    except DatabaseError as exc:
        detail = str(getattr(exc, "orig", exc)).splitlines()[0]
        return Check(
            "store", shown, "fail", f"unreachable: {detail}", "check store.url and the server"
        )
    finally:
        store.dispose()
    if revision == SCHEMA_HEAD:
        return Check("store", shown, "ok", f"reachable, schema {revision} (current)")
    if revision is None:
        return Check("store", shown, "fail", "no schema yet", "run syncd init")
    return Check(
        "store",
        shown,
        "fail",
        f"schema {revision}, this syncd needs {SCHEMA_HEAD} (migrations pending)",
        "run syncd init",
    )


def check_account(config: Config, connectors: Connectors, acc: AnyAccount) -> list[Check]:
    out = [
        _probe(f"account {acc.name}", lambda: _probe_mail(config, connectors, acc), auth_fix(acc))
    ]
    cal = acc.calendar
    if isinstance(cal, CalDavCalendar):
        out.append(
            _probe(
                f"account {acc.name} calendar",
                lambda: f"{len(_streams(connectors.calendar(acc)))} calendar(s) at {cal.url}",
                auth_fix(acc, calendar=True),
            )
        )
    elif isinstance(cal, IcsCalendar):
        out.append(_probe(f"account {acc.name} calendar", lambda: _folder(cal.path), auth_fix(acc)))
    return out


def _streams(source: Any) -> list[Any]:
    return list(source.streams()) if source is not None else []


def _folder(path: Any) -> str:
    if not path.is_dir():
        raise ConfigError(f"{path} is not a folder")
    return f"folder {path}"


def _probe_mail(config: Config, connectors: Connectors, acc: AnyAccount) -> str:
    if isinstance(acc, MaildirAccount):
        return _folder(acc.path)
    if isinstance(acc, GmailAccount):
        api = connectors.google_api(acc)
        gmail = api.service("gmail")
        profile = api.execute(lambda: gmail.users().getProfile(userId="me"), "gmail profile")
        return f"authorised as {profile.get('emailAddress', '?')}"
    if isinstance(acc, OutlookAccount):
        graph = connectors.graph_api(acc)
        graph.token()
        who = acc.user or graph.username() or "the signed-in user"
        return f"token for {who}"
    folders = _streams(connectors.mail(acc))
    return f"logged in to {acc.host}:{acc.effective_port}, {len(folders)} folder(s) to read"


def _probe(subject: str, call: Callable[[], str], fix_auth: str) -> Check:
    try:
        return Check("account", subject, "ok", call())
    except AuthFailed as exc:
        return Check("account", subject, "fail", str(exc), fix_auth)
    except SecretError as exc:
        return Check("account", subject, "fail", str(exc), "see the secret checks above")
    except (ConnectorError, SyncdError, OSError) as exc:
        text = str(exc) or type(exc).__name__
        return Check(
            "account",
            subject,
            "fail",
            text,
            "check the host, port, URL and credentials in the config, and the network",
        )


def doctor_checks(config: Config) -> list[Check]:
    checks = [Check("config", str(config.path), "ok", "parsed")]
    checks += check_secrets(config)
    checks += [Check("rule", p.rule, "warn", p.detail, p.fix) for p in rule_problems(config)]
    checks.append(check_state_dir(config))
    checks.append(check_store(config))
    connectors = Connectors(config)
    try:
        for acc in config.settings.accounts:
            checks += check_account(config, connectors, acc)
    finally:
        connectors.close()
    owner = config.team_owner
    return [Check(**{**asdict(c), "owner": owner}) for c in checks]


def _configs(app: App, owner: str | None) -> tuple[list[Config], list[Check]]:
    """The owners' configs to check, or the config's errors as FAIL checks."""
    try:
        path = find_config_path(app._config_path)
    except ConfigError as exc:
        return [], [Check("config", "-", "fail", str(exc), exc.hint)]
    try:
        if owner is None and _is_team(path):
            team = load_team(path)
            return [load_config(path, name) for name in team.team.owners], []
        return [load_config(path, owner)], []
    except ConfigError as exc:
        lines = str(exc).splitlines()
        return [], [
            Check("config", str(path), "fail", line, f"edit {path} ({exc.hint})") for line in lines
        ]


def _is_team(path: Any) -> bool:
    import tomllib

    try:
        return "team" in tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


_MARK = {"ok": "[green]OK  [/green]", "warn": "[yellow]WARN[/yellow]", "fail": "[red]FAIL[/red]"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of the checks.")
@pass_app
def doctor(app: App, as_json: bool) -> None:
    """Check the config, secret files, state folder, store and every account; say how to fix
    each problem. Exit status 1 when a check fails. Changes nothing."""
    configs, checks = _configs(app, app._owner)
    for config in configs:
        checks += doctor_checks(config)
    if as_json:
        emit_json([asdict(c) for c in checks])
    else:
        for c in checks:
            who = f"[{c.owner}] " if c.owner else ""
            label = c.subject if c.check in ("account", "secret") else f"{c.check} {c.subject}"
            text = escaped(f"{who}{label}: {c.detail}")
            app.out.print(f"{_MARK[c.status]} {text}", highlight=False)
            if c.fix and c.status != "ok":
                app.out.print(cell(f"       fix: {c.fix}"), highlight=False)
    failed = sum(c.status == "fail" for c in checks)
    if failed:
        if not as_json:
            click.echo(f"syncd: doctor: {failed} check(s) failed", err=True)
        raise SystemExit(1)
