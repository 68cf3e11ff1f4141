"""The connector objects of each configured account, built once and shared.

An IMAP account's source is also its draft sink and a CalDAV calendar's source is also its
hold sink, so both sides use one connection (kept open between polls, which keeps an
incremental poll at a constant cost). A gmail account's mail source (also its draft sink)
and Google calendar (also its hold sink) share one authorised transport, so the access
token is refreshed once for both; so do an outlook account's mail and Outlook calendar
(one msal application and token cache). Secrets are read here, when a connector is built;
a missing or world-readable secret fails that account with a clear message, not the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.base import AuthFailed, DraftSink, HoldSink, Source, close_if_closable
from connectors.maildir import MaildirSource
from connectors.maildir_drafts import MaildirDrafts
from syncd.config import (
    AnyAccount,
    CalDavCalendar,
    Config,
    GmailAccount,
    GoogleCalendar,
    IcsCalendar,
    ImapAccount,
    MaildirAccount,
    OutlookAccount,
    OutlookCalendar,
    parse_duration,
)
from syncd.secrets import (
    TokenKey,
    read_secret,
    read_token_file,
    write_token_file,
)

if TYPE_CHECKING:
    from connectors.ics import IcsFileSource, RecurrenceLimits


def google_credentials_path(config: Config, acc: GmailAccount) -> Path:
    """Where a gmail account's authorisation lives (`syncd accounts auth` writes it)."""
    return acc.credentials or _credentials_dir(config) / f"{acc.name}.json"


def outlook_token_cache_path(config: Config, acc: OutlookAccount) -> Path:
    """Where an outlook account's msal token cache lives (`syncd accounts auth` writes it)."""
    return acc.token_cache or _credentials_dir(config) / f"{acc.name}.json"


def _credentials_dir(config: Config) -> Path:
    """<state_dir>/credentials, and in a team one folder per owner (account names repeat)."""
    folder = config.state_dir / "credentials"
    return folder / config.team_owner if config.team_owner else folder


def calendar_guard(config: Config) -> tuple[RecurrenceLimits, frozenset[str]]:
    """How far .ics and CalDAV series are expanded, and the owner's addresses (lower case)
    that tell which invitations the owner has not accepted."""
    # The calendar connectors (icalendar, a tenth of a second) load only for a calendar.
    from connectors.ical import RecurrenceLimits

    s, owner = config.settings.sync, config.owner
    limits = RecurrenceLimits(s.calendar_max_instances, s.calendar_max_recurring)
    return limits, frozenset(a.strip().lower() for a in (*owner.addresses, *owner.aliases))


def ics_import_source(config: Config, path: Path) -> IcsFileSource:
    """The source `syncd import ics` reads: one .ics file or a folder of them."""
    from connectors.ics import IcsFileSource

    s = config.settings.sync
    limits, owner = calendar_guard(config)
    return IcsFileSource(
        path,
        lookback=parse_duration(s.calendar_lookback),
        horizon=parse_duration(s.calendar_horizon),
        batch_size=s.batch_size,
        limits=limits,
        owner=owner,
    )


def token_key(config: Config) -> TokenKey | None:
    """The key token files are encrypted with (``[secrets] key_file``), if one is set."""
    path = config.settings.secrets.key_file
    return None if path is None else TokenKey.load(path)


@dataclass(frozen=True)
class SecretFile:
    """A configured file holding a password, a client secret, a token or a key."""

    what: str
    path: Path
    required: bool  # False: it appears once the account is authorised (accounts auth)


def _gmail_secrets(config: Config, acc: GmailAccount, what: str) -> list[SecretFile]:
    out = [SecretFile(f"{what} credentials", google_credentials_path(config, acc), False)]
    if acc.client_secrets is not None:
        out.append(SecretFile(f"{what} OAuth client", acc.client_secrets, False))
    return out


def _outlook_secrets(config: Config, acc: OutlookAccount, what: str) -> list[SecretFile]:
    if acc.auth != "client_credentials":
        return [SecretFile(f"{what} token cache", outlook_token_cache_path(config, acc), False)]
    if acc.client_secret_file is not None:
        return [SecretFile(f"{what} client secret", acc.client_secret_file, True)]
    return []


def _password_secret(config: Config, acc: ImapAccount, what: str) -> list[SecretFile]:
    if acc.password_file is None:
        return []
    return [SecretFile(f"{what} password", acc.password_file, True)]


