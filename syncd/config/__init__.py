"""The configuration: one typed schema holding defaults, help and validation.

The file is TOML, read with `tomllib` and validated at start. Every error names the file,
the key path and the reason, e.g. ``config.toml: accounts[1].kind: must be one of gmail,
outlook, imap, maildir``. Relative paths are taken relative to the config file's folder.
`config.example.toml` documents every key; a test checks it against this schema.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from syncd.config.classify import ClassifySettings
from syncd.environ import OWNER_ENV
from syncd.errors import ConfigError
from syncd.ingest.addresses import OwnerIdentity, normalize_address

ACCOUNT_KINDS = ("gmail", "outlook", "imap", "maildir")
CALENDAR_KINDS = ("google", "outlook", "caldav", "ics")
SUPPORTED_ACCOUNT_KINDS = ("maildir", "imap", "gmail", "outlook")
SUPPORTED_CALENDAR_KINDS = ("ics", "caldav", "google", "outlook")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CONFIG_ENV = "SYNCD_CONFIG"
STATE_ENV = "SYNCD_STATE_DIR"
DEFAULT_OWNER = "default"  # the store's owner key of a single-owner deployment
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
CREDENTIALS_VAR = "${CREDENTIALS_DIRECTORY}"
# The sections a team file holds for every owner; an owner's file may not set them.
TEAM_SECTIONS = ("store", "daemon", "secrets")
DEFAULT_CONFIG_PATHS = (
    Path("syncd.toml"),
    Path("~/.config/syncd/config.toml").expanduser(),
    Path("/etc/syncd/config.toml"),
)

_DURATION = re.compile(
    r"^\s*(\d+)\s*(d|days?|w|weeks?|h|hours?|m|min|minutes?|s|sec|seconds?)\s*$", re.I
)
_UNITS = {"d": "days", "w": "weeks", "h": "hours", "m": "minutes", "s": "seconds"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(value: str) -> str:
    """Names of accounts and rules end up in keys and file names: keep them plain."""
    if not _NAME.match(value):
        raise ValueError("must be letters, digits, '.', '_' or '-' (at most 64)")
    return value


def parse_duration(text: str) -> timedelta:
    """'14d', '90 days', '2w', '12h', '30m' → timedelta; ValueError with the accepted forms."""
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a duration (use forms like 14d, 2w, 12h, 30m)")
    unit = m.group(2).lower()
    key = "m" if unit.startswith("min") else unit[0]
    return timedelta(**{_UNITS[key]: int(m.group(1))})


def _base(info: ValidationInfo) -> Path:
    ctx = info.context or {}
    base = ctx.get("base")
    return base if isinstance(base, Path) else Path.cwd()


def _resolve(value: Path, info: ValidationInfo) -> Path:
    value = _credentials_directory(value).expanduser()
    if str(value).startswith(CREDENTIALS_VAR):
        return value  # no $CREDENTIALS_DIRECTORY here: reading the secret says so
    return value if value.is_absolute() else (_base(info) / value).resolve()


def _credentials_directory(value: Path) -> Path:
    """``${CREDENTIALS_DIRECTORY}/NAME`` → the folder systemd's LoadCredential= made."""
    text = str(value)
    for var in (CREDENTIALS_VAR, "$" + CREDENTIALS_ENV):
        if text.startswith(var):
            folder = os.environ.get(CREDENTIALS_ENV)
            if not folder:
                return Path(CREDENTIALS_VAR + text[len(var) :])
            return Path(folder + text[len(var) :])
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OwnerSettings(_Model):
    """Who the mailboxes belong to: decides direction and who is a counterpart."""

    name: str = Field(min_length=1, description="The owner's name, used in drafts.")
    addresses: list[str] = Field(min_length=1, description="The owner's own addresses.")
    aliases: list[str] = Field(default=[], description="More addresses that are the owner.")
    domains: list[str] | None = Field(
        default=None,
        description="The owner's own domains (colleagues); by default derived from addresses"
        " minus public mail providers.",
    )
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Berlin.")
    working_hours: str = Field(default="09:00-17:30", description="HH:MM-HH:MM, local time.")
    working_days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default=["mon", "tue", "wed", "thu", "fri"],
        min_length=1,
        description="Days the owner works.",
    )

    @field_validator("addresses", "aliases")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for addr in value:
            if normalize_address(addr) is None:
                raise ValueError(f"{addr!r} is not an email address")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_hours(value)
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def hours(self) -> tuple[time, time]:
        return parse_hours(self.working_hours)

    def identity(self) -> OwnerIdentity:
        return OwnerIdentity.from_config(self.name, self.addresses, self.aliases, self.domains)


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a known IANA time zone (e.g. Europe/Berlin)") from None
    return value


