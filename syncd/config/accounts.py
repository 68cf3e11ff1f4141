"""The account models: one per mail account kind, and the calendar each may have."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from syncd.config.values import (
    Duration,
    _KeyError,
    _Model,
    _resolve,
    check_name,
)


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


def http_url(value: str) -> str:
    """An http(s) URL with a host, where an HTTP provider's requests go."""
    if not re.match(r"^https?://[^/]+", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


class _Endpoints(_Model):
    """What the endpoints of both HTTP providers have: the CA bundle their requests trust."""

    ca_file: Path | None = Field(
        default=None,
        description="A CA bundle to trust (default: $REQUESTS_CA_BUNDLE, $SSL_CERT_FILE,"
        " or the bundled one).",
    )

    @field_validator("ca_file")
    @classmethod
    def _ca(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)


class GoogleEndpoints(_Endpoints):
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

    _url = field_validator("gmail", "calendar", "token_uri")(
        classmethod(lambda cls, value: http_url(value))
    )


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
    lookback: Duration = Field(default="365d", description="How far back the first sync reads.")
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


class MicrosoftEndpoints(_Endpoints):
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

    @field_validator("authority")
    @classmethod
    def _authority(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https://[^/]+/[^/]+", value):
            raise ValueError(f"{value!r} is not an https URL with a tenant path (msal needs both)")
        return value

    _graph = field_validator("graph")(classmethod(lambda cls, value: http_url(value)))


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
    lookback: Duration = Field(default="365d", description="How far back the first sync reads.")
    endpoints: MicrosoftEndpoints = MicrosoftEndpoints()

    @field_validator("token_cache", "client_secret_file")
    @classmethod
    def _path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

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