def _caldav_secret(cal: CalDavCalendar, what: str) -> list[SecretFile]:
    if cal.password_file is None:
        return []
    return [SecretFile(f"{what} calendar password", cal.password_file, True)]


# The secret files an account (by its kind) and its calendar (by its kind) name or imply.
ACCOUNT_SECRETS: dict[str, Callable[[Config, Any, str], list[SecretFile]]] = {
    "gmail": _gmail_secrets,
    "outlook": _outlook_secrets,
    "imap": _password_secret,
}
CALENDAR_SECRETS: dict[str, Callable[[Any, str], list[SecretFile]]] = {
    "caldav": _caldav_secret,
}


def secret_files(config: Config) -> list[SecretFile]:
    """Every secret file the config names (or implies), for the checks at start and doctor."""
    out: list[SecretFile] = []
    key = config.settings.secrets.key_file
    if key is not None:
        out.append(SecretFile("the token encryption key ([secrets] key_file)", key, True))
    for acc in config.settings.accounts:
        what = f"account {acc.name}"
        account_secrets = ACCOUNT_SECRETS.get(acc.kind)
        if account_secrets is not None:
            out.extend(account_secrets(config, acc, what))
        cal = acc.calendar
        calendar_secrets = CALENDAR_SECRETS.get(cal.kind) if cal is not None else None
        if calendar_secrets is not None:
            out.extend(calendar_secrets(cal, what))
    return out


# The calendar kind served by the same authorisation as a gmail or outlook account's mail.
_OWN_CALENDAR = {"gmail": "google", "outlook": "outlook"}


def account_features(config: Config, acc: GmailAccount | OutlookAccount) -> list[str]:
    """What syncd will do with a gmail or outlook account, so what it must be allowed to
    do (the scopes `syncd accounts auth` asks for)."""

    def aimed_here(account: str | None) -> bool:
        return account is None or account == acc.name

    rules = config.settings.rules
    features = ["mail"]
    if any(r.action_kind == "draft" and aimed_here(r.account) for r in rules):
        features.append("drafts")
    if acc.calendar is not None and acc.calendar.kind == _OWN_CALENDAR[acc.kind]:
        features.append("calendar")
        if any(r.action_kind == "hold" and aimed_here(r.account) for r in rules):
            features.append("holds")
    return features


google_features = account_features
outlook_features = account_features