def parse_hours(value: str) -> tuple[time, time]:
    m = re.match(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$", value)
    if m is None:
        raise ValueError(f"{value!r} is not a range like 09:00-17:30")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if not (h1 < 24 and h2 <= 24 and m1 < 60 and m2 < 60):
        raise ValueError(f"{value!r} has an impossible time")
    start = time(h1, m1)
    end = time(23, 59, 59) if (h2, m2) == (24, 0) else time(h2, m2)
    if end <= start:
        raise ValueError(f"{value!r} ends before it starts")
    return start, end


class StoreSettings(_Model):
    """Where syncd keeps its state."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<state_dir>/syncd.db."
        " postgresql+psycopg://... for several workers.",
    )
    state_dir: Path | None = Field(
        default=None,
        description="Folder for the SQLite store and credentials; $SYNCD_STATE_DIR,"
        " then systemd's $STATE_DIRECTORY, then ~/.local/state/syncd.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("state_dir")
    @classmethod
    def _state_dir(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)


class SyncSettings(_Model):
    """How mail and events become interactions and contacts."""

    contact_policy: Literal["written", "all", "none"] = Field(
        default="written",
        description="Who becomes a contact: people the owner wrote to or replied to"
        " (written), every human correspondent (all), or nobody automatically (none).",
    )
    max_group_size: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Mail to more people than this is not a one-to-one interaction.",
    )
    calendar_lookback: str = Field(default="365d", description="How far back events are read.")
    calendar_horizon: str = Field(default="90d", description="How far ahead events are read.")
    calendar_max_instances: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Instances one recurring event may yield"
        " (the latest in the window); one recurring more than once a day is not expanded.",
    )
    calendar_max_recurring: int = Field(
        default=20_000,
        ge=1,
        le=1_000_000,
        description="Instances all recurring events of one calendar may yield per sync.",
    )
    batch_size: int = Field(default=2000, ge=1, le=10000, description="Items per transaction.")
    parallel_backfill_min: int = Field(
        default=20_000,
        ge=0,
        description="A first read of a mail folder with at least this many messages runs in"
        " two processes (one reads and classifies, one stores); 0: never.",
    )
    retry_attempts: int = Field(
        default=6,
        ge=1,
        le=20,
        description="HTTP connectors (Gmail, Google Calendar, Microsoft Graph): calls per"
        " request before the stream is marked failing until the next poll.",
    )
    retry_first_wait: float = Field(
        default=1.0,
        gt=0,
        le=600,
        description="Seconds of the first backoff (doubling, with jitter, each retry).",
    )
    retry_max_wait: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="The longest single wait; a Retry-After asking for more ends the"
        " retries until the next poll.",
    )

    @field_validator("calendar_lookback", "calendar_horizon")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class PrivacySettings(_Model):
    """What syncd must never record."""

    block: list[str] = Field(
        default=[],
        description="Addresses or domains (subdomains included) never recorded.",
    )
    skip_internal: bool = Field(
        default=False,
        description="Leave out mail and meetings among the owner's own colleagues only.",
    )

    @field_validator("block")
    @classmethod
    def _block(cls, value: list[str]) -> list[str]:
        out = []
        for item in value:
            item = item.strip().lower().lstrip("@")
            if not item or " " in item:
                raise ValueError(f"{item!r} is neither an address nor a domain")
            out.append(item)
        return out


class IcsCalendar(_Model):
    kind: Literal["ics"]
    path: Path = Field(description="A folder of .ics files (as vdirsyncer leaves it).")
    holds: Path | None = Field(
        default=None,
        description="Where calendar holds are written, a folder of .ics files;"
        " default <state_dir>/holds/<account>.",
    )

    @field_validator("path", "holds")
    @classmethod
    def _path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)


class _Secret(_Model):
    """A password from a 0600 file or from an environment variable (one of them)."""

    password_file: Path | None = Field(
        default=None, description="A file holding the password (mode 0600, owned by syncd)."
    )
    password_env: str | None = Field(
        default=None, description="Or an environment variable holding it."
    )

    @field_validator("password_file")
    @classmethod
    def _secret_path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

    @model_validator(mode="after")
    def _one_secret(self) -> _Secret:
        if (self.password_file is None) == (self.password_env is None):
            raise _KeyError(".password_file", "set exactly one of password_file, password_env")
        return self


class CalDavCalendar(_Secret):
    """A CalDAV calendar (Fastmail, iCloud, Nextcloud, Radicale, ...)."""

    kind: Literal["caldav"]
    url: str = Field(description="The server or principal URL.")
    username: str
    calendar: str | None = Field(
        default=None, description="The calendar to read and to hold time in (name or path)."
    )
    ca_file: Path | None = Field(default=None, description="A CA bundle to trust.")

    @field_validator("ca_file")
    @classmethod
    def _ca(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)


class GoogleCalendar(_Model):
    """A Google calendar of a gmail account (it uses the account's authorisation)."""

    kind: Literal["google"]
    calendar_id: str = Field(
        default="primary", description="The calendar to read and to hold time in."
    )


class OutlookCalendar(_Model):
    """The default calendar of an outlook account (it uses the account's authorisation)."""

    kind: Literal["outlook"]


CalendarSettings = Annotated[
    IcsCalendar | CalDavCalendar | GoogleCalendar | OutlookCalendar, Field(discriminator="kind")
]


class _Account(_Model):
    """What every account kind has: a name, its own poll interval, an optional calendar."""

    name: str
    poll_interval: str | None = Field(
        default=None,
        description="`syncd run`: time between polls of this account; default"
        " [daemon] poll_interval.",
    )
    calendar: CalendarSettings | None = None

    _name = field_validator("name")(classmethod(lambda cls, value: check_name(value)))


class ImapAccount(_Account, _Secret):
    """An IMAP mailbox (Fastmail, iCloud, self-hosted, corporate, Gmail over IMAP)."""

    kind: Literal["imap"]
    host: str
    port: int | None = Field(default=None, description="Default 993 for tls, 143 otherwise.")
    security: Literal["tls", "starttls", "none"] = Field(
        default="tls", description="tls, starttls, or none (loopback only)."
    )
    username: str
    ca_file: Path | None = Field(default=None, description="A CA bundle to trust.")
    folders: list[str] = Field(default=[], description="More folders to read.")
    use_all_mail: bool = Field(
        default=False, description="Gmail: read All Mail instead of INBOX and Sent."
    )
    idle: bool = Field(
        default=True,
        description="Use IDLE where the server offers it: `syncd run` wakes when mail comes, "
        "and polled folders idle between polls; false: poll only.",
    )
    max_connections: int = Field(
        default=5,
        ge=1,
        le=50,
        description="Connections to the server at most: one lists folders and writes "
        "drafts, each other one keeps a polled folder selected (folders past that are "
        "opened again on every poll). Dovecot allows 10 per user and address by default.",
    )

    @field_validator("ca_file")
    @classmethod
    def _ca(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.security == "tls" else 143)


class GoogleEndpoints(_Model):
    """Where a gmail account's requests go: Google's public URLs unless overridden."""

    gmail: str = Field(
        default="https://gmail.googleapis.com/",
        description="The Gmail API root; batches go to <gmail>batch/gmail/v1.",
    )
    calendar: str = Field(
        default="https://www.googleapis.com/calendar/v3/",
        description="The Calendar API root, with its version path.",
    )
    token_uri: str = Field(
        default="https://oauth2.googleapis.com/token", description="The OAuth token endpoint."
    )
    ca_file: Path | None = Field(
        default=None,
        description="A CA bundle to trust (default: $REQUESTS_CA_BUNDLE, $SSL_CERT_FILE,"
        " or the bundled one).",
    )

    @field_validator("gmail", "calendar", "token_uri")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)


class GmailAccount(_Account):
    """A Gmail or Google Workspace mailbox through the Gmail API (OAuth)."""

    kind: Literal["gmail"]
    credentials: Path | None = Field(
        default=None,
        description="The authorisation `syncd accounts auth NAME` stores (google-auth"
        " authorized-user JSON, mode 0600); default <state_dir>/credentials/<name>.json.",
    )
    client_secrets: Path | None = Field(
        default=None,
        description="The OAuth client (Desktop app) JSON from the Google Cloud console;"
        " only `syncd accounts auth` reads it.",
    )
    lookback: str = Field(default="365d", description="How far back the first sync reads.")
    quota_per_minute: int = Field(
        default=6000,
        ge=1,
        description="Gmail quota units per minute for this user (6,000 for Cloud projects"
        " made from May 2026, 15,000 for older ones); syncd paces its calls below it.",
    )
    batch_size: int = Field(
        default=25, ge=1, le=100, description="Gmail calls per batch request (at most 100)."
    )
    endpoints: GoogleEndpoints = GoogleEndpoints()

    @field_validator("credentials", "client_secrets")
    @classmethod
    def _path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: str) -> str:
        parse_duration(value)
        return value


