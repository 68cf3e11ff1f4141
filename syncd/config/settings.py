"""The settings sections of a config file ([owner], [store], [sync], [[rules]], ...) and the
whole file's schema, `Settings`.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connectors.net import is_loopback
from syncd.config.accounts import (
    AccountSettings,
    AnyAccount,
)
from syncd.config.classify import ClassifySettings
from syncd.config.values import (
    ACCOUNT_KINDS,
    CALENDAR_KINDS,
    SUPPORTED_ACCOUNT_KINDS,
    SUPPORTED_CALENDAR_KINDS,
    _KeyError,
    _Model,
    _resolve,
    check_interval,
    check_name,
    check_timezone,
    metrics_address,
    parse_business_days,
    parse_duration,
    parse_hours,
)
from syncd.errors import ConfigError
from syncd.ingest.addresses import OwnerIdentity, normalize_address


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
            if not self.metrics_public and not is_loopback(host):
                raise _KeyError(
                    ".metrics",
                    f"{host} is not a loopback address; the endpoint has no authentication"
                    " (set metrics_public = true to serve it there anyway)",
                )
        return self

    def interval_of(self, account: AnyAccount) -> timedelta:
        return parse_duration(account.poll_interval or self.poll_interval)


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
    accounts: list[AccountSettings] = Field(default=[])
    tiers: dict[str, TierSettings] = Field(
        default={"key": TierSettings(cadence="14d"), "regular": TierSettings(cadence="90d")}
    )
    rules: list[RuleSettings] = Field(default=[])
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
