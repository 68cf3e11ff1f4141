"""Reading a config file: TOML in, `Config` out, every error naming file, key path and reason."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    ValidationError,
)

from syncd.config.settings import (
    OwnerSettings,
    Settings,
    TeamFile,
    TeamSettings,
)
from syncd.config.values import (
    ACCOUNT_KINDS,
    CALENDAR_KINDS,
    CONFIG_ENV,
    DEFAULT_CONFIG_PATHS,
    DEFAULT_OWNER,
    STATE_ENV,
    TEAM_SECTIONS,
    _Model,
)
from syncd.environ import OWNER_ENV
from syncd.errors import ConfigError


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