class MicrosoftEndpoints(_Model):
    """Where an outlook account's requests go: Microsoft's public cloud unless overridden."""

    authority: str | None = Field(
        default=None,
        description="The identity authority, https://login.microsoftonline.com/<tenant> by"
        " default; another host for a national cloud (login.microsoftonline.us, ...).",
    )
    graph: str = Field(
        default="https://graph.microsoft.com/v1.0",
        description="The Microsoft Graph root, with its version path.",
    )
    ca_file: Path | None = Field(
        default=None,
        description="A CA bundle to trust (default: $REQUESTS_CA_BUNDLE, $SSL_CERT_FILE,"
        " or the bundled one).",
    )

    @field_validator("authority")
    @classmethod
    def _authority(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https://[^/]+/[^/]+", value):
            raise ValueError(f"{value!r} is not an https URL with a tenant path (msal needs both)")
        return value

    @field_validator("graph")
    @classmethod
    def _graph(cls, value: str) -> str:
        if not re.match(r"^https?://[^/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)


class OutlookAccount(_Account):
    """An Outlook.com or Microsoft 365 mailbox through Microsoft Graph (msal)."""

    kind: Literal["outlook"]
    client_id: str = Field(
        min_length=1, description="The application (client) id of your Entra app registration."
    )
    tenant: str = Field(
        default="common",
        description="common, organizations, consumers, or a tenant id or domain.",
    )
    auth: Literal["device_code", "client_credentials"] = Field(
        default="device_code",
        description="device_code: a user signs in once (`syncd accounts auth`);"
        " client_credentials: application permissions an administrator granted.",
    )
    token_cache: Path | None = Field(
        default=None,
        description="device_code: the msal token cache `syncd accounts auth` writes"
        " (mode 0600); default <state_dir>/credentials/<name>.json.",
    )
    client_secret_file: Path | None = Field(
        default=None, description="client_credentials: a file holding the client secret (0600)."
    )
    client_secret_env: str | None = Field(
        default=None, description="client_credentials: or an environment variable holding it."
    )
    user: str | None = Field(
        default=None,
        description="The mailbox (address or id); required with client_credentials, whose"
        " tokens cannot say /me.",
    )
    folders: list[str] = Field(
        default=[],
        description="More folders to read besides Inbox and Sent Items: well-known names"
        " (archive) or display names, Parent/Child for a child folder.",
    )
    lookback: str = Field(default="365d", description="How far back the first sync reads.")
    endpoints: MicrosoftEndpoints = MicrosoftEndpoints()

    @field_validator("token_cache", "client_secret_file")
    @classmethod
    def _path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _credentials(self) -> OutlookAccount:
        if self.auth == "client_credentials":
            if (self.client_secret_file is None) == (self.client_secret_env is None):
                raise _KeyError(
                    ".client_secret_file",
                    "client_credentials needs exactly one of client_secret_file, client_secret_env",
                )
            if not self.user:
                raise _KeyError(".user", "client_credentials needs the mailbox's user")
            if self.endpoints.authority is None and self.tenant in (
                "common",
                "organizations",
                "consumers",
            ):
                raise _KeyError(
                    ".tenant", "client_credentials needs your tenant's id or domain, not a group"
                )
        return self

    @property
    def authority(self) -> str:
        return self.endpoints.authority or f"https://login.microsoftonline.com/{self.tenant}"


class MaildirAccount(_Account):
    """A local Maildir tree, as mbsync or offlineimap leave it."""

    kind: Literal["maildir"]
    path: Path = Field(description="The Maildir root; every folder below it is read.")
    folders: list[str] | None = Field(default=None, description="Only these folders.")
    exclude_folders: list[str] = Field(default=[], description="Folders never read.")
    sent_folders: list[str] = Field(
        default=[], description="More folder names that hold the owner's sent mail."
    )
    drafts_folder: str | None = Field(
        default=None, description="Where drafts go; default the folder named Drafts."
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info)


AccountSettings = Annotated[
    MaildirAccount | ImapAccount | GmailAccount | OutlookAccount, Field(discriminator="kind")
]
AnyAccount = MaildirAccount | ImapAccount | GmailAccount | OutlookAccount


class TierSettings(_Model):
    cadence: str = Field(description="How often to be in touch, e.g. 14d.")

    @field_validator("cadence")
    @classmethod
    def _cadence(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def cadence_days(self) -> int:
        return max(1, parse_duration(self.cadence).days)


RULE_KINDS = ("cadence", "no_reply", "after_meeting", "dormant", "date")
_BUSINESS = re.compile(r"^\s*(\d+)\s*(business days?|bd|working days?)\s*$", re.I)


def parse_business_days(text: str) -> int:
    """'3 business days', '3bd' → 3."""
    m = _BUSINESS.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a number of business days (e.g. 3 business days)")
    return int(m.group(1))


class RuleSettings(_Model):
    """One rule: when it fires and what it prepares (a draft or a calendar hold)."""

    name: str = Field(description="Unique name; part of every action's key.")
    kind: Literal["cadence", "no_reply", "after_meeting", "dormant", "date"]
    action: Literal["draft", "hold"] | None = Field(
        default=None, description="draft or hold; default hold for dormant, draft otherwise."
    )
    template: Path | None = Field(
        default=None,
        description="A Jinja2 template file (relative to the config's folder), or a built-in"
        " text by name (no_reply, cadence, after_meeting, dormant, date); default the built-in"
        " text of the rule's kind.",
    )
    after: str | None = Field(
        default=None,
        description="no_reply: business days without an answer (default 3 business days);"
        " dormant: time without contact (default 180d).",
    )
    ahead: str = Field(default="3d", description="date: how long before the date.")
    tiers: list[str] | None = Field(
        default=None, description="cadence, dormant: only contacts of these tiers."
    )
    dates: list[Literal["birthday", "anniversary", "custom"]] = Field(
        default=["birthday", "anniversary", "custom"], description="date: which dates."
    )
    duration: str = Field(default="30m", description="hold: its length.")
    account: str | None = Field(default=None, description="The account drafts go to.")
    external_only: bool = Field(
        default=True, description="after_meeting: only meetings with people outside."
    )
    writer: list[str] | None = Field(
        default=None,
        description="A command that writes the draft's body: it gets the template context"
        " as JSON on stdin and prints the body; the template is used when it fails.",
    )
    writer_timeout: str = Field(default="20s", description="How long the writer may take.")
    writer_env: list[str] = Field(
        default=[],
        description="Variables passed to the writer besides PATH, LANG, LC_*,"
        " HOME and TZ (it sees no other).",
    )

    _name = field_validator("name")(classmethod(lambda cls, value: check_name(value)))

    @field_validator("template")
    @classmethod
    def _template(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = _resolve(value, info)
        if not path.is_file():
            from syncd.config.templates import builtin_or_error

            return builtin_or_error(value, path)
        return path

    @field_validator("ahead", "duration", "writer_timeout")
    @classmethod
    def _durations(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _after(self) -> RuleSettings:
        if self.after is None:
            return self
        try:
            if self.kind == "no_reply":
                parse_business_days(self.after)
            elif self.kind == "dormant":
                parse_duration(self.after)
            else:
                raise ValueError(f"is not a setting of {self.kind} rules")
        except ValueError as exc:
            raise _KeyError(".after", str(exc)) from None
        return self

    @property
    def action_kind(self) -> Literal["draft", "hold"]:
        if self.action is not None:
            return self.action
        return "hold" if self.kind == "dormant" else "draft"


class LimitsSettings(_Model):
    """Caps and quiet days that every rule respects."""

    per_day: int = Field(default=10, ge=0, description="At most this many actions a day.")
    per_week: int = Field(default=30, ge=0, description="At most this many a week.")
    horizon: str = Field(default="14d", description="How far a capped action may be moved.")
    quiet_dates: list[date] = Field(default=[], description="Days nothing is due (holidays).")
    hold_horizon: str = Field(default="14d", description="How far ahead holds are placed.")
    hold_buffer: str = Field(default="15m", description="Free time kept around other events.")
    max_attempts: int = Field(
        default=5, ge=1, le=50, description="Attempts before a failing action gives up."
    )

    @field_validator("horizon", "hold_horizon", "hold_buffer")
    @classmethod
    def _durations(cls, value: str) -> str:
        parse_duration(value)
        return value


class DaemonSettings(_Model):
    """`syncd run`: how often each account is polled, backoff, rules, stop and metrics."""

    poll_interval: str = Field(
        default="5m",
        description="Time between two polls of an account (an account's own poll_interval"
        " wins; `syncd run --interval` replaces this default).",
    )
    jitter: float = Field(
        default=0.1,
        ge=0,
        le=0.5,
        description="Each wait is the interval times a random factor in [1 - jitter,"
        " 1 + jitter], so accounts do not poll in step.",
    )
    max_backoff: str = Field(
        default="1h",
        description="A failing account waits its interval times 2^failures, at most this"
        " (or longer when the provider's Retry-After asks for it).",
    )
    rules_interval: str = Field(
        default="15m",
        description="The rules run after every sync that found something new, and at least"
        " this often.",
    )
    stop_timeout: str = Field(
        default="30s",
        description="After SIGTERM the current batch is finished; past this the process"
        " exits anyway (the open transaction is rolled back, nothing is lost).",
    )
    lease_ttl: str = Field(
        default="60s",
        description="With several `syncd run` processes on one PostgreSQL store: an account"
        " whose worker stopped renewing its lease for this long is taken over by another"
        " (leases are renewed three times as often).",
    )
    reconcile_window: str = Field(
        default="14d",
        description="Reconciliation compares the provider's ids of items dated within this"
        " window with the store and repairs any gap (`syncd accounts reconcile`).",
    )
    reconcile_interval: str = Field(
        default="6h",
        description="How often `syncd run` reconciles an account, after a pass that synced"
        " it; a stream is reported healthy only while its last reconciliation is recent.",
    )
    metrics: str | None = Field(
        default=None,
        description="HOST:PORT of a Prometheus endpoint, e.g. 127.0.0.1:9464; off by default."
        " Only loopback addresses unless metrics_public is true.",
    )
    metrics_public: bool = Field(
        default=False,
        description="Allow a metrics address that is not loopback (the endpoint has no"
        " authentication: put it behind a firewall).",
    )

    @field_validator(
        "poll_interval",
        "max_backoff",
        "rules_interval",
        "stop_timeout",
        "lease_ttl",
        "reconcile_window",
        "reconcile_interval",
    )
    @classmethod
    def _durations(cls, value: str) -> str:
        return check_interval(value)

    @model_validator(mode="after")
    def _metrics(self) -> DaemonSettings:
        if self.metrics is not None:
            try:
                host, _port = metrics_address(self.metrics)
            except ValueError as exc:
                raise _KeyError(".metrics", str(exc)) from None
            if not self.metrics_public and not _is_loopback(host):
                raise _KeyError(
                    ".metrics",
                    f"{host} is not a loopback address; the endpoint has no authentication"
                    " (set metrics_public = true to serve it there anyway)",
                )
        return self

    def interval_of(self, account: AnyAccount) -> timedelta:
        return parse_duration(account.poll_interval or self.poll_interval)


def check_interval(value: str) -> str:
    """A duration that is more than zero (a zero poll interval would spin)."""
    if parse_duration(value).total_seconds() <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return value


def metrics_address(value: str) -> tuple[str, int]:
    """'127.0.0.1:9464', '[::1]:9464', 'localhost:9464' → (host, port)."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:9464)")
    return host, int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SecretsSettings(_Model):
    """Encryption at rest of the token files syncd writes (docs/secrets.md)."""

    key_file: Path | None = Field(
        default=None,
        description="A Fernet key (`syncd secrets keygen PATH` makes one), e.g."
        " ${CREDENTIALS_DIRECTORY}/syncd.key from systemd's LoadCredential=; token files"
        " are then written encrypted. Plain token files are still read.",
    )

    @field_validator("key_file")
    @classmethod
    def _key(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)


class TeamSettings(_Model):
    """A team deployment: one store, several owners, each with a config file of their own."""

    owners: dict[str, Path] = Field(
        min_length=1,
        description="Owner name → that owner's config file ([owner], [[accounts]], [[rules]],"
        " [tiers], [limits], ...; not [store], [daemon] or [secrets], which are the team's)."
        " Pick one with --owner NAME or $SYNCD_OWNER.",
    )

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: dict[str, Path], info: ValidationInfo) -> dict[str, Path]:
        for name in value:
            check_name(name)
        return {name: _resolve(path, info) for name, path in value.items()}


class TeamFile(_Model):
    """The team's own file: the shared store, daemon and secrets settings, and the owners."""

    team: TeamSettings
    store: StoreSettings = StoreSettings()
    daemon: DaemonSettings = DaemonSettings()
    secrets: SecretsSettings = SecretsSettings()


class Settings(_Model):
    owner: OwnerSettings
    secrets: SecretsSettings = SecretsSettings()
    store: StoreSettings = StoreSettings()
    sync: SyncSettings = SyncSettings()
    classify: ClassifySettings = ClassifySettings()
    privacy: PrivacySettings = PrivacySettings()
    accounts: list[AccountSettings] = []
    tiers: dict[str, TierSettings] = Field(
        default={"key": TierSettings(cadence="14d"), "regular": TierSettings(cadence="90d")}
    )
    rules: list[RuleSettings] = []
    limits: LimitsSettings = LimitsSettings()
    daemon: DaemonSettings = DaemonSettings()

    @model_validator(mode="after")
    def _rules_refer_to_known_things(self) -> Settings:
        for i, acc in enumerate(self.accounts):
            if acc.poll_interval is not None:
                try:
                    check_interval(acc.poll_interval)
                except ValueError as exc:
                    raise _KeyError(f"accounts[{i}].poll_interval", str(exc)) from None
        names: set[str] = set()
        accounts = {a.name for a in self.accounts}
        for i, rule in enumerate(self.rules):
            if rule.name in names:
                raise _KeyError(f"rules[{i}].name", f"{rule.name!r} is used twice")
            names.add(rule.name)
            for tier in rule.tiers or []:
                if tier not in self.tiers:
                    known = ", ".join(self.tiers) or "none"
                    raise _KeyError(f"rules[{i}].tiers", f"no tier {tier!r} (tiers: {known})")
            if rule.account is not None and rule.account not in accounts:
                raise _KeyError(f"rules[{i}].account", f"no account named {rule.account!r}")
        return self

    @field_validator("accounts", mode="before")
    @classmethod
    def _known_kinds(cls, value: Any) -> Any:
        # Name the supported kinds before pydantic's discriminator error does less well.
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    continue
                kind = item.get("kind")
                if kind is None:
                    raise _KeyError(f"accounts[{i}].kind", "is required")
                if kind not in ACCOUNT_KINDS:
                    raise _KeyError(
                        f"accounts[{i}].kind", f"must be one of {', '.join(ACCOUNT_KINDS)}"
                    )
                if kind not in SUPPORTED_ACCOUNT_KINDS:
                    raise _KeyError(
                        f"accounts[{i}].kind",
                        f"{kind} accounts are not supported by this version of syncd"
                        f" (supported: {', '.join(SUPPORTED_ACCOUNT_KINDS)})",
                    )
                cal = item.get("calendar")
                if isinstance(cal, dict) and cal.get("kind") not in SUPPORTED_CALENDAR_KINDS:
                    kind = cal.get("kind")
                    reason = (
                        f"must be one of {', '.join(CALENDAR_KINDS)}"
                        if kind not in CALENDAR_KINDS
                        else f"{kind} calendars are not supported by this version of syncd"
                        f" (supported: {', '.join(SUPPORTED_CALENDAR_KINDS)})"
                    )
                    raise _KeyError(f"accounts[{i}].calendar.kind", reason)
                if isinstance(cal, dict) and cal.get("kind") == "google" and kind != "gmail":
                    raise _KeyError(
                        f"accounts[{i}].calendar.kind",
                        "google calendars belong to gmail accounts (they share its authorisation)",
                    )
                if isinstance(cal, dict) and cal.get("kind") == "outlook" and kind != "outlook":
                    raise _KeyError(
                        f"accounts[{i}].calendar.kind",
                        "outlook calendars belong to outlook accounts (they share its"
                        " authorisation)",
                    )
        return value

    @field_validator("accounts")
    @classmethod
    def _unique_names(cls, value: list[AnyAccount]) -> list[AnyAccount]:
        seen: set[str] = set()
        for i, acc in enumerate(value):
            if acc.name in seen:
                raise _KeyError(f"accounts[{i}].name", f"{acc.name!r} is used twice")
            seen.add(acc.name)
        return value

    def account(self, name: str) -> AnyAccount:
        for acc in self.accounts:
            if acc.name == name:
                return acc
        known = ", ".join(a.name for a in self.accounts) or "none configured"
        raise ConfigError(f"no account named {name!r} (accounts: {known})")


class _KeyError(ValueError):
    """A validation error that names its own key path (pydantic keeps the message)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"@{path}@ {reason}")


@dataclass(frozen=True)
class Config:
    """Validated settings plus where they came from and the derived paths."""

    path: Path
    settings: Settings
    owner_key: str = DEFAULT_OWNER  # the owner's name in the store
    team: TeamSettings | None = None  # set when `path` is a team file

    @property
    def owner(self) -> OwnerSettings:
        return self.settings.owner

    @property
    def team_owner(self) -> str | None:
        """The --owner this config was loaded for (None for a single-owner config)."""
        return self.owner_key if self.team is not None else None

    @property
    def state_dir(self) -> Path:
        env = os.environ.get(STATE_ENV)
        if env:
            return Path(env).expanduser().resolve()
        if self.settings.store.state_dir is not None:
            return self.settings.store.state_dir
        systemd = os.environ.get("STATE_DIRECTORY")
        if systemd:
            return Path(systemd.split(":")[0])
        return Path("~/.local/state/syncd").expanduser()

    @property
    def store_url(self) -> str:
        if self.settings.store.url:
            return self.settings.store.url
        return f"sqlite:///{self.state_dir / 'syncd.db'}"


def find_config_path(explicit: str | os.PathLike[str] | None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    for candidate in DEFAULT_CONFIG_PATHS:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(p) for p in DEFAULT_CONFIG_PATHS)
    raise ConfigError(
        f"no config file: pass --config PATH or set {CONFIG_ENV} (looked in {looked})",
        hint="copy config.example.toml and edit it",
    )


def load_config(path: Path, owner: str | None = None) -> Config:
    """Read and validate `path`; raise ConfigError naming the file, key path and reason.

    A team file (one with ``[team]``) needs `owner`: the owner's own file is read and the
    team's ``[store]``, ``[daemon]`` and ``[secrets]`` go with it. A single-owner file takes
    no owner, or the default one.
    """
    data = _read_toml(path)
    if "team" not in data:
        if owner not in (None, DEFAULT_OWNER):
            raise ConfigError(
                f"{path.name}: --owner {owner}: this config serves one owner (no [team])",
                hint="leave out --owner and $SYNCD_OWNER, or list the owners under [team]",
            )
        return Config(path=path, settings=parse_settings(data, path))
    team = load_team(path, data)
    if owner is None:
        raise ConfigError(
            f"{path.name}: a team config: say whose data with --owner NAME or ${OWNER_ENV}"
            f" (owners: {', '.join(team.team.owners)})"
        )
    if owner not in team.team.owners:
        raise ConfigError(
            f"{path.name}: no owner {owner!r} in [team] owners"
            f" (owners: {', '.join(team.team.owners)})"
        )
    own_path = team.team.owners[owner]
    own = _read_toml(own_path)
    for section in ("team", *TEAM_SECTIONS):
        if section in own:
            raise ConfigError(
                f"{own_path.name}: {section}: unknown key in an owner's file"
                f" (the team's {section} is set in {path.name})"
            )
    shared = {k: v for k, v in data.items() if k in TEAM_SECTIONS}
    # The shared sections keep their paths relative to the team file, so validate them
    # from there and hand the owner's settings the results.
    merged = {**own, **{k: team.model_dump()[k] for k in shared}}
    return Config(
        path=path, settings=parse_settings(merged, own_path), owner_key=owner, team=team.team
    )


def load_team(path: Path, data: dict[str, Any] | None = None) -> TeamFile:
    """The team file's own settings (ConfigError when `path` has no [team])."""
    data = _read_toml(path) if data is None else data
    if "team" not in data:
        raise ConfigError(f"{path.name}: team: is required for --owner")
    try:
        return TeamFile.model_validate(data, context={"base": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(_describe(path.name, exc)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None


def parse_settings(data: dict[str, Any], path: Path) -> Settings:
    try:
        return Settings.model_validate(data, context={"base": path.resolve().parent})
    except ValidationError as exc:
        raise ConfigError(_describe(path.name, exc)) from None


def _describe(filename: str, exc: ValidationError) -> str:
    lines = [f"{filename}: {_key_path(e['loc'], e)}: {_reason(e)}" for e in exc.errors()]
    return "\n".join(dict.fromkeys(lines))


def _key_path(loc: tuple[int | str, ...], err: Any) -> str:
    msg = str(err.get("msg", ""))
    m = re.search(r"@(.+?)@ ", msg)
    if m and not m.group(1).startswith("."):
        return m.group(1)
    suffix = m.group(1) if m else ""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in ACCOUNT_KINDS and parts and parts[-1].endswith("]"):
            continue  # pydantic names the union member; users think in keys
        elif item in CALENDAR_KINDS and parts and parts[-1] == ".calendar":
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return ("".join(parts) + suffix).lstrip(".") or "(top level)"


def _reason(err: Any) -> str:
    kind = err.get("type")
    msg = str(err.get("msg", ""))
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        from syncd.config.keys import did_you_mean

        return "unknown key" + did_you_mean(err.get("loc", ()), _Model)
    if kind == "literal_error":
        expected = str(err.get("ctx", {}).get("expected", ""))
        return "must be one of " + expected.replace("'", "").replace(" or ", ", ")
    msg = re.sub(r"^(Value error|Assertion failed), ", "", msg)
    msg = re.sub(r"^@.+?@ ", "", msg)
    return msg[:1].lower() + msg[1:]
