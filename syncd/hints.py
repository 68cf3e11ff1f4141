"""The fix to print when an account's authorisation is refused, by the account's kind.

Only gmail and outlook accounts are authorised with `syncd accounts auth NAME`; an IMAP
account (or a CalDAV calendar) logs in with a password from a file or an environment
variable, so its fix is to check that password, and `accounts auth` would only say that
IMAP needs no OAuth.
"""

from __future__ import annotations

from syncd.config import AnyAccount, CalDavCalendar, Config, GmailAccount, OutlookAccount


def _password_source(secret: object) -> str:
    path = getattr(secret, "password_file", None)
    if path is not None:
        return f"the password in {path}"
    env = getattr(secret, "password_env", None)
    return f"the password in ${env}" if env else "the password_file or password_env"


def auth_fix(acc: AnyAccount, *, calendar: bool = False) -> str:
    """What to do when `acc` (its calendar, with `calendar`) refused its credentials."""
    if calendar and isinstance(acc.calendar, CalDavCalendar):
        cal = acc.calendar
        return (
            f"check the calendar's username ({cal.username!r}) and {_password_source(cal)}"
            f" (accounts {acc.name} calendar.password_file or .password_env)"
        )
    if isinstance(acc, GmailAccount | OutlookAccount):
        return f"syncd accounts auth {acc.name}"
    username = getattr(acc, "username", None)
    who = f"the username ({username!r}) and " if username else ""
    return (
        f"check {who}{_password_source(acc)} (account {acc.name}: password_file or"
        " password_env in the config)"
    )


def auth_fix_by_name(config: Config, name: str) -> str:
    """`auth_fix` for the account called `name`; the OAuth command if it is not configured."""
    for acc in config.settings.accounts:
        if acc.name == name:
            return auth_fix(acc)
    return f"syncd accounts auth {name}"


def failure_hint(config: Config, failures: list[tuple[str, str]]) -> str:
    """The fix for failed streams, given as (account, error): the account's own auth fix
    when its credentials were refused, else where to look."""
    for account, error in failures:
        lowered = error.lower()
        if ("refused:" in lowered and "login" in lowered) or "authoris" in lowered:
            return auth_fix_by_name(config, account)
    return (
        "`syncd doctor` checks each account's host, port and credentials;"
        " `syncd accounts status` shows each stream's last error"
    )