class Connectors:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._mail: dict[str, Any] = {}
        self._calendar: dict[str, Any] = {}
        self._google: dict[str, Any] = {}
        self._graph: dict[str, Any] = {}

    # --- reading ---------------------------------------------------------------------------

    def mail(self, acc: AnyAccount) -> Source:
        if acc.name not in self._mail:
            self._mail[acc.name] = MAIL_SOURCES[acc.kind](self, acc)
        source: Source = self._mail[acc.name]
        return source

    def calendar(self, acc: AnyAccount) -> Source | None:
        if acc.calendar is None:
            return None
        if acc.name not in self._calendar:
            make = CALENDAR_SOURCES[acc.calendar.kind]
            self._calendar[acc.name] = make(self, acc, acc.calendar)
        source: Source = self._calendar[acc.name]
        return source

    def google_api(self, acc: GmailAccount) -> Any:
        """One authorised transport per gmail account, shared by its mail and calendar."""
        if acc.name not in self._google:
            from connectors.google_http import GoogleApi, GoogleSettings
            from connectors.http_retry import RetryPolicy

            path = google_credentials_path(self.config, acc)
            if not path.exists():
                raise AuthFailed(
                    f"account {acc.name}: not authorised yet ({path} does not exist);"
                    f" run `syncd accounts auth {acc.name}`"
                )
            s = self.config.settings.sync
            ends = acc.endpoints
            self._google[acc.name] = GoogleApi(
                GoogleSettings(
                    account=acc.name,
                    credentials=read_token_file(
                        path, what=f"account {acc.name} credentials", key=token_key(self.config)
                    ),
                    gmail_endpoint=ends.gmail,
                    calendar_endpoint=ends.calendar,
                    token_uri=ends.token_uri,
                    ca_file=str(ends.ca_file) if ends.ca_file else None,
                    quota_per_minute=acc.quota_per_minute,
                    retry=RetryPolicy(
                        attempts=s.retry_attempts,
                        first_wait=s.retry_first_wait,
                        max_wait=s.retry_max_wait,
                    ),
                )
            )
        return self._google[acc.name]

    def graph_api(self, acc: OutlookAccount) -> Any:
        """One msal application and Graph client per outlook account, shared by its mail
        and calendar. The token cache is read here and written back (0600) when msal
        refreshed a token."""
        if acc.name not in self._graph:
            from connectors.http_retry import RetryPolicy
            from connectors.outlook_auth import scopes_for
            from connectors.outlook_http import GraphApi, GraphSettings

            what = f"account {acc.name}"
            cache_text: str | None = None
            secret: str | None = None
            save = None
            if acc.auth == "client_credentials":
                secret = read_secret(
                    acc.client_secret_file, acc.client_secret_env, what=f"{what} client secret"
                )
            else:
                path = outlook_token_cache_path(self.config, acc)
                if not path.exists():
                    raise AuthFailed(
                        f"{what}: not authorised yet ({path} does not exist);"
                        f" run `syncd accounts auth {acc.name}`"
                    )
                key = token_key(self.config)
                cache_text = read_token_file(path, what=f"{what} token cache", key=key)

                def save(text: str, path: Path = path, key: TokenKey | None = key) -> None:
                    write_token_file(path, text, what=f"{what} token cache", key=key)

            s = self.config.settings.sync
            ends = acc.endpoints
            self._graph[acc.name] = GraphApi(
                GraphSettings(
                    account=acc.name,
                    client_id=acc.client_id,
                    authority=acc.authority,
                    scopes=tuple(scopes_for(outlook_features(self.config, acc))),
                    graph=ends.graph,
                    token_cache=cache_text,
                    save_cache=save,
                    client_secret=secret,
                    user=acc.user,
                    ca_file=str(ends.ca_file) if ends.ca_file else None,
                    retry=RetryPolicy(
                        attempts=s.retry_attempts,
                        first_wait=s.retry_first_wait,
                        max_wait=s.retry_max_wait,
                    ),
                )
            )
        return self._graph[acc.name]

    # --- writing ---------------------------------------------------------------------------

    def draft_sink(self, acc: AnyAccount) -> DraftSink:
        make = DRAFT_SINKS.get(acc.kind)
        if make is not None:
            return make(self, acc)
        sink: DraftSink = self.mail(acc)  # type: ignore[assignment]
        return sink

    def hold_sink(self, acc: AnyAccount) -> HoldSink | None:
        cal = acc.calendar
        if cal is None:
            return None
        make = HOLD_SINKS.get(cal.kind)
        if make is not None:
            return make(self, acc, cal)
        sink: HoldSink = self.calendar(acc)  # type: ignore[assignment]
        return sink

    def close(self) -> None:
        for obj in [
            *self._mail.values(),
            *self._calendar.values(),
            *self._google.values(),
            *self._graph.values(),
        ]:
            close_if_closable(obj)
        self._mail.clear()
        self._calendar.clear()
        self._google.clear()
        self._graph.clear()


# --- the factories, by kind ---------------------------------------------------------------


def _maildir_source(c: Connectors, acc: MaildirAccount) -> Any:
    return MaildirSource(
        acc.path,
        folders=acc.folders,
        exclude=[*acc.exclude_folders, *([acc.drafts_folder] if acc.drafts_folder else [])],
        sent_folders=acc.sent_folders,
        batch_size=c.config.settings.sync.batch_size,
    )


def _gmail_source(c: Connectors, acc: GmailAccount) -> Any:
    from connectors.gmail import GmailSettings, GmailSource

    batch = c.config.settings.sync.batch_size
    lookback = parse_duration(acc.lookback)
    return GmailSource(
        c.google_api(acc),
        GmailSettings(lookback=lookback, items=batch, batch_size=acc.batch_size),
    )


def _outlook_mail_source(c: Connectors, acc: OutlookAccount) -> Any:
    from connectors.outlook_mail import OutlookMailSettings, OutlookMailSource

    batch = c.config.settings.sync.batch_size
    return OutlookMailSource(
        c.graph_api(acc),
        OutlookMailSettings(
            folders=tuple(acc.folders), lookback=parse_duration(acc.lookback), items=batch
        ),
    )


