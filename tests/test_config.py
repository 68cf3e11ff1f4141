"""The config schema: clear errors, defaults, and config.example.toml kept true to it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from syncd.config import (
    CalDavCalendar,
    DaemonSettings,
    GmailAccount,
    GoogleCalendar,
    GoogleEndpoints,
    IcsCalendar,
    ImapAccount,
    LimitsSettings,
    MaildirAccount,
    MicrosoftEndpoints,
    OutlookAccount,
    OutlookCalendar,
    OwnerSettings,
    PrivacySettings,
    RuleSettings,
    SecretsSettings,
    Settings,
    StoreSettings,
    SyncSettings,
    TeamSettings,
    load_config,
    parse_duration,
)
from syncd.config.classify import ClassifySettings
from syncd.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
OWNER = '[owner]\nname = "A"\naddresses = ["a@example.com"]\n'


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    return str(exc.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            OWNER
            + '[[accounts]]\nname="a"\nkind="maildir"\npath="."\n[[accounts]]\nname="b"\nkind="pop"\n',
            "config.toml: accounts[1].kind: must be one of gmail, outlook, imap, maildir",
        ),
        (
            OWNER + '[[accounts]]\nname="a"\nkind="gmail"\nlookback="soon"\n',
            "config.toml: accounts[0].lookback: 'soon' is not a duration",
        ),
        (
            OWNER + '[[accounts]]\nname="a"\nkind="gmail"\n[accounts.endpoints]\ngmail="ftp://x"\n',
            "config.toml: accounts[0].endpoints.gmail: 'ftp://x' is not an http(s) URL",
        ),
        (
            OWNER + '[[accounts]]\nname="a"\nkind="maildir"\npath="."\ncalendar={kind="google"}\n',
            "config.toml: accounts[0].calendar.kind: google calendars belong to gmail accounts",
        ),
        (
            OWNER + '[[accounts]]\nname="a"\nkind="maildir"\n',
            "config.toml: accounts[0].path: is required",
        ),
        (
            OWNER + '[[accounts]]\nname="a"\nkind="gmail"\ncalendar={kind="outlook"}\n',
            "config.toml: accounts[0].calendar.kind: outlook calendars belong to outlook accounts",
        ),
        (
            OWNER + '[[accounts]]\nname="a"\nkind="outlook"\n',
            "config.toml: accounts[0].client_id: is required",
        ),
        (
            OWNER + '[[accounts]]\nname="a"\nkind="outlook"\nclient_id="c"\n'
            'auth="client_credentials"\nclient_secret_env="S"\n',
            "config.toml: accounts[0].user: client_credentials needs the mailbox's user",
        ),
        (
            OWNER + '[[accounts]]\nname="a"\nkind="outlook"\nclient_id="c"\n'
            'auth="client_credentials"\nclient_secret_env="S"\nuser="a@b.example"\n',
            "config.toml: accounts[0].tenant: client_credentials needs your tenant's id",
        ),
        (
            OWNER + '[[accounts]]\nname="a"\nkind="outlook"\nclient_id="c"\n'
            '[accounts.endpoints]\nauthority="http://127.0.0.1/x"\n',
            "config.toml: accounts[0].endpoints.authority: 'http://127.0.0.1/x' is not an https",
        ),
        (
            OWNER
            + '[[accounts]]\nname="a"\nkind="maildir"\npath="."\ncalendar={kind="exchange"}\n',
            "config.toml: accounts[0].calendar.kind: must be one of google, outlook, caldav, ics",
        ),
        (
            OWNER + '[[accounts]]\nname="a b"\nkind="maildir"\npath="."\n',
            "config.toml: accounts[0].name: must be letters, digits",
        ),
        (
            OWNER
            + '[[accounts]]\nname="a"\nkind="maildir"\npath="."\n[[accounts]]\nname="a"\nkind="maildir"\npath="."\n',
            "config.toml: accounts[1].name: 'a' is used twice",
        ),
        ('[owner]\nname = "A"\n', "config.toml: owner.addresses: is required"),
        ("", "config.toml: owner: is required"),
        (
            OWNER.replace('"a@example.com"', '"not an address"'),
            "config.toml: owner.addresses: 'not an address' is not an email address",
        ),
        (
            OWNER + 'timezone = "Mars/Base"\n',
            "config.toml: owner.timezone: 'Mars/Base' is not a known",
        ),
        (
            OWNER + 'working_hours = "17:00-09:00"\n',
            "config.toml: owner.working_hours: '17:00-09:00' ends before",
        ),
        (
            OWNER + 'working_days = ["mon", "funday"]\n',
            "config.toml: owner.working_days[1]: must be one of mon",
        ),
        (OWNER + "colour = 1\n", "config.toml: owner.colour: unknown key"),
        (
            OWNER + '[sync]\ncontact_policy = "some"\n',
            "config.toml: sync.contact_policy: must be one of written, all, none",
        ),
        (OWNER + "[sync]\nmax_group_size = 0\n", "config.toml: sync.max_group_size: "),
        (
            OWNER + '[tiers]\nkey = { cadence = "often" }\n',
            "config.toml: tiers.key.cadence: 'often' is not a duration",
        ),
        (OWNER + '[store]\nurl = "mysql://x"\n', "config.toml: store.url: must be a sqlite:///"),
        (OWNER + "[sync\n", "config.toml: not valid TOML"),
    ],
)
def test_errors_name_file_key_path_and_reason(tmp_path: Path, text: str, expected: str) -> None:
    message = _error(tmp_path, text)
    assert expected in message, message


def test_not_utf8_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_bytes(b"\xff\xfe[owner]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(tmp_path / "config.toml")
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "other.toml")


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "c.toml"
    path.write_text(
        OWNER + '[[accounts]]\nname="a"\nkind="maildir"\npath="mail"\n'
        'calendar = { kind = "ics", path = "../cal" }\n',
        encoding="utf-8",
    )
    acc = load_config(path).settings.accounts[0]
    assert acc.path == tmp_path / "sub" / "mail"
    assert acc.calendar is not None and acc.calendar.path == tmp_path / "cal"


def test_state_dir_and_store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text(OWNER + '[store]\nstate_dir = "state"\n', encoding="utf-8")
    monkeypatch.delenv("SYNCD_STATE_DIR", raising=False)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    cfg = load_config(path)
    assert cfg.store_url == f"sqlite:///{tmp_path / 'state' / 'syncd.db'}"
    monkeypatch.setenv("SYNCD_STATE_DIR", str(tmp_path / "elsewhere"))
    assert cfg.state_dir == tmp_path / "elsewhere"


def test_durations() -> None:
    assert parse_duration("14d").days == 14
    assert parse_duration("2 weeks").days == 14
    assert parse_duration("12h").total_seconds() == 12 * 3600
    assert parse_duration("30m").total_seconds() == 1800
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_example_config_loads_and_owner_only_is_enough(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "config.example.toml")
    assert cfg.settings.accounts[0].path == ROOT / "examples" / "mail"
    (tmp_path / "o.toml").write_text(OWNER + '[store]\nurl = "sqlite:///x.db"\n', encoding="utf-8")
    assert load_config(tmp_path / "o.toml").settings.accounts == []


def _keys(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_example_config_documents_every_key() -> None:
    """Every key of the schema appears in config.example.toml, set or commented."""
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    mentioned = set(re.findall(r"^\s*#?\s*([a-z_]+)\s*=", text, re.M))
    mentioned |= set(re.findall(r"\b([a-z_]+) = ", text))
    mentioned |= set(re.findall(r"^\[+([a-z_]+)\]+", text, re.M))
    models = (
        Settings,
        OwnerSettings,
        StoreSettings,
        SyncSettings,
        PrivacySettings,
        MaildirAccount,
        IcsCalendar,
        RuleSettings,
        LimitsSettings,
        DaemonSettings,
        SecretsSettings,
        TeamSettings,
        ImapAccount,
        CalDavCalendar,
        GmailAccount,
        GoogleEndpoints,
        GoogleCalendar,
        OutlookAccount,
        MicrosoftEndpoints,
        OutlookCalendar,
        ClassifySettings,
    )
    missing = {k for m in models for k in _keys(m)} - mentioned
    assert not missing, f"config.example.toml does not mention: {sorted(missing)}"
    # And every key it sets is one the schema knows (the file loads, so this holds).
    tomllib.loads(text)
