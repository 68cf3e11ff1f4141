"""The config's value parsers and constants: durations, hours, names, paths, addresses.

Shared by the account models and the settings; `syncd.config` re-exports the public ones.
"""

from __future__ import annotations

import os
import re
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationInfo,
)

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


def check_duration(value: str) -> str:
    parse_duration(value)
    return value


# A setting written as a duration ("365d"), kept as written and checked when read.
Duration = Annotated[str, AfterValidator(check_duration)]


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


_BUSINESS = re.compile(r"^\s*(\d+)\s*(business days?|bd|working days?)\s*$", re.I)


def parse_business_days(text: str) -> int:
    """'3 business days', '3bd' → 3."""
    m = _BUSINESS.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a number of business days (e.g. 3 business days)")
    return int(m.group(1))


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


class _KeyError(ValueError):
    """A validation error that names its own key path (pydantic keeps the message)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"@{path}@ {reason}")