def _imap_source(c: Connectors, acc: ImapAccount) -> Any:
    from connectors.imap import ImapSettings, ImapSource

    password = read_secret(acc.password_file, acc.password_env, what=f"account {acc.name}")
    return ImapSource(
        ImapSettings(
            host=acc.host,
            port=acc.effective_port,
            username=acc.username,
            password=password,
            security=acc.security,
            ca_file=str(acc.ca_file) if acc.ca_file else None,
            folders=tuple(acc.folders),
            use_all_mail=acc.use_all_mail,
            batch_size=c.config.settings.sync.batch_size,
            idle=acc.idle,
            max_connections=acc.max_connections,
        )
    )


def _ics_source(c: Connectors, acc: AnyAccount, cal: IcsCalendar) -> Any:
    from connectors.ics import IcsFolderSource

    s = c.config.settings.sync
    lookback, horizon = parse_duration(s.calendar_lookback), parse_duration(s.calendar_horizon)
    limits, owner = calendar_guard(c.config)
    return IcsFolderSource(
        cal.path,
        lookback=lookback,
        horizon=horizon,
        batch_size=s.batch_size,
        limits=limits,
        owner=owner,
    )


def _caldav_source(c: Connectors, acc: AnyAccount, cal: CalDavCalendar) -> Any:
    from connectors.caldav import CalDavSettings, CalDavSource

    s = c.config.settings.sync
    lookback, horizon = parse_duration(s.calendar_lookback), parse_duration(s.calendar_horizon)
    password = read_secret(cal.password_file, cal.password_env, what=f"account {acc.name} calendar")
    limits, owner = calendar_guard(c.config)
    return CalDavSource(
        CalDavSettings(
            url=cal.url,
            username=cal.username,
            password=password,
            calendar=cal.calendar,
            ca_file=str(cal.ca_file) if cal.ca_file else None,
            lookback=lookback,
            horizon=horizon,
            batch_size=s.batch_size,
            limits=limits,
            owner=owner,
        )
    )


def _google_calendar_source(c: Connectors, acc: GmailAccount, cal: GoogleCalendar) -> Any:
    """(The config allows google calendars on gmail accounts only.)"""
    from connectors.gcal import GoogleCalendarSettings, GoogleCalendarSource

    s = c.config.settings.sync
    return GoogleCalendarSource(
        c.google_api(acc),
        GoogleCalendarSettings(
            calendar_id=cal.calendar_id,
            lookback=parse_duration(s.calendar_lookback),
            horizon=parse_duration(s.calendar_horizon),
            items=s.batch_size,
        ),
    )


def _outlook_calendar_source(c: Connectors, acc: OutlookAccount, cal: OutlookCalendar) -> Any:
    """(The config allows outlook calendars on outlook accounts only.)"""
    from connectors.outlook_calendar import OutlookCalendarSettings, OutlookCalendarSource

    s = c.config.settings.sync
    owner = c.config.owner
    return OutlookCalendarSource(
        c.graph_api(acc),
        OutlookCalendarSettings(
            lookback=parse_duration(s.calendar_lookback),
            horizon=parse_duration(s.calendar_horizon),
            items=s.batch_size,
            owner_addresses=tuple(owner.addresses) + tuple(owner.aliases),
        ),
    )


def _maildir_drafts(c: Connectors, acc: MaildirAccount) -> DraftSink:
    return MaildirDrafts(acc.path, drafts_folder=acc.drafts_folder)


def _ics_holds(c: Connectors, acc: AnyAccount, cal: IcsCalendar) -> HoldSink:
    from connectors.ics_holds import IcsHolds

    holds = cal.holds or c.config.state_dir / "holds" / acc.name
    return IcsHolds(holds, calendars=[cal.path])


# An account's mail source by the account's kind, its calendar source by the calendar's.
MAIL_SOURCES: dict[str, Callable[[Connectors, Any], Any]] = {
    "maildir": _maildir_source,
    "imap": _imap_source,
    "gmail": _gmail_source,
    "outlook": _outlook_mail_source,
}
CALENDAR_SOURCES: dict[str, Callable[[Connectors, Any, Any], Any]] = {
    "ics": _ics_source,
    "caldav": _caldav_source,
    "google": _google_calendar_source,
    "outlook": _outlook_calendar_source,
}
# Sinks apart from the source; every other kind's source is its own sink.
DRAFT_SINKS: dict[str, Callable[[Connectors, Any], DraftSink]] = {"maildir": _maildir_drafts}
HOLD_SINKS: dict[str, Callable[[Connectors, Any, Any], HoldSink]] = {"ics": _ics_holds}
